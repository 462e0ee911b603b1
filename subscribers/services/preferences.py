"""What a subscriber changes after signing up: lists, profile, tracking consent, unsubscribing."""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from subscribers import selectors, signals
from subscribers.models import ConsentRecord, MailingList, Subscriber, Subscription
from subscribers.services import optin
from subscribers.services.consent import consent_record_add

LIVE_STATUSES = (Subscription.Status.ACTIVE, Subscription.Status.PENDING)


def subscriptions_end(*, subscriber: Subscriber, mailing_list: MailingList | None = None) -> list[Subscription]:
    """Mark live subscriptions (one list, or all) unsubscribed; the caller records why."""
    subscriptions = subscriber.subscriptions.filter(status__in=LIVE_STATUSES)
    if mailing_list is not None:
        subscriptions = subscriptions.filter(mailing_list=mailing_list)
    ended = list(subscriptions.select_related("mailing_list"))
    now = timezone.now()
    for subscription in ended:
        subscription.status = Subscription.Status.UNSUBSCRIBED
        subscription.unsubscribed_at = now
        subscription.confirmation_nonce = ""
        subscription.save(update_fields=["status", "unsubscribed_at", "confirmation_nonce"])
    if ended:
        signals.subscriptions_ended.send(sender=Subscription, subscriber=subscriber, subscriptions=ended)
    return ended


@transaction.atomic
def subscriber_unsubscribe(
    *,
    subscriber: Subscriber,
    source: str,
    mailing_list: MailingList | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
    actor=None,
) -> bool:
    """Unsubscribe from one list, or from all when ``mailing_list`` is None. Returns whether anything changed."""
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    left = subscriptions_end(subscriber=subscriber, mailing_list=mailing_list)
    for subscription in left:
        consent_record_add(
            subscriber=subscriber,
            action=ConsentRecord.Action.UNSUBSCRIBE,
            mailing_list=subscription.mailing_list,
            ip_address=ip_address,
            user_agent=user_agent,
            actor=actor,
            details={"source": source},
        )
    still_subscribed = subscriber.subscriptions.filter(status=Subscription.Status.ACTIVE).exists()
    if not still_subscribed and subscriber.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PENDING):
        subscriber.status = Subscriber.Status.UNSUBSCRIBED
        subscriber.save(update_fields=["status", "updated_at"])
        return True
    return bool(left)


# Called with the subscriber when they withdraw tracking consent; the tracking app registers
# the function that unlinks their stored events (see tracking/apps.py).
TRACKING_WITHDRAWN_HOOKS: list[Callable[[Subscriber], None]] = []


@transaction.atomic
def subscriber_preferences_update(
    *,
    subscriber: Subscriber,
    first_name: str,
    last_name: str,
    language: str,
    tracking_consent: bool,
    wanted_lists: list[MailingList],
    fields: dict | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
) -> dict:
    """Apply the preference centre's form. Joining a list needs double opt-in; leaving one is immediate.

    ``fields``: the custom fields the subscriber may edit, {key: cleaned value, None to remove it}.
    """
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    changes: dict = {}
    update_fields = []
    for field, value in (
        ("first_name", first_name),
        ("last_name", last_name),
        ("language", language),
        ("tracking_consent", tracking_consent),
    ):
        if getattr(subscriber, field) != value:
            changes[field] = {"from": getattr(subscriber, field), "to": value}
            setattr(subscriber, field, value)
            update_fields.append(field)
    values = dict(subscriber.fields)
    for key, value in (fields or {}).items():
        if values.get(key) != value:
            changes[f"fields.{key}"] = {"from": values.get(key), "to": value}
            if value is None:
                del values[key]
            else:
                values[key] = value
    if values != subscriber.fields:
        subscriber.fields = values
        update_fields.append("fields")
    if update_fields:
        subscriber.save(update_fields=[*update_fields, "updated_at"])
    if changes.get("tracking_consent", {}).get("to") is False:
        for hook in TRACKING_WITHDRAWN_HOOKS:
            hook(subscriber)

    live = {
        subscription.mailing_list_id: subscription
        for subscription in subscriber.subscriptions.filter(status__in=LIVE_STATUSES)
    }
    wanted_ids = {mailing_list.pk for mailing_list in wanted_lists}
    joined = [mailing_list for mailing_list in wanted_lists if mailing_list.pk not in live]
    left = [
        subscription.mailing_list for subscription in live.values() if subscription.mailing_list_id not in wanted_ids
    ]
    if changes:
        consent_record_add(
            subscriber=subscriber,
            action=ConsentRecord.Action.PREFERENCES,
            ip_address=ip_address,
            user_agent=user_agent,
            details={"changed": changes},
        )
    for mailing_list in left:
        subscriber_unsubscribe(
            subscriber=subscriber,
            mailing_list=mailing_list,
            source="preference centre",
            ip_address=ip_address,
            user_agent=user_agent,
        )
    for mailing_list in joined:
        optin.subscriber_subscribe(
            email=subscriber.email,
            mailing_list=mailing_list,
            consent_text=selectors.consent_text_current(language=subscriber.language),
            ip_address=ip_address,
            user_agent=user_agent,
            source_url="preference centre",
        )
    return {"changed": changes, "joined": joined, "left": left}
