"""Writes of transactional mail: accept one message, send it once, sweep, forget on erasure.

Sending reuses campaigns' transports: ``send_and_record`` sorts the backend's errors and moves
the row on through ``MessageLedger`` (the same contract as campaigns' ``DeliveryLedger``, for
one ``TransactionalMessage`` row), ``final_dot_hook`` records "sent" at SMTP's final ".", and
``throttle.wait_for_slot`` shares the one sending rate with newsletters.

Tracking goes through the tracking app (its tokens, endpoints, machine labels and batcher):
``message_tracked`` decides per message, the sent links are stored as ``TransactionalLink`` rows,
and ``transactional.tracking`` answers the batcher (``tracking.extensions``).
"""

import logging
import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from anymail.backends.base import AnymailBaseBackend
from django.conf import settings
from django.core.mail import get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns import throttle
from campaigns.send_counters import send_counts_add
from campaigns.services import transports
from newsletter_site import mail
from subscribers.models import Subscriber, SuppressedAddress
from tracking.services import consent as tracking_consent
from tracking.services import links as tracking_links
from transactional import selectors
from transactional.models import (
    TransactionalLink,
    TransactionalMessage,
    TransactionalTemplate,
    TransactionalTemplateFigures,
)
from transactional.rendering import template_render

logger = logging.getLogger(__name__)

Status = TransactionalMessage.Status
# Even a legal or service mail never goes to these: the mailbox does not exist, or its owner
# reported Kanal's mail as spam (mailbox providers judge the sender by complaints).
NEVER = (SuppressedAddress.Reason.BOUNCED, SuppressedAddress.Reason.COMPLAINED)
NEVER_STATUSES = (Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED)
RATE_LIMITER_RETRY_SECONDS = 30.0
# A queued row whose task this long ago did not claim it gets a new task from the sweep.
LOST_TASK_SECONDS = 60


class TransactionalRefused(Exception):
    """The address does not take this mail now; ``reason`` is for staff and logs, not for the API."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def address_refusal(*, template: TransactionalTemplate, email: str, subscriber: Subscriber | None) -> str:
    """Why ``email`` may not get ``template`` now, or "": checked when the mail is accepted and again
    just before it is sent. Suppressed addresses and subscribers who unsubscribed get only legal or
    service mail; bounced and complained addresses get nothing."""
    reason = selectors.suppression_reason(email=email)
    if reason and (reason in NEVER or not template.is_service_mail):
        return f"suppressed: {reason}"
    status = subscriber.status if subscriber is not None else None
    if status in NEVER_STATUSES or (status in Subscriber.BLOCKED_STATUSES and not template.is_service_mail):
        return f"consent: {status}"
    return ""


def transactional_message_create(
    *,
    template: TransactionalTemplate,
    email: str,
    subscriber: Subscriber | None = None,
    data: dict,
    api_key=None,
    idempotency_key: str = "",
) -> TransactionalMessage:
    """Accept one mail and queue its sending once the caller's transaction commits.

    ``email`` of a subscriber links the message to them (their merge fields, their erasure).
    Raises TransactionalRefused when the address does not take this template. With an
    ``idempotency_key`` already used by ``api_key``, returns that key's message instead.
    """
    if idempotency_key:
        earlier = TransactionalMessage.objects.filter(api_key=api_key, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return earlier
    if subscriber is None:
        subscriber = selectors.subscriber_for_address(email=email)
    refusal = address_refusal(template=template, email=email, subscriber=subscriber)
    if refusal:
        raise TransactionalRefused(refusal)
    message = TransactionalMessage(
        template=template,
        email=email,
        subscriber=subscriber,
        data=data,
        api_key=api_key,
        idempotency_key=idempotency_key,
    )
    message.full_clean(validate_constraints=False)  # the unique key is the database's to decide, race included
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        if not idempotency_key:
            raise
        return TransactionalMessage.objects.get(api_key=api_key, idempotency_key=idempotency_key)
    _queue_send(message_id=message.pk)
    return message


def _queue_send(*, message_id: int, countdown: float | None = None) -> None:
    from transactional.tasks import send_transactional_message

    if countdown is None:
        send_transactional_message.delay_on_commit(message_id)
    else:
        send_transactional_message.apply_async((message_id,), countdown=countdown)


@dataclass
class MessageLedger:
    """``DeliveryLedger``'s contract (campaigns.services.transports) for one message row; every write
    is conditional on the claim token."""

    token: str
    sent: int = 0
    failed: int = 0
    retry_in: float | None = None
    stopped: bool = False

    def _claimed(self, delivery):
        return TransactionalMessage.objects.filter(pk=delivery.pk, claim=self.token, status=Status.SENDING)

    def commit_sent(self, delivery, *, esp_message_id: str = "") -> None:
        updated = self._claimed(delivery).update(
            status=Status.SENT,
            sent_at=timezone.now(),
            esp_message_id=esp_message_id,
            error="",
            claim="",
            attempts=F("attempts") + 1,
            data={},
        )
        if not updated:
            raise transports.ClaimLost(delivery.pk)

    def sent_at_final_dot(self, delivery, *, esp_message_id: str):
        # One message: committed right before the "." (campaigns' SQLite path), on every database.
        self.commit_sent(delivery, esp_message_id=esp_message_id)
        return None

    def end_manual_commit(self) -> None:
        """Nothing to end: ``sent_at_final_dot`` commits at once."""

    def mark_sent(self, delivery, *, esp_message_id: str = "") -> None:
        self.commit_sent(delivery, esp_message_id=esp_message_id)
        self.sent += 1

    def mark_failed(self, delivery, error: str) -> None:
        TransactionalMessage.objects.filter(pk=delivery.pk, claim=self.token).update(
            status=Status.FAILED, error=error[:2000], claim="", attempts=F("attempts") + 1, data={}
        )
        self.failed += 1

    def retry_later(self, delivery, error: str) -> None:
        attempts = delivery.attempts + 1
        self.retry_in = min(300.0, 2.0**attempts)
        if attempts >= settings.KANAL_SEND_MAX_ATTEMPTS:
            self.mark_failed(delivery, error)
            self.retry_in = None
            return
        TransactionalMessage.objects.filter(pk=delivery.pk, claim=self.token).update(
            status=Status.QUEUED,
            attempts=attempts,
            error=error[:2000],
            claim="",
            claimed_at=None,
            retry_at=timezone.now() + timedelta(seconds=self.retry_in),
        )

    def after_commit_failure(self, delivery, error: Exception) -> None:
        """The row already says sent; only an explicit refusal after the final "." undoes that."""
        refusal = error.__cause__ if isinstance(error, transports.TransientSendError) else error
        if isinstance(refusal, smtplib.SMTPDataError):
            transient = 400 <= refusal.smtp_code < 500
            TransactionalMessage.objects.filter(pk=delivery.pk).update(
                status=Status.QUEUED if transient else Status.FAILED, sent_at=None, error=repr(refusal)[:2000]
            )
            if transient:
                self.retry_in = 2.0
            else:
                self.failed += 1
            return
        # The connection broke after the ".": the server may have the message; sending again could
        # duplicate it. The row stays sent, with a note.
        TransactionalMessage.objects.filter(pk=delivery.pk).update(error=f"outcome unknown: {error!r}"[:2000])
        self.sent += 1


def message_tracked(*, template: TransactionalTemplate, subscriber: Subscriber | None) -> bool:
    """Whether a mail goes out with Kanal's open pixel and click links: the template tracks, and the
    recipient is a subscriber who allows individual tracking now (tracking's one rule). A mail to an
    address that is no subscriber is never tracked."""
    return (
        template.track_opens_clicks
        and subscriber is not None
        and tracking_links.message_tracking(subscriber_tracking_consent=subscriber.tracking_consent)
    )


def _tracker(message_id: int, targets: list[str]):
    """``template_render``'s ``track``: keeps the filled URLs in ``targets`` and puts tracking's in their place."""

    def track(urls: list[str]) -> dict:
        targets.extend(urls)
        return tracking_links.message_tracking_fields(message_id=message_id, link_count=len(urls))

    return track


def _tracked_links_store(*, message_id: int, token: str, urls: list[str]) -> None:
    """The targets of the message's click links, before the mail goes (a resend stores the same
    ones again, harmlessly), and the mark that it went out tracked."""
    TransactionalLink.objects.bulk_create(
        [TransactionalLink(message_id=message_id, position=position, url=url) for position, url in enumerate(urls, 1)],
        ignore_conflicts=True,
    )
    TransactionalMessage.objects.filter(pk=message_id, claim=token).update(tracked=True)


def transactional_message_reads_record(*, opened, clicked) -> None:
    """The tracking batcher's first human opens and clicks ({message id: moment}), inside its counting
    transaction: each message counts once per kind in its template's figures."""
    added: dict[int, dict[str, int]] = {}
    for field, counter, moments in (("opened_at", "unique_opens", opened), ("clicked_at", "unique_clicks", clicked)):
        if not moments:
            continue
        fresh = TransactionalMessage.objects.filter(pk__in=list(moments), **{f"{field}__isnull": True}).values_list(
            "pk", "template_id"
        )
        for pk, template_id in fresh:
            if TransactionalMessage.objects.filter(pk=pk, **{f"{field}__isnull": True}).update(**{field: moments[pk]}):
                counts = added.setdefault(template_id, {"unique_opens": 0, "unique_clicks": 0})
                counts[counter] += 1
    if not added:
        return
    TransactionalTemplateFigures.objects.bulk_create(
        [TransactionalTemplateFigures(template_id=template_id) for template_id in added], ignore_conflicts=True
    )
    for template_id, counts in sorted(added.items()):
        TransactionalTemplateFigures.objects.filter(template_id=template_id).update(
            unique_opens=F("unique_opens") + counts["unique_opens"],
            unique_clicks=F("unique_clicks") + counts["unique_clicks"],
        )


def _subscriber_message_ids(subscriber: Subscriber) -> list[int]:
    return list(
        TransactionalMessage.objects.filter(Q(subscriber=subscriber) | Q(email=subscriber.email)).values_list(
            "pk", flat=True
        )
    )


def transactional_messages_forget_reads(subscriber: Subscriber) -> None:
    """Tracking consent withdrawn: no stored open or click of this person's mails is left; the
    template figures stay. Their links still lead on, and record nothing from now on."""
    message_ids = _subscriber_message_ids(subscriber)
    TransactionalMessage.objects.filter(pk__in=message_ids).update(opened_at=None, clicked_at=None)
    tracking_consent.message_events_forget(message_ids=message_ids)


def message_id_header(message: TransactionalMessage) -> str:
    """The same Message-ID every time the row is (re)sent; "t" keeps it apart from campaign ids."""
    domain = message.template.from_email.rpartition("@")[2] or "localhost"
    return f"<kanal.t{message.pk}@{domain}>"


def _outgoing_mail(message: TransactionalMessage, rendered):
    """Through the one outgoing-mail entry point; ``track=False``: no ESP pixel or link rewriting
    (Kanal's own, when the message is tracked, is in the rendered mail already)."""
    template, subscriber = message.template, message.subscriber
    return mail.message(
        sender=mail.Sender.of(template.from_header, template.reply_to),
        to=message.email,
        to_name=mail.person_name(subscriber.first_name, subscriber.last_name) if subscriber else "",
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        kind="transactional",
        metadata={"transactional_message_id": str(message.public_id), "template": template.slug},
        tags=["transactional", template.slug],
        track=False,
    )


@dataclass(frozen=True)
class SendOutcome:
    status: str = ""
    retry_in: float | None = None


def transactional_message_send(*, message_id: int) -> SendOutcome:
    """Claim the row (queued → sending, one UPDATE) and send it; a row not queued is left alone."""
    token = secrets.token_hex(16)
    claimed = TransactionalMessage.objects.filter(pk=message_id, status=Status.QUEUED).update(
        status=Status.SENDING, claim=token, claimed_at=timezone.now(), retry_at=None
    )
    if not claimed:
        return SendOutcome()
    message = TransactionalMessage.objects.select_related("template", "subscriber").get(pk=message_id)
    template = message.template
    refusal = address_refusal(template=template, email=message.email, subscriber=message.subscriber)
    if refusal:
        TransactionalMessage.objects.filter(pk=message_id, claim=token).update(
            status=Status.SUPPRESSED, error=refusal, claim="", data={}
        )
        return SendOutcome(status=Status.SUPPRESSED)
    ledger = MessageLedger(token=token)
    row = transports.ClaimedDelivery(pk=message.pk, attempts=message.attempts, subscriber=None)
    targets: list[str] = []
    track = _tracker(message.pk, targets) if message_tracked(template=template, subscriber=message.subscriber) else None
    try:
        rendered = template_render(
            template, email=message.email, subscriber=message.subscriber, data=message.data, track=track
        )
    except Exception as error:  # a bug of ours or a template saved past its validators: never retried
        logger.exception("Transactional mail %s could not be rendered", message_id)
        ledger.mark_failed(row, f"rendering: {error!r}")
        send_counts_add(kind="transactional", sent=0, failed=1)
        return SendOutcome(status=Status.FAILED)
    if track is not None:
        _tracked_links_store(message_id=message.pk, token=token, urls=targets)
    outgoing = _outgoing_mail(message, rendered)
    try:
        throttle.wait_for_slot()
    except throttle.RateLimiterUnavailable as error:
        TransactionalMessage.objects.filter(pk=message_id, claim=token).update(
            status=Status.QUEUED, claim="", claimed_at=None, error=f"rate limiter: {error}"[:2000]
        )
        return SendOutcome(status=Status.QUEUED, retry_in=RATE_LIMITER_RETRY_SECONDS)
    # Not opened here: send_messages opens (and closes) it, so a refused connection is sorted as transient.
    connection = get_connection()
    if not isinstance(connection, AnymailBaseBackend):
        outgoing.extra_headers["Message-ID"] = message_id_header(message)
    if getattr(connection, "supports_commit_hook", False):
        outgoing.before_final_dot = transports.final_dot_hook(ledger, outgoing, row)
    transports.send_and_record(ledger, connection, outgoing, row)
    send_counts_add(kind="transactional", sent=ledger.sent, failed=ledger.failed)
    status = TransactionalMessage.objects.values_list("status", flat=True).get(pk=message_id)
    return SendOutcome(status=status, retry_in=ledger.retry_in)


def transactional_messages_sweep(*, stale_after: timedelta | None = None, now=None) -> int:
    """Hand back rows whose worker died before the "." (claim older than KANAL_SEND_STALE_SECONDS),
    and queue a task again for every due queued row whose task was lost; returns how many rows
    were handed back."""
    now = now or timezone.now()
    if stale_after is None:
        stale_after = timedelta(seconds=settings.KANAL_SEND_STALE_SECONDS)
    released = TransactionalMessage.objects.filter(status=Status.SENDING, claimed_at__lt=now - stale_after).update(
        status=Status.QUEUED, claim="", claimed_at=None
    )
    if released:
        logger.warning("Re-queued %d transactional mails whose worker stopped", released)
    due = TransactionalMessage.objects.filter(
        Q(retry_at__isnull=True) | Q(retry_at__lte=now),
        status=Status.QUEUED,
        created_at__lt=now - timedelta(seconds=LOST_TASK_SECONDS),
    ).values_list("pk", flat=True)
    for message_id in due[:1000]:
        _queue_send(message_id=message_id, countdown=0)
    return released


def transactional_messages_forget_subscriber(subscriber: Subscriber) -> None:
    """GDPR erase hook: the rows stay for the template's figures, without address, merge data, opens,
    clicks or link targets (which may carry the merge data)."""
    transactional_messages_forget_reads(subscriber)
    TransactionalLink.objects.filter(message_id__in=_subscriber_message_ids(subscriber)).delete()
    TransactionalMessage.objects.filter(Q(subscriber=subscriber) | Q(email=subscriber.email)).update(
        email="", data={}, subscriber=None
    )
    # A message not yet sent would now go nowhere.
    TransactionalMessage.objects.filter(email="", status__in=(Status.QUEUED, Status.SENDING)).update(
        status=Status.SUPPRESSED, error="subscriber erased", claim=""
    )
