from types import SimpleNamespace

import pytest

from campaigns.tests.factories import ArticleFactory, CampaignFactory
from surveys.models import Question
from surveys.tests.factories import ChoiceFactory, DeliveryFactory, QuestionFactory, SurveyFactory


@pytest.fixture
def survey(db):
    """A public survey with one question of every kind; the NPS question comes first and is required."""
    survey = SurveyFactory(slug="zufrieden", title="How was this issue?")
    nps = QuestionFactory(
        survey=survey, position=1, kind=Question.Kind.NPS, text="Would you recommend us?", required=True
    )
    rating = QuestionFactory(survey=survey, position=2, kind=Question.Kind.RATING, text="How do you rate it?")
    single = QuestionFactory(survey=survey, position=3, kind=Question.Kind.SINGLE_CHOICE, text="Favourite topic?")
    multiple = QuestionFactory(survey=survey, position=4, kind=Question.Kind.MULTIPLE_CHOICE, text="What do you read?")
    free = QuestionFactory(survey=survey, position=5, kind=Question.Kind.FREE_TEXT, text="Anything else?")
    return SimpleNamespace(
        survey=survey,
        nps=nps,
        rating=rating,
        single=single,
        multiple=multiple,
        free=free,
        politics=ChoiceFactory(question=single, text="Politics"),
        culture=ChoiceFactory(question=single, text="Culture"),
        news=ChoiceFactory(question=multiple, text="News"),
        essays=ChoiceFactory(question=multiple, text="Essays"),
    )


BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@pytest.fixture
def mail(survey):
    """The survey attached to a campaign with two articles and feedback under them, and one
    subscriber's delivery of it, sent an hour ago."""
    campaign = CampaignFactory(article_feedback_enabled=True, status="sent")
    first = ArticleFactory(campaign=campaign, position=0, headline="Erster Artikel")
    second = ArticleFactory(campaign=campaign, position=1, headline="Zweiter Artikel")
    survey.survey.campaign = campaign
    survey.survey.save(update_fields=["campaign"])
    delivery = DeliveryFactory(campaign=campaign)
    return SimpleNamespace(
        campaign=campaign, articles=[first, second], delivery=delivery, subscriber=delivery.subscriber, **vars(survey)
    )
