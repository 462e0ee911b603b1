"""GDPR self-service: everything Kanal knows about a person, and erasing it."""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from subscribers.models import ConfirmationMail, ConsentRecord, Subscriber, SuppressedAddress, email_hash
from subscribers.services.consent import consent_record_add

# Other apps add what they store about a subscriber: a callable(subscriber) -> (key, JSON-able data).
EXPORT_SECTIONS: list[Callable[[Subscriber], tuple[str, object]]] = []
# ... and how to anonymise it before the subscriber row is deleted: a callable(subscriber) -> None.
ERASE_HOOKS: list[Callable[[Subscriber], None]] = []


def _iso(value):
    return value.isoformat() if value else None


def subscriber_export(*, subscriber: Subscriber) -> dict:
    data = {
        "exported_at": _iso(timezone.now()),
        "profile": {
            "email": subscriber.email,
            "first_name": subscriber.first_name,
            "last_name": subscriber.last_name,
            "language": subscriber.language,
            "time_zone": subscriber.time_zone,
            "status": subscriber.status,
            "tracking_consent": subscriber.tracking_consent,
            "created_at": _iso(subscriber.created_at),
            "updated_at": _iso(subscriber.updated_at),
        },
        # Typed values by field key, as stored (subscribers.field_values).
        "custom_fields": dict(subscriber.fields),
        "tags": sorted(subscriber.tags.values_list("name", flat=True)),
        "subscriptions": [
            {
                "list": subscription.mailing_list.name,
                "status": subscription.status,
                "created_at": _iso(subscription.created_at),
                "confirmed_at": _iso(subscription.confirmed_at),
                "unsubscribed_at": _iso(subscription.unsubscribed_at),
            }
            for subscription in subscriber.subscriptions.select_related("mailing_list").order_by("pk")
        ],
        "consent_records": [
            {
                "occurred_at": _iso(record.occurred_at),
                "action": record.action,
                "list": record.mailing_list.name if record.mailing_list else None,
                "ip_address": record.ip_address,
                "user_agent": record.user_agent,
                "source_url": record.source_url,
                "consent_text_version": record.consent_text.version if record.consent_text else None,
                "consent_text_shown": record.consent_text_shown,
                "basis": record.basis,
                "details": record.details,
            }
            for record in subscriber.consent_records.select_related("mailing_list", "consent_text").order_by("pk")
        ],
        "confirmation_mails": [
            {"queued_at": _iso(mail.queued_at), "sent_at": _iso(mail.sent_at)}
            for mail in ConfirmationMail.objects.filter(subscription__subscriber=subscriber).order_by("pk")
        ],
    }
    for section in EXPORT_SECTIONS:
        key, value = section(subscriber)
        data[key] = value
    return data


@transaction.atomic
def subscriber_erase(*, subscriber: Subscriber, actor=None) -> None:
    """Delete the person's data; keep only a hash so a later import cannot silently re-add the address.

    The erase record itself holds no personal data: no address, no IP.
    """
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    address_hash = email_hash(subscriber.email)
    # A bounce or complaint suppression says more than "erased": it stays as it is.
    SuppressedAddress.objects.get_or_create(
        email_hash=address_hash, defaults={"reason": SuppressedAddress.Reason.ERASED}
    )
    for hook in ERASE_HOOKS:
        hook(subscriber)
    consent_record_add(
        subscriber=None,
        action=ConsentRecord.Action.ERASE,
        actor=actor,
        details={"email_hash": address_hash},
    )
    subscriber.delete()
