"""How one claimed batch of deliveries leaves Kanal.

Three ways out, one contract with the delivery rows (``DeliveryLedger``):

- ``send_prebuilt``: the MIME bytes come from the campaign's ``MessageSkeleton``, for Django's
  own backends (SMTP to a relay or MTA, files, console). With ``newsletter_site.smtp_backend``
  the row is marked sent just before the final "." of DATA, the server's commit point.
- ``send_anymail_each``: one ``AnymailMessage`` per recipient through an ESP's API.
- ``send_anymail_batches``: one API call for many recipients (Anymail's ``merge_data`` batch
  send), when KANAL_ESP_MERGE_FIELD_FORMAT tells Kanal how the ESP writes a merge field.
"""

import smtplib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from anymail.message import AnymailMessage
from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns import throttle
from campaigns.mime import MailHeaders, MessageSkeleton, PrebuiltEmail, message_id
from campaigns.models import Campaign, Delivery
from campaigns.rendering import CompiledCampaign, RecipientContext
from subscribers.links import LIST_UNSUBSCRIBE_POST, MailLinks
from surveys.mail import AnswerLinks
from tracking.services.links import honeypot_url_for, tracking_urls_for

HEARTBEAT_EVERY = 50


class TransientSendError(Exception):
    """The ESP or SMTP server did not take the message this time; the batch stops and retries later."""


class ClaimLost(Exception):
    """This worker's claim on a delivery was taken back (swept as stale); it must not send it."""


class Recipient(NamedTuple):
    public_id: object
    email: str
    first_name: str
    last_name: str
    language: str
    tracking_consent: bool
    token_version: int


class ClaimedDelivery(NamedTuple):
    """What sending needs of a delivery row and its subscriber (``None`` once erased)."""

    pk: int
    attempts: int
    subscriber: Recipient | None


def claimed_deliveries(*, token: str) -> list[ClaimedDelivery]:
    """The rows of one claim as plain tuples: model instances would cost more than rendering the mail."""
    fields = ("public_id", "email", "first_name", "last_name", "language", "tracking_consent", "token_version")
    rows = (
        Delivery.objects.filter(claim=token, status=Delivery.Status.SENDING)
        .order_by("pk")
        .values_list("pk", "attempts", "subscriber_id", *(f"subscriber__{name}" for name in fields))
    )
    return [
        ClaimedDelivery(pk, attempts, None if subscriber_id is None else Recipient(*values))
        for pk, attempts, subscriber_id, *values in rows
    ]


_MARK_SENT_SQL = (
    f"UPDATE {Delivery._meta.db_table} SET status = %s, sent_at = %s, esp_message_id = %s, error = '', "  # noqa: S608
    "claim = '', attempts = attempts + 1 WHERE id = %s AND claim = %s AND status = %s"
)
# Without an ESP message id (SMTP derives it from the ids): the column's index is left alone, one
# page fewer written per message on SQLite, which rewrites the index of every column it sets.
_MARK_SENT_NO_ESP_ID_SQL = (
    f"UPDATE {Delivery._meta.db_table} SET status = %s, sent_at = %s, error = '', "  # noqa: S608
    "claim = '', attempts = attempts + 1 WHERE id = %s AND claim = %s AND status = %s"
)


@dataclass
class DeliveryLedger:
    """The state transitions of one claimed batch; every write is conditional on the claim token."""

    campaign_id: int
    token: str
    sent: int = 0
    failed: int = 0
    retry_in: float | None = None
    stopped: bool = False
    _handled: int = field(default=0, repr=False)
    _manual_commit: bool = field(default=False, repr=False)
    _renewed_at: float = field(default_factory=time.monotonic, repr=False)

    def keep_going(self) -> bool:
        """False once the campaign was paused or cancelled; renews the claim before it looks stale."""
        self._handled += 1
        if self._handled % HEARTBEAT_EVERY:
            return True
        status = Campaign.objects.filter(pk=self.campaign_id).values_list("status", flat=True).first()
        if status != Campaign.Status.SENDING:
            self.stopped = True
            return False
        now = time.monotonic()
        if now - self._renewed_at > settings.KANAL_SEND_STALE_SECONDS / 4:
            # Only a slow, rate-limited batch gets here: rewriting every claimed row every 50
            # messages would cost more than sending them.
            Delivery.objects.filter(claim=self.token, status=Delivery.Status.SENDING).update(claimed_at=timezone.now())
            self._renewed_at = now
        return True

    def commit_sent(self, delivery: ClaimedDelivery, *, esp_message_id: str = "") -> None:
        """Mark sent now, in its own transaction, if this batch still holds the row's claim."""
        if not self._update_sent(delivery, esp_message_id=esp_message_id):
            raise ClaimLost(delivery.pk)

    def _update_sent(self, delivery: ClaimedDelivery, *, esp_message_id: str) -> int:
        # Hand-written once instead of compiled by the ORM per message: at 2,000 messages/s the
        # ORM's query building would cost more than the database's own work.
        now = db_connection.ops.adapt_datetimefield_value(timezone.now())
        if esp_message_id:
            sql = _MARK_SENT_SQL
            parameters = (Delivery.Status.SENT, now, esp_message_id, delivery.pk, self.token, Delivery.Status.SENDING)
        else:
            sql = _MARK_SENT_NO_ESP_ID_SQL
            parameters = (Delivery.Status.SENT, now, delivery.pk, self.token, Delivery.Status.SENDING)
        with db_connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.rowcount

    def sent_at_final_dot(self, delivery: ClaimedDelivery, *, esp_message_id: str) -> Callable[[], None] | None:
        """Record "sent" around the SMTP server's commit point, with the least time in between.

        Called right before the final "." of DATA. SQLite commits here, in-process: the "." follows
        a microsecond later, and a kill in between loses this one message. PostgreSQL writes
        the row here and commits it right after the "." has left (the returned callable): the
        server commits a COMMIT it has received even if this process dies before the reply, and a
        kill between the two writes sends this one message twice.
        """
        if db_connection.in_atomic_block or db_connection.vendor != "postgresql":
            # SQLite in autocommit mode commits the single UPDATE as its statement ends, in-process;
            # inside an outer transaction (tests) that transaction decides.
            self.commit_sent(delivery, esp_message_id=esp_message_id)
            return None
        transaction.set_autocommit(False)
        self._manual_commit = True
        try:
            updated = self._update_sent(delivery, esp_message_id=esp_message_id)
        except BaseException:
            self.end_manual_commit()
            raise
        if not updated:
            self.end_manual_commit()
            raise ClaimLost(delivery.pk)
        return db_connection.connection.commit  # the driver's own commit: nothing in between

    def end_manual_commit(self) -> None:
        """Back to autocommit after ``sent_at_final_dot``; rolls back a write that was never committed."""
        if self._manual_commit:
            self._manual_commit = False
            transaction.rollback()
            transaction.set_autocommit(True)

    def mark_sent(self, delivery: ClaimedDelivery, *, esp_message_id: str = "") -> None:
        self.commit_sent(delivery, esp_message_id=esp_message_id)
        self.sent += 1

    def record_batch(self, by_email: dict[str, ClaimedDelivery], statuses: dict) -> None:
        """The ESP's answer for one batch call: per recipient sent (with its message id) or failed."""
        now = db_connection.ops.adapt_datetimefield_value(timezone.now())
        sent_rows = []
        with transaction.atomic():
            for address, delivery in by_email.items():
                status = statuses.get(address)
                if status is not None and status.status in ("rejected", "invalid"):
                    self.mark_failed(delivery, f"ESP status: {status.status}")
                    continue
                esp_id = "" if status is None or status.message_id is None else str(status.message_id)
                sent_rows.append((Delivery.Status.SENT, now, esp_id, delivery.pk, self.token, Delivery.Status.SENDING))
            with db_connection.cursor() as cursor:
                cursor.executemany(_MARK_SENT_SQL, sent_rows)
        self.sent += len(sent_rows)

    def mark_failed(self, delivery: ClaimedDelivery, error: str) -> None:
        Delivery.objects.filter(pk=delivery.pk, claim=self.token).update(
            status=Delivery.Status.FAILED, error=error[:2000], claim="", attempts=F("attempts") + 1
        )
        self.failed += 1

    def retry_later(self, delivery: ClaimedDelivery, error: str) -> None:
        attempts = delivery.attempts + 1
        status = Delivery.Status.FAILED if attempts >= settings.KANAL_SEND_MAX_ATTEMPTS else Delivery.Status.QUEUED
        Delivery.objects.filter(pk=delivery.pk, claim=self.token).update(
            status=status, attempts=attempts, error=error[:2000], claim="", claimed_at=None
        )
        self.failed += status == Delivery.Status.FAILED
        self.retry_in = min(300.0, 2.0**attempts)

    def after_commit_failure(self, delivery: ClaimedDelivery, error: Exception) -> None:
        """The row already says sent; only an explicit refusal after the final "." undoes that."""
        refusal = error.__cause__ if isinstance(error, TransientSendError) else error
        if isinstance(refusal, smtplib.SMTPDataError):
            status = Delivery.Status.QUEUED if 400 <= refusal.smtp_code < 500 else Delivery.Status.FAILED
            Delivery.objects.filter(pk=delivery.pk).update(status=status, sent_at=None, error=repr(refusal)[:2000])
            self.failed += status == Delivery.Status.FAILED
            if status == Delivery.Status.QUEUED:
                self.retry_in = 2.0
            return
        # The connection broke after the ".": the server may well have the message, and sending
        # it again could duplicate it. The row stays sent, with a note.
        Delivery.objects.filter(pk=delivery.pk).update(error=f"outcome unknown: {error!r}"[:2000])
        self.sent += 1


@dataclass
class BatchContext:
    campaign: Campaign
    compiled: CompiledCampaign
    ledger: DeliveryLedger
    links: MailLinks
    skeleton: MessageSkeleton | None = None
    # The campaign's tracked link ids (tracking.services.campaign_links_register); None: no tracking.
    link_ids: list[int] | None = None
    # Signs the survey-button and article-feedback URLs; built on first use, once per batch.
    answer_links: AnswerLinks | None = field(default=None, repr=False)

    def recipient(self, delivery: ClaimedDelivery) -> tuple[RecipientContext, str]:
        subscriber = delivery.subscriber
        unsubscribe, preferences, list_unsubscribe = self.links.for_subscriber(subscriber)
        pixel, link_urls, honeypot = "", None, ""
        if self.link_ids is not None:
            consent = subscriber.tracking_consent
            pixel, link_urls = tracking_urls_for(
                delivery_id=delivery.pk,
                campaign_id=self.campaign.pk,
                subscriber_tracking_consent=consent,
                link_ids=self.link_ids,
            )
            honeypot = honeypot_url_for(
                delivery_id=delivery.pk, campaign_id=self.campaign.pk, subscriber_tracking_consent=consent
            )
        survey_urls, feedback_urls = self._answer_urls(delivery.pk)
        context = RecipientContext(
            email=subscriber.email,
            first_name=subscriber.first_name,
            last_name=subscriber.last_name,
            language=subscriber.language,
            unsubscribe_url=unsubscribe,
            preferences_url=preferences,
            link_urls=link_urls,
            open_pixel_url=pixel,
            honeypot_url=honeypot,
            survey_urls=survey_urls,
            feedback_urls=feedback_urls,
        )
        return context, list_unsubscribe

    def _answer_urls(self, delivery_id: int) -> tuple[list[str] | None, list[str] | None]:
        """One-click survey and feedback URLs signed for this delivery (answers, not tracking: every
        recipient gets them, whatever their tracking consent)."""
        if not self.compiled.has_answer_links:
            return None, None
        if self.answer_links is None:
            self.answer_links = AnswerLinks(
                survey=self.compiled.survey, feedback_article_ids=self.compiled.feedback_article_ids
            )
        return self.answer_links.for_delivery(delivery_id)


def send_one(mail_connection, message) -> None:
    """Send through a Django mail backend, sorting its errors into transient and permanent."""
    try:
        count = mail_connection.send_messages([message])
    except Exception as error:
        meaning = send_error(error)
        if meaning is error:
            raise
        raise meaning from error
    if not count:
        raise TransientSendError("the mail backend accepted no message")


def send_error(error: BaseException) -> BaseException:
    """What a mail backend's exception means: a ``TransientSendError`` (retry later, its cause the
    original) or the error itself (this message is refused for good, or the bug is ours)."""
    meaning = None
    if isinstance(error, (AnymailRecipientsRefused, ClaimLost, TransientSendError)):
        return error
    if isinstance(error, AnymailAPIError):
        status_code = getattr(error, "status_code", None)
        if status_code is None or status_code == 429 or status_code >= 500:
            summary = error.args[0] if error.args else type(error).__name__
            meaning = TransientSendError(f"{summary} (HTTP {status_code})")
    elif isinstance(error, smtplib.SMTPRecipientsRefused):
        if error.recipients and all(400 <= code < 500 for code, _ in error.recipients.values()):
            meaning = TransientSendError(f"recipients refused for now: {error.recipients!r}")
    elif isinstance(error, smtplib.SMTPResponseException):
        if 400 <= error.smtp_code < 500:
            meaning = TransientSendError(f"{error.smtp_code} {error.smtp_error!r}")
    elif isinstance(error, (smtplib.SMTPException, OSError)):
        meaning = TransientSendError(repr(error))
    if meaning is None:
        return error
    meaning.__cause__ = error
    return meaning


def _skip_erased(batch: BatchContext, delivery: ClaimedDelivery) -> bool:
    if delivery.subscriber is None:  # erased after the snapshot
        batch.ledger.mark_failed(delivery, "subscriber erased")
        return True
    return False


def send_prebuilt(batch: BatchContext, deliveries: Iterable[ClaimedDelivery], mail_connection) -> None:
    ledger = batch.ledger
    commit_hook = getattr(mail_connection, "supports_commit_hook", False)
    messages = _prebuilt_messages(batch, deliveries, commit_hook=commit_hook)
    if commit_hook and getattr(mail_connection, "supports_stream", False):

        def report(message: PrebuiltEmail, error: BaseException | None) -> bool:
            ledger.end_manual_commit()
            return _record_outcome(ledger, message, message.delivery, None if error is None else send_error(error))

        try:
            mail_connection.send_stream(messages, report)
        except ClaimLost:
            ledger.stopped = True
        finally:
            ledger.end_manual_commit()
        return
    for message in messages:
        if not _send_and_record(ledger, mail_connection, message, message.delivery, esp_message_id=message.message_id):
            return


def _prebuilt_messages(batch: BatchContext, deliveries: Iterable[ClaimedDelivery], *, commit_hook: bool):
    ledger = batch.ledger
    campaign = batch.campaign
    domain = campaign.from_email.rpartition("@")[2] or "localhost"
    for delivery in deliveries:
        if not ledger.keep_going():
            return
        if _skip_erased(batch, delivery):
            continue
        recipient, list_unsubscribe = batch.recipient(delivery)
        mid = message_id(campaign_id=campaign.pk, delivery_id=delivery.pk, domain=domain)
        data = batch.skeleton.build(
            recipient,
            MailHeaders(to=recipient.email, message_id=mid, list_unsubscribe=list_unsubscribe, delivery_id=delivery.pk),
        )
        message = PrebuiltEmail(from_email=campaign.from_email, to=recipient.email, data=data)
        message.delivery = delivery
        message.message_id = mid
        if commit_hook:
            message.before_final_dot = _commit_hook(ledger, message, delivery)
        throttle.wait_for_slot()
        yield message


def _commit_hook(ledger: DeliveryLedger, message: PrebuiltEmail, delivery: ClaimedDelivery):
    def before_final_dot():
        # No message id is stored: for SMTP it is derived from the ids (campaigns.mime.message_id).
        commit_later = ledger.sent_at_final_dot(delivery, esp_message_id="")
        if commit_later is None:
            message.committed = True
            return None

        def after_final_dot():
            commit_later()
            message.committed = True
            ledger.end_manual_commit()

        return after_final_dot

    return before_final_dot


def _send_and_record(ledger, mail_connection, message, delivery, *, esp_message_id="") -> bool:
    """Send one message and move its row on; False stops the batch."""
    try:
        try:
            send_one(mail_connection, message)
        finally:
            ledger.end_manual_commit()
    except Exception as error:
        return _record_outcome(ledger, message, delivery, error)
    status = getattr(message, "anymail_status", None)
    if status is not None and status.message_id is not None:
        esp_message_id = str(status.message_id)
    return _record_outcome(ledger, message, delivery, None, esp_message_id=esp_message_id)


def _record_outcome(ledger, message, delivery, error: BaseException | None, *, esp_message_id="") -> bool:
    """Move the row on after one send (``error`` as ``send_error`` sorted it); False stops the batch."""
    if isinstance(error, ClaimLost):
        ledger.stopped = True
        return False
    committed = getattr(message, "committed", False)
    if error is not None:
        if committed:
            ledger.after_commit_failure(delivery, error)
            return not isinstance(error, TransientSendError)
        if isinstance(error, TransientSendError):
            ledger.retry_later(delivery, str(error))
            return False
        ledger.mark_failed(delivery, repr(error))  # a permanent refusal of this one message
        return True
    if committed:
        ledger.sent += 1
        return True
    try:
        ledger.mark_sent(delivery, esp_message_id=esp_message_id)
    except ClaimLost:
        ledger.stopped = True
        return False
    return True


def anymail_message(batch: BatchContext, delivery: ClaimedDelivery) -> AnymailMessage:
    campaign = batch.campaign
    recipient, list_unsubscribe = batch.recipient(delivery)
    rendered = batch.compiled.render(recipient)
    message = AnymailMessage(
        subject=rendered.subject,
        body=rendered.text,
        from_email=campaign.from_header,
        to=[recipient.email],
        reply_to=[campaign.reply_to] if campaign.reply_to else None,
        headers={"List-Unsubscribe": list_unsubscribe, "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST},
        metadata={"kind": "campaign", "campaign_id": str(campaign.pk), "delivery_id": str(delivery.pk)},
        tags=["campaign"],
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def send_anymail_each(batch: BatchContext, deliveries: Iterable[ClaimedDelivery], mail_connection) -> None:
    for delivery in deliveries:
        if not batch.ledger.keep_going():
            return
        if _skip_erased(batch, delivery):
            continue
        message = anymail_message(batch, delivery)
        throttle.wait_for_slot()
        if not _send_and_record(batch.ledger, mail_connection, message, delivery):
            return


def send_anymail_batches(batch: BatchContext, deliveries: list[ClaimedDelivery], mail_connection) -> None:
    """Many recipients per API call: the ESP fills in each recipient's merge fields."""
    ledger = batch.ledger
    campaign = batch.campaign
    field_format = settings.KANAL_ESP_MERGE_FIELD_FORMAT
    template = EspTemplate(batch.compiled, field_format)
    size = max(1, settings.KANAL_ESP_BATCH_SIZE)
    living = [delivery for delivery in deliveries if not _skip_erased(batch, delivery)]
    for start in range(0, len(living), size):
        chunk = living[start : start + size]
        status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
        if status != Campaign.Status.SENDING:
            ledger.stopped = True
            return
        merge_data, merge_headers, merge_metadata, by_email = {}, {}, {}, {}
        for delivery in chunk:
            recipient, list_unsubscribe = batch.recipient(delivery)
            by_email[recipient.email] = delivery
            merge_data[recipient.email] = template.merge_values(recipient)
            merge_headers[recipient.email] = {"List-Unsubscribe": list_unsubscribe}
            merge_metadata[recipient.email] = {"delivery_id": str(delivery.pk)}
        message = AnymailMessage(
            subject=template.subject,
            body=template.text,
            from_email=campaign.from_header,
            to=list(by_email),
            reply_to=[campaign.reply_to] if campaign.reply_to else None,
            headers={"List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST},
            merge_data=merge_data,
            merge_headers=merge_headers,
            merge_metadata=merge_metadata,
            metadata={"kind": "campaign", "campaign_id": str(campaign.pk)},
            tags=["campaign"],
        )
        message.attach_alternative(template.html, "text/html")
        for _recipient in chunk:
            throttle.wait_for_slot()
        try:
            send_one(mail_connection, message)
        except TransientSendError as error:
            for delivery in chunk:
                ledger.retry_later(delivery, str(error))
            return
        except Exception as error:
            for delivery in chunk:
                ledger.mark_failed(delivery, repr(error))
            continue
        ledger.record_batch(by_email, message.anymail_status.recipients)


class EspTemplate:
    """The campaign with every per-recipient slot written as an ESP merge field."""

    def __init__(self, compiled: CompiledCampaign, field_format: str):
        self.compiled = compiled
        self.html = compiled.html_template.fill(
            [field_format.format(f"kanal_h{i}") for i in range(len(compiled.slots))]
        )
        self.text = compiled.text_template.fill(
            [field_format.format(f"kanal_t{i}") for i in range(len(compiled.slots))]
        )
        self.personal_subject = any(not isinstance(part, str) for part in compiled.subject_parts)
        self.subject = (
            field_format.format("kanal_subject") if self.personal_subject else "".join(compiled.subject_parts)
        )

    def merge_values(self, recipient: RecipientContext) -> dict[str, str]:
        html_values, text_values = self.compiled.slot_values(recipient)
        values = {f"kanal_h{i}": value for i, value in enumerate(html_values)}
        values.update({f"kanal_t{i}": value for i, value in enumerate(text_values)})
        if self.personal_subject:
            from campaigns import merge_tags

            values["kanal_subject"] = merge_tags.render_plain(self.compiled.subject_parts, recipient)
        return values
