"""Events of the apps below, turned into webhook messages. Connected on import (apps.ready)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from campaigns.signals import campaign_sent
from offers.signals import redemption_stored
from referrals.signals import milestone_reached
from subscribers.signals import esp_feedback_applied, subscription_confirmed, subscriptions_ended
from surveys.models import Answer
from surveys.signals import answers_stored, article_feedback_stored
from webhooks import services
from webhooks.events import EventType, iso, list_data, subscriber_data
from webhooks.models import Endpoint


@receiver(subscription_confirmed, dispatch_uid="webhooks.subscription_confirmed")
def subscription_confirmed_publish(sender, subscription, **kwargs):
    subscriber = subscription.subscriber
    services.event_publish(
        event_type=EventType.SUBSCRIBER_CONFIRMED,
        data={
            "subscriber": subscriber_data(subscriber),
            "list": list_data(subscription.mailing_list),
            "confirmed_at": iso(subscription.confirmed_at),
        },
        subscriber_id=subscriber.pk,
    )


@receiver(subscriptions_ended, dispatch_uid="webhooks.subscriptions_ended")
def subscriptions_ended_publish(sender, subscriber, subscriptions, **kwargs):
    services.events_publish(
        events=[
            services.Event(
                event_type=EventType.SUBSCRIBER_UNSUBSCRIBED,
                data={
                    "subscriber": subscriber_data(subscriber),
                    "list": list_data(subscription.mailing_list),
                    "unsubscribed_at": iso(subscription.unsubscribed_at),
                },
                subscriber_id=subscriber.pk,
            )
            for subscription in subscriptions
        ]
    )


@receiver([post_save, post_delete], sender=Endpoint, dispatch_uid="webhooks.endpoint_changed")
def endpoint_changed(sender, **kwargs):
    """Publishing reads the endpoints once per transaction; one saved or deleted here counts at once."""
    services.endpoints_forget()


@receiver(esp_feedback_applied, dispatch_uid="webhooks.esp_feedback_applied")
def esp_feedback_publish(sender, subscriber, event_type, **kwargs):
    event = EventType.SUBSCRIBER_BOUNCED if event_type == "bounced" else EventType.SUBSCRIBER_COMPLAINED
    services.event_publish(
        event_type=event, data={"subscriber": subscriber_data(subscriber)}, subscriber_id=subscriber.pk
    )


def subscriber_erased(subscriber) -> None:
    """gdpr.ERASE_HOOKS: past messages lose the person's data; endpoints hear of the erasure by
    public id only, so they can erase their copy."""
    public_id = str(subscriber.public_id)
    services.subscriber_messages_erase(subscriber_id=subscriber.pk, public_id=public_id)
    services.event_publish(event_type=EventType.SUBSCRIBER_ERASED, data={"subscriber": {"id": public_id}})


@receiver(answers_stored, dispatch_uid="webhooks.answers_stored")
def answers_recorded_publish(sender, subscriber_id, answer_ids, **kwargs):
    answers = list(
        Answer.objects.filter(pk__in=answer_ids)
        .select_related("question__survey", "response__subscriber")
        .prefetch_related("choices")
        .order_by("pk")
    )
    if not answers:
        return
    survey = answers[0].question.survey
    subscriber = answers[0].response.subscriber
    services.event_publish(
        event_type=EventType.SURVEY_ANSWERED,
        data={
            "subscriber": subscriber_data(subscriber) if subscriber else None,
            "survey": {"id": survey.pk, "title": survey.title},
            "answers": [
                {
                    "question": {"id": answer.question_id, "text": answer.question.text, "kind": answer.question.kind},
                    "value": answer.value,
                    "choices": [choice.text for choice in answer.choices.all()],
                    "text": answer.text,
                }
                for answer in answers
            ],
        },
        subscriber_id=subscriber_id,
    )


@receiver(article_feedback_stored, dispatch_uid="webhooks.article_feedback_stored")
def article_feedback_publish(sender, feedback, **kwargs):
    article = feedback.article
    subscriber = feedback.subscriber
    services.event_publish(
        event_type=EventType.ARTICLE_FEEDBACK,
        data={
            "subscriber": subscriber_data(subscriber) if subscriber else None,
            "article": {"id": str(article.public_id), "headline": article.headline, "campaign": article.campaign_id},
            "useful": feedback.useful,
            "at": iso(feedback.updated_at),
        },
        subscriber_id=feedback.subscriber_id,
    )


@receiver(redemption_stored, dispatch_uid="webhooks.redemption_stored")
def redemption_publish(sender, redemption, **kwargs):
    subscriber = redemption.subscriber
    services.event_publish(
        event_type=EventType.OFFER_REDEEMED,
        data={
            "offer": {"id": redemption.offer_id, "name": redemption.offer.name},
            "code": redemption.coupon.code,
            "order_ref": redemption.order_ref,
            "order_value": str(redemption.order_value) if redemption.order_value is not None else None,
            "currency": redemption.currency,
            "source": redemption.source,
            "redeemed_at": iso(redemption.redeemed_at),
            "subscriber": subscriber_data(subscriber) if subscriber else None,
        },
        subscriber_id=redemption.subscriber_id,
    )


@receiver(milestone_reached, dispatch_uid="webhooks.milestone_reached")
def milestone_publish(sender, referrer, milestone, reward, **kwargs):
    services.event_publish(
        event_type=EventType.REFERRAL_CREDITED,
        data={
            "subscriber": subscriber_data(referrer),
            "milestone": {"id": milestone.pk, "referrals": milestone.referrals, "reward": milestone.reward},
            "reward_status": reward.status,
        },
        subscriber_id=referrer.pk,
    )


@receiver(campaign_sent, dispatch_uid="webhooks.campaign_sent")
def campaign_sent_publish(sender, campaign, **kwargs):
    services.event_publish(
        event_type=EventType.CAMPAIGN_SENT,
        data={
            "campaign": {
                "id": campaign.pk,
                "name": campaign.name,
                "subject": campaign.subject,
                "started_at": iso(campaign.started_at),
                "finished_at": iso(campaign.finished_at),
            }
        },
    )
