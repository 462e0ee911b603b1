from datetime import timedelta

import factory
from django.utils import timezone

from campaigns.models import Delivery
from campaigns.tests.factories import CampaignFactory
from subscribers.tests.factories import SubscriberFactory
from surveys.models import Choice, Question, Survey


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Survey

    title = factory.Sequence(lambda n: f"Survey {n}")
    intro = "Tell us what you think."
    thank_you_text = "Vielen Dank für Ihre Antworten."
    slug = factory.Sequence(lambda n: f"survey-{n}")
    is_public = True


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    survey = factory.SubFactory(SurveyFactory)
    position = factory.Sequence(lambda n: n)
    kind = Question.Kind.NPS
    text = factory.Sequence(lambda n: f"Question {n}?")
    required = False


class ChoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Choice

    question = factory.SubFactory(QuestionFactory, kind=Question.Kind.SINGLE_CHOICE)
    position = factory.Sequence(lambda n: n)
    text = factory.Sequence(lambda n: f"Option {n}")


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A campaign mail that went out an hour ago (so no click on it is "seconds after sending")."""

    class Meta:
        model = Delivery

    campaign = factory.SubFactory(CampaignFactory)
    subscriber = factory.SubFactory(SubscriberFactory)
    status = Delivery.Status.SENT
    sent_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
