"""Each event type reaches an endpoint that chose it, through the path that really causes it."""

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from offers.services.redemption import offer_redeem
from offers.tests.factories import CouponFactory
from referrals.models import Milestone, MilestoneReward
from referrals.signals import milestone_reached
from subscribers.models import Subscription
from subscribers.services import feedback, preferences
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory, TagFactory
from surveys.models import Question, Response
from surveys.services import article_feedback_record, response_submit
from surveys.tests.factories import QuestionFactory, SurveyFactory
from webhooks.models import Endpoint, Message

pytestmark = pytest.mark.django_db


def subscribe_endpoint(*events):
    return Endpoint.objects.create(url="https://crm.example/hook", events=list(events))


def only_message(event_type):
    [message] = Message.objects.filter(event_type=event_type)
    assert message.deliveries.count() == 1
    return message.payload["data"]


def test_unsubscribing_from_a_list_is_announced_per_list():
    subscribe_endpoint("subscriber.unsubscribed")
    subscription = SubscriptionFactory()
    SubscriptionFactory(subscriber=subscription.subscriber)

    preferences.subscriber_unsubscribe(
        subscriber=subscription.subscriber, mailing_list=subscription.mailing_list, source="preferences"
    )

    data = only_message("subscriber.unsubscribed")
    assert data["list"]["slug"] == subscription.mailing_list.slug
    assert data["subscriber"]["email"] == subscription.subscriber.email


@pytest.mark.parametrize("event_type", ["bounced", "complained"])
def test_hard_bounce_and_complaint_from_the_esp_are_announced(event_type):
    subscribe_endpoint(f"subscriber.{event_type}")
    subscriber = SubscriberFactory()

    feedback.esp_event_record(
        event_id=f"ev-{event_type}", esp_name="postmark", event_type=event_type, recipient=subscriber.email
    )

    assert only_message(f"subscriber.{event_type}")["subscriber"]["id"] == str(subscriber.public_id)


def test_soft_bounce_is_not_announced():
    subscribe_endpoint("subscriber.bounced")
    subscriber = SubscriberFactory()
    feedback.esp_event_record(
        event_id="ev-soft",
        esp_name="postmark",
        event_type="bounced",
        recipient=subscriber.email,
        bounce_type=next(iter(feedback.SOFT_BOUNCE_TYPES)),
    )
    assert not Message.objects.exists()


def test_a_finished_campaign_is_announced_once():
    subscribe_endpoint("campaign.sent")
    campaign = CampaignFactory(status=Campaign.Status.SENDING, started_at=timezone.now())

    assert sending.campaign_finish_if_done(campaign_id=campaign.pk)
    assert not sending.campaign_finish_if_done(campaign_id=campaign.pk)

    assert only_message("campaign.sent")["campaign"]["id"] == campaign.pk


# The next three events are stored in the transaction that stores what they announce: with the
# after-commit callbacks held back (as if the process died right after the commit), they are there.


def test_survey_answers_are_announced_in_their_own_transaction(django_capture_on_commit_callbacks):
    subscribe_endpoint("survey.answered")
    subscriber = SubscriberFactory()
    survey = SurveyFactory()
    question = QuestionFactory(survey=survey, kind=Question.Kind.FREE_TEXT, text="Was fehlt?")

    with django_capture_on_commit_callbacks(execute=False):
        response_submit(
            survey=survey, answers={question.pk: "Rezepte"}, subscriber=subscriber, source=Response.Source.MAIL
        )

    data = only_message("survey.answered")
    assert data["survey"]["id"] == survey.pk
    assert data["answers"][0]["text"] == "Rezepte"


def test_article_feedback_is_announced_in_its_own_transaction(django_capture_on_commit_callbacks):
    subscribe_endpoint("article.feedback")
    article = ArticleFactory()
    with django_capture_on_commit_callbacks(execute=False):
        article_feedback_record(article=article, useful=True, subscriber=SubscriberFactory())
    data = only_message("article.feedback")
    assert data["useful"] is True and data["article"]["headline"] == article.headline


def test_a_redemption_is_announced_in_its_own_transaction(django_capture_on_commit_callbacks):
    subscribe_endpoint("offer.redeemed")
    coupon = CouponFactory()
    with django_capture_on_commit_callbacks(execute=False):
        offer_redeem(code=coupon.code, source="api", order_ref="A-1")
    data = only_message("offer.redeemed")
    assert (data["code"], data["order_ref"]) == (coupon.code, "A-1")


def test_a_referral_milestone_is_announced():
    subscribe_endpoint("referral.credited")
    referrer = SubscriberFactory()
    milestone = Milestone.objects.create(referrals=3, reward="tag", tag=TagFactory())
    reward = MilestoneReward.objects.create(referrer=referrer, milestone=milestone)

    milestone_reached.send(sender=MilestoneReward, referrer=referrer, milestone=milestone, reward=reward)

    assert only_message("referral.credited")["milestone"]["referrals"] == 3


def test_an_unsubscribed_subscription_stays_quiet_when_nothing_changed():
    subscribe_endpoint("subscriber.unsubscribed")
    subscription = SubscriptionFactory(status=Subscription.Status.UNSUBSCRIBED)
    preferences.subscriber_unsubscribe(subscriber=subscription.subscriber, source="preferences")
    assert not Message.objects.exists()
