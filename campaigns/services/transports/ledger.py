"""The delivery rows of one claimed batch: read them, and move each on (sent, failed, retry)."""

import logging
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns import throttle
from campaigns.models import Campaign, Delivery
from campaigns.services.transports.errors import ClaimLost, TransientSendError

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 50


class Recipient(NamedTuple):
    public_id: object
    email: str
    first_name: str
    last_name: str
    language: str
    tracking_consent: bool
    token_version: int
    fields: dict


class ClaimedDelivery(NamedTuple):
    """What sending needs of a delivery row and its subscriber (``None`` once erased)."""

    pk: int
    attempts: int
    subscriber: Recipient | None
    subscriber_id: int | None = None


def claimed_deliveries(*, token: str) -> list[ClaimedDelivery]:
    """The rows of one claim as plain tuples: model instances would cost more than rendering the mail."""
    fields = (
        "public_id",
        "email",
        "first_name",
        "last_name",
        "language",
        "tracking_consent",
        "token_version",
        "fields",
    )
    rows = (
        Delivery.objects.filter(claim=token, status=Delivery.Status.SENDING)
        .order_by("pk")
        .values_list("pk", "attempts", "subscriber_id", *(f"subscriber__{name}" for name in fields))
    )
    return [
        ClaimedDelivery(pk, attempts, None if subscriber_id is None else Recipient(*values), subscriber_id)
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
    _final_dot_left: bool = field(default=False, repr=False)
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
        self.renew_claim_if_due()
        return True

    def wait_for_rate_slot(self) -> None:
        """Wait until the next message fits the send rate; a batch that waits keeps its claim.

        A rate-limited stream has time to spare: the last mark is committed before the wait
        instead of staying open through it.
        """
        if settings.KANAL_SEND_RATE_PER_SECOND:
            self.end_manual_commit()
        self.renew_claim_if_due()
        throttle.wait_for_slot()

    def renew_claim_if_due(self) -> None:
        """Keep a slow, rate-limited batch's claim from looking stale to the sweeper.

        Only such a batch renews: rewriting every claimed row every 50 messages would cost more
        than sending them.
        """
        now = time.monotonic()
        if now - self._renewed_at > settings.KANAL_SEND_STALE_SECONDS / 4:
            Delivery.objects.filter(claim=self.token, status=Delivery.Status.SENDING).update(claimed_at=timezone.now())
            self._renewed_at = now

    def commit_sent(self, delivery: ClaimedDelivery, *, esp_message_id: str = "") -> None:
        """Mark sent now, in its own transaction, if this batch still holds the row's claim."""
        if not self._update_sent(delivery, esp_message_id=esp_message_id):
            raise ClaimLost(delivery.pk)

    def _update_sent(self, delivery: ClaimedDelivery, *, esp_message_id: str, commit_previous: bool = False) -> int:
        # Hand-written once instead of compiled by the ORM per message: at 2,000 messages/s the
        # ORM's query building would cost more than the database's own work.
        now = db_connection.ops.adapt_datetimefield_value(timezone.now())
        if esp_message_id:
            sql = _MARK_SENT_SQL
            parameters = (Delivery.Status.SENT, now, esp_message_id, delivery.pk, self.token, Delivery.Status.SENDING)
        else:
            sql = _MARK_SENT_NO_ESP_ID_SQL
            parameters = (Delivery.Status.SENT, now, delivery.pk, self.token, Delivery.Status.SENDING)
        if commit_previous:
            return _commit_and_execute(sql, parameters)
        with db_connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.rowcount

    def sent_at_final_dot(self, delivery: ClaimedDelivery, *, esp_message_id: str) -> Callable[[], None] | None:
        """Record "sent" around the SMTP server's commit point, with the least time in between.

        Called right before the final "." of DATA. SQLite commits here, in-process: the "." follows
        a microsecond later, and a kill in between loses this one message. PostgreSQL writes the
        row here and commits it once the "." has left (the returned callable notes that), in the
        same round trip as the next message's write, or at the end of the stream. A crash of
        the worker or of the database before that commit sends this one message twice; at any
        moment at most one message per process is in that state. The commit waits for the WAL
        flush (synchronous_commit stays on): an acknowledged mark survives a database crash.
        """
        if db_connection.in_atomic_block or db_connection.vendor != "postgresql":
            # SQLite in autocommit mode commits the single UPDATE as its statement ends, in-process;
            # inside an outer transaction (tests) that transaction decides.
            self.commit_sent(delivery, esp_message_id=esp_message_id)
            return None
        commit_previous = self._manual_commit and self._final_dot_left
        if not self._manual_commit:
            transaction.set_autocommit(False)
            self._manual_commit = True
        self._final_dot_left = False
        try:
            updated = self._update_sent(delivery, esp_message_id=esp_message_id, commit_previous=commit_previous)
        except BaseException:
            self.end_manual_commit()
            raise
        if not updated:
            self.end_manual_commit()
            raise ClaimLost(delivery.pk)
        return self._note_final_dot_left

    def _note_final_dot_left(self) -> None:
        self._final_dot_left = True

    def end_manual_commit(self) -> None:
        """Back to autocommit after ``sent_at_final_dot``: commits the last mark if its "." has left,
        rolls it back if not (the server discards a message without its ".")."""
        if not self._manual_commit:
            return
        self._manual_commit = False
        try:
            if self._final_dot_left:
                transaction.commit()
            else:
                transaction.rollback()
        finally:
            self._final_dot_left = False
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
        self._count_failed(delivery)

    def _count_failed(self, delivery: ClaimedDelivery) -> None:
        # The reason stays in the row (Delivery.error): a server's refusal often quotes the address.
        self.failed += 1
        logger.info(
            "Campaign %s: delivery %s failed for good",
            self.campaign_id,
            delivery.pk,
            extra={"campaign_id": self.campaign_id, "delivery_id": delivery.pk},
        )

    def retry_later(self, delivery: ClaimedDelivery, error: str) -> None:
        attempts = delivery.attempts + 1
        status = Delivery.Status.FAILED if attempts >= settings.KANAL_SEND_MAX_ATTEMPTS else Delivery.Status.QUEUED
        Delivery.objects.filter(pk=delivery.pk, claim=self.token).update(
            status=status, attempts=attempts, error=error[:2000], claim="", claimed_at=None
        )
        if status == Delivery.Status.FAILED:
            self._count_failed(delivery)
        self.retry_in = min(300.0, 2.0**attempts)

    def after_commit_failure(self, delivery: ClaimedDelivery, error: Exception) -> None:
        """The row already says sent; only an explicit refusal after the final "." undoes that."""
        refusal = error.__cause__ if isinstance(error, TransientSendError) else error
        if isinstance(refusal, smtplib.SMTPDataError):
            status = Delivery.Status.QUEUED if 400 <= refusal.smtp_code < 500 else Delivery.Status.FAILED
            Delivery.objects.filter(pk=delivery.pk).update(status=status, sent_at=None, error=repr(refusal)[:2000])
            if status == Delivery.Status.FAILED:
                self._count_failed(delivery)
            if status == Delivery.Status.QUEUED:
                self.retry_in = 2.0
            return
        # The connection broke after the ".": the server may well have the message, and sending
        # it again could duplicate it. The row stays sent, with a note.
        Delivery.objects.filter(pk=delivery.pk).update(error=f"outcome unknown: {error!r}"[:2000])
        self.sent += 1


def _commit_and_execute(sql: str, parameters: tuple) -> int:
    """COMMIT the open transaction and run ``sql`` in a new one, in one round trip; returns its rowcount.

    The simple query protocol carries several statements, with the parameters bound on the
    client (psycopg's ClientCursor, as Django's own cursors do).
    """
    import psycopg

    with db_connection.wrap_database_errors, psycopg.ClientCursor(db_connection.connection) as cursor:
        cursor.execute(f"COMMIT; BEGIN; {sql}", parameters)
        while cursor.nextset():
            pass
        return cursor.rowcount
