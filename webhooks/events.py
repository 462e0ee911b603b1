"""The event types an endpoint can choose, and the JSON each one carries (never a token)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    SUBSCRIBER_CONFIRMED = "subscriber.confirmed", _("A subscriber confirmed a list (double opt-in done)")
    SUBSCRIBER_UNSUBSCRIBED = "subscriber.unsubscribed", _("A subscriber left a list")
    SUBSCRIBER_BOUNCED = "subscriber.bounced", _("An address bounced hard")
    SUBSCRIBER_COMPLAINED = "subscriber.complained", _("A subscriber marked a mail as spam")
    SUBSCRIBER_ERASED = "subscriber.erased", _("A subscriber's data was erased")
    SURVEY_ANSWERED = "survey.answered", _("A subscriber answered a survey")
    ARTICLE_FEEDBACK = "article.feedback", _("A subscriber rated an article")
    OFFER_REDEEMED = "offer.redeemed", _("A coupon was redeemed")
    REFERRAL_CREDITED = "referral.credited", _("A referrer reached a milestone")
    CAMPAIGN_SENT = "campaign.sent", _("A newsletter finished sending")


# Sent only by the admin's "send test event"; no endpoint subscribes to it.
TEST_EVENT = "webhook.test"


def iso(value):
    return value.isoformat() if value else None


def subscriber_data(subscriber) -> dict:
    """Who the event is about: the public id (stable, not guessable) and the profile, no link tokens."""
    return {
        "id": str(subscriber.public_id),
        "email": subscriber.email,
        "first_name": subscriber.first_name,
        "last_name": subscriber.last_name,
        "language": subscriber.language,
        "status": subscriber.status,
    }


def list_data(mailing_list) -> dict:
    return {"id": mailing_list.pk, "slug": mailing_list.slug, "name": mailing_list.name}
