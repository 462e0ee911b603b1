"""Double opt-in: sign-up, the confirmation mail, and confirmation."""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from anymail.message import AnymailMessage
from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from brands.selectors import brand_for_list
from newsletter_site import mail
from subscribers import selectors, signals, tokens
from subscribers.models import (
    ConfirmationMail,
    ConsentRecord,
    ConsentText,
    MailingList,
    Subscriber,
    Subscription,
    SuppressedAddress,
    email_hash,
    normalise_email,
)
from subscribers.services.consent import consent_record_add

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubscribeOutcome:
    """What happened, for logs and tests only: the public page must show the same text in every case."""

    subscription: Subscription
    confirmation_mail: ConfirmationMail | None
    already_active: bool
    subscriber_created: bool = False
    """The address was new: its subscriber row, with no tags and this one subscription, was created here."""


class ConfirmationError(Exception):
    """A confirmation link that cannot confirm anything."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "invalid", "expired", "superseded" or "already_confirmed"


def confirmation_max_age() -> timedelta:
    return timedelta(days=settings.KANAL_CONFIRMATION_MAX_AGE_DAYS)


def confirmation_url(*, subscription: Subscription) -> str:
    token = tokens.make_confirmation_token(subscription_id=subscription.pk, nonce=subscription.confirmation_nonce)
    return settings.SITE_URL + reverse("subscribers:confirm", kwargs={"token": token})


@transaction.atomic
def subscriber_subscribe(
    *,
    email: str,
    mailing_list: MailingList,
    consent_text: ConsentText | None,
    first_name: str = "",
    last_name: str = "",
    language: str | None = None,
    fields: dict | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
    source_url: str = "",
    details: dict | None = None,
) -> SubscribeOutcome:
    """Record a sign-up and queue a confirmation mail, within the per-address daily cap.

    Signing up an address that is already active on the list changes nothing. ``fields`` are
    custom field values already cleaned (``CustomField.clean_value``); None values are left out.
    ``details`` go into the sign-up's consent record (``subscribers.extensions.signup_details``).
    """
    email = normalise_email(email)
    given = {key: value for key, value in (fields or {}).items() if value is not None}
    subscriber, created = Subscriber.objects.select_for_update().get_or_create(
        email=email,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "language": language or mailing_list.language,
            "fields": given,
        },
    )
    if not created and subscriber.status == Subscriber.Status.PENDING:
        # Nobody has confirmed this address yet, so the newest form entry may correct the name.
        subscriber.first_name = first_name or subscriber.first_name
        subscriber.last_name = last_name or subscriber.last_name
        subscriber.language = language or subscriber.language
        subscriber.fields = {**subscriber.fields, **given}
        subscriber.save(update_fields=["first_name", "last_name", "language", "fields", "updated_at"])

    subscription, _ = Subscription.objects.select_for_update().get_or_create(
        subscriber=subscriber,
        mailing_list=mailing_list,
        defaults={"status": Subscription.Status.PENDING, "confirmation_nonce": secrets.token_hex(16)},
    )
    if subscription.status == Subscription.Status.ACTIVE and subscriber.status == Subscriber.Status.ACTIVE:
        return SubscribeOutcome(subscription=subscription, confirmation_mail=None, already_active=True)

    if subscription.status != Subscription.Status.PENDING or not subscription.confirmation_nonce:
        subscription.status = Subscription.Status.PENDING
        subscription.confirmation_nonce = secrets.token_hex(16)
        subscription.save(update_fields=["status", "confirmation_nonce"])

    consent_record = consent_record_add(
        subscriber=subscriber,
        action=ConsentRecord.Action.SIGNUP,
        mailing_list=mailing_list,
        ip_address=ip_address,
        user_agent=user_agent,
        source_url=source_url,
        consent_text=consent_text,
        details=details,
    )
    signals.signup_recorded.send(sender=Subscription, subscription=subscription, consent_record=consent_record)
    confirmation_mail = confirmation_mail_queue(subscription=subscription, new_subscriber=created)
    return SubscribeOutcome(
        subscription=subscription, confirmation_mail=confirmation_mail, already_active=False, subscriber_created=created
    )


def confirmation_mail_queue(*, subscription: Subscription, new_subscriber: bool = False) -> ConfirmationMail | None:
    """Queue a confirmation mail unless the address had its daily share already (subscription bombing).

    An address that bounced, complained or was suppressed by staff gets no mail at all.
    ``new_subscriber``: the subscriber row was created in this transaction, so its status is the one
    in hand and no confirmation mail was queued for it before (two queries fewer).
    """
    subscriber = subscription.subscriber
    known = subscriber if new_subscriber else None
    if not selectors.address_may_receive_mail(email=subscriber.email, subscriber=known):
        logger.info("No confirmation mail for suppressed subscriber %s", subscription.subscriber_id)
        return None
    recent = 0 if new_subscriber else selectors.confirmation_mails_sent_recently(subscriber_id=subscriber.pk)
    if recent >= settings.KANAL_CONFIRMATION_MAILS_PER_ADDRESS_PER_DAY:
        logger.warning("Confirmation mail cap reached for subscriber %s", subscription.subscriber_id)
        return None
    confirmation_mail = ConfirmationMail.objects.create(subscription=subscription)

    from subscribers.tasks import send_confirmation_mail

    send_confirmation_mail.delay_on_commit(confirmation_mail.pk)
    return confirmation_mail


def confirmation_mail_send(*, confirmation_mail_id: int) -> None:
    """Send one queued confirmation mail. Safe to call twice: a sent row is not sent again."""
    with transaction.atomic():
        confirmation_mail = (
            ConfirmationMail.objects.select_for_update()
            .select_related("subscription__subscriber", "subscription__mailing_list")
            .filter(pk=confirmation_mail_id)
            .first()
        )
        if confirmation_mail is None or confirmation_mail.sent_at is not None:
            return
        subscription = confirmation_mail.subscription
        if subscription.status != Subscription.Status.PENDING or not subscription.confirmation_nonce:
            return
        # A bounce or complaint may have arrived between queueing and sending.
        if not selectors.address_may_receive_mail(email=subscription.subscriber.email):
            return
        message = confirmation_message_build(subscription=subscription)
        message.send()
        status = message.anymail_status
        confirmation_mail.sent_at = timezone.now()
        confirmation_mail.esp_message_id = (status.message_id or "") if status else ""
        confirmation_mail.save(update_fields=["sent_at", "esp_message_id"])


def confirmation_message_build(*, subscription: Subscription) -> AnymailMessage:
    subscriber = subscription.subscriber
    context = {
        "subscriber": subscriber,
        "mailing_list": subscription.mailing_list,
        "confirmation_url": confirmation_url(subscription=subscription),
        "max_age_days": settings.KANAL_CONFIRMATION_MAX_AGE_DAYS,
        "company_address": brand_for_list(subscription.mailing_list).company_address,
    }
    with translation.override(subscriber.language):
        subject = render_to_string("subscribers/email/confirmation_subject.txt", context).strip()
        text = render_to_string("subscribers/email/confirmation.txt", context)
        html = render_to_string("subscribers/email/confirmation.html", context)
    return mail.message(
        sender=mail.Sender.of(settings.DEFAULT_FROM_EMAIL),
        # No display name: the address has not confirmed anything yet, and the name is whatever a
        # stranger typed into the form.
        to=subscriber.email,
        subject=subject,
        text=text,
        html=html,
        kind="confirmation",
        metadata={"subscription_id": str(subscription.pk)},
        tags=["double-opt-in"],
        track=False,
    )


@transaction.atomic
def subscription_confirm(*, token: str, ip_address: str | None = None, user_agent: str = "") -> Subscription:
    """Confirm the subscription a confirmation link names. The link works once and expires."""
    subscription = subscription_from_confirmation_token(token=token, for_update=True)
    now = timezone.now()
    subscription.status = Subscription.Status.ACTIVE
    subscription.confirmed_at = now
    subscription.unsubscribed_at = None
    subscription.confirmation_nonce = ""
    subscription.save(update_fields=["status", "confirmed_at", "unsubscribed_at", "confirmation_nonce"])

    subscriber = subscription.subscriber
    # A bounce or complaint that arrived after the link was sent outranks the click on it.
    if subscriber.status not in (Subscriber.Status.ACTIVE, Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED):
        subscriber.status = Subscriber.Status.ACTIVE
        subscriber.save(update_fields=["status", "updated_at"])
    # A confirmed sign-up is fresh consent: it lifts an erasure's suppression, never a bounce,
    # complaint or staff block.
    SuppressedAddress.objects.filter(
        email_hash=email_hash(subscriber.email), reason=SuppressedAddress.Reason.ERASED
    ).delete()
    consent_record_add(
        subscriber=subscriber,
        action=ConsentRecord.Action.CONFIRM,
        mailing_list=subscription.mailing_list,
        ip_address=ip_address,
        user_agent=user_agent,
    )
    signals.subscription_confirmed.send(sender=Subscription, subscription=subscription)
    return subscription


def subscription_from_confirmation_token(*, token: str, for_update: bool = False) -> Subscription:
    """The pending subscription a confirmation token names, or ConfirmationError."""
    try:
        subscription_id, nonce = tokens.read_confirmation_token(token, max_age=confirmation_max_age())
    except tokens.InvalidToken as error:
        raise ConfirmationError("expired" if error.expired else "invalid") from error
    queryset = Subscription.objects.select_related("subscriber", "mailing_list")
    if for_update:
        queryset = queryset.select_for_update()
    subscription = queryset.filter(pk=subscription_id).first()
    if subscription is None:
        raise ConfirmationError("invalid")
    if not subscription.confirmation_nonce and subscription.status == Subscription.Status.ACTIVE:
        raise ConfirmationError("already_confirmed")
    if not subscription.confirmation_nonce or not secrets.compare_digest(subscription.confirmation_nonce, nonce):
        raise ConfirmationError("superseded")
    return subscription
