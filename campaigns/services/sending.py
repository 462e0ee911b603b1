"""The sending pipeline: snapshot the audience into deliveries, claim them in batches, send, sweep.

Exactly-once rests on the Delivery row, never on the broker: a worker claims rows with one
UPDATE, marks each row sent right after the ESP or SMTP server accepted its message, and a
sweeper puts rows back whose claim went stale because their worker died. Pausing, resuming and
re-delivered tasks only ever act on what the rows say.
"""

import logging
import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from anymail.message import AnymailMessage
from django.conf import settings
from django.core.mail import get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import selectors, throttle
from campaigns.models import Campaign, Delivery
from campaigns.rendering import CompiledCampaign, RecipientContext, compile_campaign
from campaigns.services.lifecycle import CampaignStateError, _locked, campaign_check_ready
from newsletter_site.bulk import insert_rows
from subscribers import links
from subscribers.models import SuppressedAddress, email_hash

logger = logging.getLogger(__name__)

Status = Campaign.Status
STARTABLE = (Status.DRAFT, Status.SCHEDULED)
PERMANENT_SMTP_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


class TransientSendError(Exception):
    """The ESP or SMTP server did not take the message this time; the batch stops and retries later."""


@dataclass(frozen=True)
class BatchOutcome:
    sent: int = 0
    failed: int = 0
    more_to_send: bool = False
    retry_in: float | None = None


def campaign_start(*, campaign: Campaign) -> Campaign:
    """Snapshot the audience and start sending now (also used for scheduled campaigns that are due)."""
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.status not in STARTABLE:
            raise CampaignStateError(
                _("A campaign that is %(status)s cannot be sent.") % {"status": campaign.get_status_display()}
            )
        campaign_check_ready(campaign=campaign)
        deliveries_snapshot(campaign=campaign)
        campaign.status = Status.SENDING
        campaign.started_at = timezone.now()
        campaign.save(update_fields=["status", "started_at", "updated_at"])
        _queue_senders(campaign_id=campaign.pk)
    return campaign


def deliveries_snapshot(*, campaign: Campaign) -> int:
    """One queued delivery per targeted subscriber, suppressed addresses left out. Safe to repeat."""
    suppressed = set(SuppressedAddress.objects.values_list("email_hash", flat=True))
    audience = selectors.campaign_audience(campaign=campaign).values_list("pk", "email").order_by("pk")
    rows = [
        (subscriber_id,)
        for subscriber_id, email in audience.iterator(chunk_size=5000)
        if email_hash(email) not in suppressed
    ]
    insert_rows(
        Delivery,
        columns=("subscriber",),
        rows=rows,
        constants={
            "campaign": campaign.pk,
            "status": Delivery.Status.QUEUED,
            "claim": "",
            "claimed_at": None,
            "attempts": 0,
            "sent_at": None,
            "esp_message_id": "",
            "error": "",
        },
        ignore_conflicts=True,
    )
    return len(rows)


def campaign_pause(*, campaign: Campaign) -> Campaign:
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.status != Status.SENDING:
            raise CampaignStateError(
                _("A campaign that is %(status)s cannot be paused.") % {"status": campaign.get_status_display()}
            )
        campaign.status = Status.PAUSED
        campaign.save(update_fields=["status", "updated_at"])
    return campaign


def campaign_resume(*, campaign: Campaign) -> Campaign:
    with transaction.atomic():
        campaign = _locked(campaign)
        if campaign.status != Status.PAUSED:
            raise CampaignStateError(
                _("A campaign that is %(status)s cannot be resumed.") % {"status": campaign.get_status_display()}
            )
        campaign.status = Status.SENDING
        campaign.save(update_fields=["status", "updated_at"])
        _queue_senders(campaign_id=campaign.pk)
    return campaign


def _queue_senders(*, campaign_id: int) -> None:
    from campaigns.tasks import send_campaign_batch

    for _sender in range(settings.KANAL_SEND_PARALLEL_BATCHES):
        send_campaign_batch.delay_on_commit(campaign_id)


def deliveries_claim(*, campaign_id: int, limit: int) -> str | None:
    """Claim up to ``limit`` queued deliveries with one UPDATE; returns the claim token, or None."""
    token = secrets.token_hex(16)
    with transaction.atomic():
        candidates = Delivery.objects.filter(campaign_id=campaign_id, status=Delivery.Status.QUEUED).order_by("pk")
        if db_connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return None
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SENDING, claim=token, claimed_at=timezone.now()
        )
    return token


_compiled_cache: dict[tuple[int, object], CompiledCampaign] = {}


def compiled_campaign(campaign: Campaign) -> CompiledCampaign:
    """Compile once per campaign version and worker process; every message after that only fills slots."""
    key = (campaign.pk, campaign.updated_at)
    compiled = _compiled_cache.get(key)
    if compiled is None:
        _compiled_cache.clear()
        compiled = _compiled_cache[key] = compile_campaign(campaign)
    return compiled


def delivery_message_build(*, campaign: Campaign, compiled: CompiledCampaign, delivery: Delivery) -> AnymailMessage:
    subscriber = delivery.subscriber
    rendered = compiled.render(
        RecipientContext.for_subscriber(
            subscriber,
            unsubscribe_url=links.unsubscribe_url(subscriber),
            preferences_url=links.preferences_url(subscriber),
        )
    )
    message = AnymailMessage(
        subject=rendered.subject,
        body=rendered.text,
        from_email=campaign.from_header,
        to=[subscriber.email],
        reply_to=[campaign.reply_to] if campaign.reply_to else None,
        headers=links.list_unsubscribe_headers(subscriber),
        metadata={"kind": "campaign", "campaign_id": str(campaign.pk), "delivery_id": str(delivery.pk)},
        tags=["campaign"],
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def delivery_batch_send(*, campaign_id: int) -> BatchOutcome:
    """Claim one batch of the campaign's deliveries and send it. Idempotent by the delivery rows."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Status.SENDING:
        return BatchOutcome()
    token = deliveries_claim(campaign_id=campaign_id, limit=settings.KANAL_SEND_BATCH_SIZE)
    if token is None:
        campaign_finish_if_done(campaign_id=campaign_id)
        return BatchOutcome()
    compiled = compiled_campaign(campaign)
    deliveries = list(
        Delivery.objects.filter(claim=token, status=Delivery.Status.SENDING).select_related("subscriber").order_by("pk")
    )
    sent = failed = 0
    retry_in = None
    with get_connection() as mail_connection:
        for index, delivery in enumerate(deliveries):
            if index and index % 50 == 0:
                if _campaign_status(campaign_id) != Status.SENDING:
                    break  # paused or cancelled while this batch ran: hand the rest back
                # Still alive: a slow, rate-limited batch must not look stale to the sweeper.
                Delivery.objects.filter(claim=token, status=Delivery.Status.SENDING).update(claimed_at=timezone.now())
            if delivery.subscriber is None:  # erased after the snapshot
                _delivery_finish(delivery, token, status=Delivery.Status.FAILED, error="subscriber erased")
                failed += 1
                continue
            message = delivery_message_build(campaign=campaign, compiled=compiled, delivery=delivery)
            committed = []
            held_open = []

            def mark_sent(delivery=delivery, committed=committed, held_open=held_open):
                if db_connection.vendor == "postgresql" and not db_connection.in_atomic_block:
                    # Written now, committed right after the final "." leaves (commit_held): PostgreSQL
                    # commits a COMMIT it has received even if this process dies before the reply.
                    transaction.set_autocommit(False)
                    held_open.append(True)
                    with db_connection.cursor() as cursor:
                        cursor.execute("SET LOCAL synchronous_commit TO OFF")
                    _delivery_update(delivery, token, status=Delivery.Status.SENT, esp_message_id="", error="")
                else:
                    _delivery_finish(delivery, token, status=Delivery.Status.SENT)
                committed.append(True)

            def commit_held(held_open=held_open):
                if held_open:
                    held_open.clear()
                    transaction.commit()
                    transaction.set_autocommit(True)

            # Backends that can (newsletter_site.smtp_backend) call these around the server's commit point.
            message.before_commit = mark_sent
            message.after_final_dot = commit_held
            throttle.wait_for_slot()
            try:
                _send_one(mail_connection, message)
            except Exception as error:
                if held_open:  # failed before the ".": the "sent" was never committed
                    held_open.clear()
                    transaction.rollback()
                    transaction.set_autocommit(True)
                    committed.clear()
                if committed:
                    # Marked sent, then the server said no after the final "." (or went silent).
                    outcome = _after_commit_failure(delivery, error)
                    failed += outcome == Delivery.Status.FAILED
                    sent += outcome == Delivery.Status.SENT
                    if isinstance(error, TransientSendError):
                        retry_in = 2.0
                        break
                    continue
                if isinstance(error, TransientSendError):
                    retry_in = _delivery_retry_later(delivery, token, error=str(error))
                    break
                # A permanent refusal of this one message.
                _delivery_finish(delivery, token, status=Delivery.Status.FAILED, error=repr(error)[:2000])
                failed += 1
                continue
            status = message.anymail_status
            message_id = "" if status is None or status.message_id is None else str(status.message_id)
            if committed:
                if message_id:
                    Delivery.objects.filter(pk=delivery.pk).update(esp_message_id=message_id)
            else:
                _delivery_finish(delivery, token, status=Delivery.Status.SENT, esp_message_id=message_id)
            sent += 1
    Delivery.objects.filter(claim=token, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.QUEUED, claim="", claimed_at=None
    )
    more = Delivery.objects.filter(campaign_id=campaign_id, status=Delivery.Status.QUEUED).exists()
    if not more:
        campaign_finish_if_done(campaign_id=campaign_id)
    return BatchOutcome(sent=sent, failed=failed, more_to_send=more, retry_in=retry_in)


def _campaign_status(campaign_id: int) -> str:
    return Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()


def _send_one(mail_connection, message: AnymailMessage) -> None:
    try:
        count = mail_connection.send_messages([message])
    except AnymailRecipientsRefused:
        raise
    except AnymailAPIError as error:
        status_code = getattr(error, "status_code", None)
        if status_code is None or status_code == 429 or status_code >= 500:
            summary = error.args[0] if error.args else type(error).__name__
            raise TransientSendError(f"{summary} (HTTP {status_code})") from error
        raise
    except PERMANENT_SMTP_ERRORS:
        raise
    except smtplib.SMTPResponseException as error:
        if 400 <= error.smtp_code < 500:
            raise TransientSendError(f"{error.smtp_code} {error.smtp_error!r}") from error
        raise
    except (smtplib.SMTPException, OSError) as error:
        raise TransientSendError(repr(error)) from error
    if not count:
        raise TransientSendError("the mail backend accepted no message")


def _delivery_finish(delivery: Delivery, token: str, *, status: str, esp_message_id: str = "", error: str = "") -> None:
    # Committed per message on purpose: the row must say "sent" as soon as the server took the mail,
    # so a worker killed a moment later leaves nothing for the sweeper to send twice.
    with transaction.atomic():
        if db_connection.vendor == "postgresql":
            # Waiting for the WAL flush would widen the window in which a killed worker loses the
            # message; a killed worker cannot lose a commit the server has already made.
            with db_connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        _delivery_update(delivery, token, status=status, esp_message_id=esp_message_id, error=error)


def _delivery_update(delivery: Delivery, token: str, *, status: str, esp_message_id: str, error: str) -> None:
    Delivery.objects.filter(pk=delivery.pk, claim=token).update(
        status=status,
        sent_at=timezone.now() if status == Delivery.Status.SENT else None,
        esp_message_id=esp_message_id,
        error=error,
        claim="",
        attempts=delivery.attempts + 1,
    )


def _after_commit_failure(delivery: Delivery, error: Exception) -> str:
    """The row already says sent; only an explicit refusal of the message after the "." undoes that."""
    refusal = error.__cause__ if isinstance(error, TransientSendError) else error
    if isinstance(refusal, smtplib.SMTPDataError):
        status = Delivery.Status.QUEUED if 400 <= refusal.smtp_code < 500 else Delivery.Status.FAILED
        Delivery.objects.filter(pk=delivery.pk).update(status=status, sent_at=None, error=repr(refusal)[:2000])
        return status
    # Connection lost after the ".": the server may well have the message; sending again could duplicate it.
    Delivery.objects.filter(pk=delivery.pk).update(error=f"outcome unknown: {error!r}"[:2000])
    return Delivery.Status.SENT


def _delivery_retry_later(delivery: Delivery, token: str, *, error: str) -> float:
    attempts = delivery.attempts + 1
    status = Delivery.Status.FAILED if attempts >= settings.KANAL_SEND_MAX_ATTEMPTS else Delivery.Status.QUEUED
    Delivery.objects.filter(pk=delivery.pk, claim=token).update(
        status=status, attempts=attempts, error=error[:2000], claim="", claimed_at=None
    )
    return min(300.0, 2.0**attempts)


def campaign_finish_if_done(*, campaign_id: int) -> bool:
    """A campaign is sent only when no delivery is queued or in flight."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id, status=Status.SENDING).first()
        if campaign is None:
            return False
        if Delivery.objects.filter(
            campaign_id=campaign_id, status__in=(Delivery.Status.QUEUED, Delivery.Status.SENDING)
        ).exists():
            return False
        campaign.status = Status.SENT
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "finished_at", "updated_at"])
        return True


def deliveries_sweep(*, stale_after: timedelta | None = None) -> int:
    """Hand back deliveries whose worker died mid-batch, and keep every sending campaign moving."""
    if stale_after is None:
        stale_after = timedelta(seconds=settings.KANAL_SEND_STALE_SECONDS)
    released = Delivery.objects.filter(
        status=Delivery.Status.SENDING, claimed_at__lt=timezone.now() - stale_after
    ).update(status=Delivery.Status.QUEUED, claim="", claimed_at=None)
    if released:
        logger.warning("Re-queued %d deliveries whose worker stopped", released)
    for campaign_id in Campaign.objects.filter(status=Status.SENDING).values_list("pk", flat=True):
        if not campaign_finish_if_done(campaign_id=campaign_id):
            with transaction.atomic():
                _queue_senders(campaign_id=campaign_id)
    return released


def campaigns_start_due() -> int:
    """Start every scheduled campaign whose time has come (Celery beat calls this)."""
    started = 0
    for campaign in Campaign.objects.filter(status=Status.SCHEDULED, scheduled_at__lte=timezone.now()):
        try:
            campaign_start(campaign=campaign)
            started += 1
        except CampaignStateError:
            continue  # another beat tick or a staff member got there first
        except Exception:
            logger.exception("Scheduled campaign %s could not start", campaign.pk)
    return started


def campaign_progress(*, campaign: Campaign) -> dict:
    counts = Delivery.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"),
        queued=Count("pk", filter=Q(status=Delivery.Status.QUEUED)),
        sending=Count("pk", filter=Q(status=Delivery.Status.SENDING)),
        sent=Count("pk", filter=Q(status=Delivery.Status.SENT)),
        failed=Count("pk", filter=Q(status=Delivery.Status.FAILED)),
    )
    window = 60
    recent = Delivery.objects.filter(
        campaign=campaign, status=Delivery.Status.SENT, sent_at__gte=timezone.now() - timedelta(seconds=window)
    ).count()
    rate = recent / window
    remaining = counts["queued"] + counts["sending"]
    done = counts["sent"] + counts["failed"]
    return {
        **counts,
        "status": campaign.status,
        "status_display": str(campaign.get_status_display()),
        "percent": round(100 * done / counts["total"]) if counts["total"] else 0,
        "rate_per_second": round(rate, 1),
        "eta_seconds": round(remaining / rate) if rate and remaining else None,
        "finished": campaign.status in (Status.SENT, Status.CANCELLED),
    }
