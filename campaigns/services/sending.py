"""The sending pipeline: snapshot the audience into deliveries, claim them in batches, send, sweep.

Exactly-once rests on the Delivery row, never on the broker: a worker claims rows with one
UPDATE, marks each row sent right after the ESP or SMTP server accepted its message, and a
sweeper puts rows back whose claim went stale because their worker died. Pausing, resuming and
re-delivered tasks only ever act on what the rows say.
"""

import logging
import secrets
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from anymail.backends.base import AnymailBaseBackend
from django.conf import settings
from django.core.cache import cache
from django.core.mail import get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Case, Exists, OuterRef, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import extensions, selectors, signals, throttle
from campaigns.mime import MessageSkeleton
from campaigns.models import Campaign, Delivery
from campaigns.rendering import CompiledCampaign, compile_campaign
from campaigns.send_counters import send_counts_add
from campaigns.services import transports
from campaigns.services.lifecycle import CampaignStateError, _locked, campaign_check_ready, refuse_automation_mail
from newsletter_site.bulk import insert_rows
from subscribers import links
from subscribers.models import Subscriber
from subscribers.selectors import addresses_suppressed, subscribers_not_suppressed

logger = logging.getLogger(__name__)

Status = Campaign.Status
STARTABLE = (Status.DRAFT, Status.SCHEDULED)
# After the rate limiter lost Redis for good: the next batch of the campaign tries again this much later.
RATE_LIMITER_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class BatchOutcome:
    sent: int = 0
    failed: int = 0
    more_to_send: bool = False
    retry_in: float | None = None
    # Nothing due now, but deliveries are queued for later: the first is due this many seconds from now.
    due_in: float | None = None


def campaign_start(
    *, campaign: Campaign, warnings_confirmed: bool = False, recipients: QuerySet[Subscriber] | None = None
) -> Campaign:
    """Snapshot the audience and start sending now (also used for scheduled campaigns that are due).

    The one place a send starts, so the pre-send checklist is enforced here: a blocking item
    refuses (ValidationError, nothing changes), and so do warnings unless ``warnings_confirmed``
    (ChecklistWarnings). ``recipients`` narrows the audience to those of its members (an A/B
    test's group)."""
    with transaction.atomic():
        campaign = _locked(campaign)
        refuse_automation_mail(campaign)
        if campaign.status not in STARTABLE:
            raise CampaignStateError(
                _("A campaign that is %(status)s cannot be sent.") % {"status": campaign.get_status_display()}
            )
        campaign_check_ready(campaign=campaign, warnings_confirmed=warnings_confirmed)
        deliveries_snapshot(campaign=campaign, recipients=recipients)
        extensions.deliveries_schedule(campaign=campaign)
        campaign.status = Status.SENDING
        campaign.started_at = timezone.now()
        campaign.save(update_fields=["status", "started_at", "updated_at"])
        _queue_senders(campaign_id=campaign.pk)
    return campaign


def deliveries_snapshot(*, campaign: Campaign, recipients: QuerySet[Subscriber] | None = None) -> int:
    """One delivery per targeted subscriber, suppressed addresses left out; returns how many it
    added (none when repeated). Queued, or skipped with the error "frequency cap" for subscribers
    who reached a frequency cap (unless the campaign bypasses it): those rows stay visible in the
    campaign's figures and are never sent.

    One INSERT … SELECT: the audience never travels through Python, except to match it against
    the suppression list (kept as hashes) when that list is not empty. ``recipients``: only the
    audience's members among them.
    """
    audience = selectors.campaign_audience(campaign=campaign)
    if recipients is not None:
        audience = audience.filter(pk__in=recipients.values("pk"))
    audience = subscribers_not_suppressed(audience).order_by()
    over_cap = None if campaign.bypasses_frequency_cap else selectors.subscribers_over_frequency_cap_q()
    status = Value(Delivery.Status.QUEUED)
    if over_cap is not None:
        status = Case(When(over_cap, then=Value(Delivery.Status.SKIPPED)), default=status)
    audience = audience.annotate(delivery_status=status)
    select_sql, select_params = audience.values_list("pk", "delivery_status").query.sql_with_params()
    quote = db_connection.ops.quote_name
    columns = ("campaign_id", "subscriber_id", "status", "error", "occurrence", "claim", "claimed_at", "attempts")
    columns += ("sent_at", "esp_message_id")
    # Only quoted names from the model's metadata and the ORM's own compiled SELECT reach the SQL text;
    # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT.
    sql = (
        f"INSERT INTO {quote(Delivery._meta.db_table)} ({', '.join(quote(column) for column in columns)}) "  # noqa: S608
        "SELECT %s, audience.*, CASE audience.delivery_status WHEN %s THEN %s ELSE '' END, 0, '', NULL, 0, NULL, '' "
        f"FROM ({select_sql}) audience WHERE true ON CONFLICT DO NOTHING"
    )
    params = (campaign.pk, Delivery.Status.SKIPPED, Delivery.FREQUENCY_CAP_ERROR, *select_params)
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def campaign_send_more(*, campaign: Campaign, recipients: QuerySet[Subscriber]) -> int:
    """Send a newsletter that already started to more of its audience (``recipients`` among it), through
    the same pipeline; returns how many deliveries it added. A subscriber who has a delivery keeps
    that one (the unique delivery), so repeating this adds nothing. A sent campaign sends again until
    the new deliveries are done; a paused one waits for resume."""
    with transaction.atomic():
        campaign = _locked(campaign)
        refuse_automation_mail(campaign)
        if campaign.status not in (Status.SENDING, Status.PAUSED, Status.SENT):
            raise CampaignStateError(
                _("A campaign that is %(status)s cannot be sent to more subscribers.")
                % {"status": campaign.get_status_display()}
            )
        added = deliveries_snapshot(campaign=campaign, recipients=recipients)
        if added:
            extensions.deliveries_schedule(campaign=campaign)  # due times for the new rows only
        if added and campaign.status == Status.SENT:
            campaign.status = Status.SENDING
            campaign.finished_at = None
            campaign.save(update_fields=["status", "finished_at", "updated_at"])
        if added and campaign.status == Status.SENDING:
            _queue_senders(campaign_id=campaign.pk)
    return added


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
        campaign.hold_reason = ""
        campaign.save(update_fields=["status", "hold_reason", "updated_at"])
        _queue_senders(campaign_id=campaign.pk)
    return campaign


def _queue_senders(*, campaign_id: int) -> None:
    from campaigns.tasks import send_campaign_batch

    for _sender in range(settings.KANAL_SEND_PARALLEL_BATCHES):
        send_campaign_batch.delay_on_commit(campaign_id)


def deliveries_claim(*, campaign_id: int, limit: int) -> str | None:
    """Claim up to ``limit`` queued deliveries with one UPDATE; returns the claim token, or None.

    Consent is checked here, at the moment of sending, not only at the snapshot or the automation
    step: the deliveries of subscribers no longer active, or whose address was suppressed since,
    become "withdrawn" instead (the reason in ``error``) and are never sent. Should that leave
    nothing to send in this batch, the token still comes back, for an empty batch.
    """
    return _claim(campaign_id=campaign_id, limit=limit).token


@dataclass(frozen=True)
class _Claim:
    token: str | None
    prepared: tuple = ()


def _claim(*, campaign_id: int, limit: int, campaign: Campaign | None = None) -> _Claim:
    """``deliveries_claim``, and with ``campaign`` the batch preparers
    (campaigns.extensions.BATCH_PREPARERS) in the claim's transaction: what they write (an offer's
    codes) commits with the claim, before anything is handed over, and the deliveries they hold
    back stay queued."""
    token = secrets.token_hex(16)
    prepared = []
    with transaction.atomic():
        candidates = Delivery.objects.filter(
            selectors.deliveries_due_q(now=timezone.now()), campaign_id=campaign_id, status=Delivery.Status.QUEUED
        ).order_by("pk")
        if db_connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        rows = list(candidates.values_list("pk", "subscriber__status", "subscriber__email")[:limit])
        if not rows:
            return _Claim(None)
        # The rows read are this transaction's until it ends (locked on PostgreSQL; SQLite has one
        # writer), so the updates below name them by id alone. A status condition beside the ids
        # made SQLite, which has no statistics, walk every queued delivery of every campaign.
        withdrawn = _consent_withdrawn(rows)
        for reason, ids in withdrawn.items():
            Delivery.objects.filter(pk__any_of=ids).update(status=Delivery.Status.WITHDRAWN, error=reason)
        gone = {pk for ids in withdrawn.values() for pk in ids}
        sendable = [row[0] for row in rows if row[0] not in gone]
        if campaign is not None and sendable and extensions.BATCH_PREPARERS:
            prepared = extensions.batch_prepare(campaign=campaign, delivery_ids=sendable)
            held = frozenset().union(*(result.held for result in prepared))
            sendable = [pk for pk in sendable if pk not in held]
        Delivery.objects.filter(pk__any_of=sendable).update(
            status=Delivery.Status.SENDING, claim=token, claimed_at=timezone.now()
        )
    return _Claim(token, tuple(prepared))


def _consent_withdrawn(rows: list[tuple[int, str | None, str | None]]) -> dict[str, list[int]]:
    """Of these (delivery id, subscriber status, email) rows, the ids that may not be sent now, by
    reason. A delivery whose subscriber was erased (no subscriber) is left to the transports."""
    withdrawn: dict[str, list[int]] = {}
    active = []
    for pk, status, email in rows:
        if status is None:
            continue
        if status != Subscriber.Status.ACTIVE:
            withdrawn.setdefault(f"consent: {status}", []).append(pk)
        else:
            active.append((pk, email))
    suppressed = addresses_suppressed(emails=[email for _pk, email in active])
    if suppressed:
        withdrawn["consent: suppressed"] = [pk for pk, email in active if email in suppressed]
    return withdrawn


_compiled_cache: dict[tuple[int, object], tuple[CompiledCampaign, MessageSkeleton]] = {}


def compiled_campaign(campaign: Campaign) -> tuple[CompiledCampaign, MessageSkeleton]:
    """Compile once per campaign version and worker process; every message after that only fills slots."""
    key = (campaign.pk, campaign.updated_at)
    cached = _compiled_cache.get(key)
    if cached is None:
        _compiled_cache.clear()
        compiled = compile_campaign(campaign)
        skeleton = MessageSkeleton(
            compiled,
            from_header=campaign.from_header,
            reply_to=campaign.reply_to,
            language=campaign.language,
            campaign_id=campaign.pk,
        )
        cached = _compiled_cache[key] = (compiled, skeleton)
    return cached


def delivery_batch_send(*, campaign_id: int) -> BatchOutcome:
    """Claim one batch of the campaign's deliveries and send it. Idempotent by the delivery rows."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Status.SENDING:
        return BatchOutcome()
    claim = _claim(campaign_id=campaign_id, limit=settings.KANAL_SEND_BATCH_SIZE, campaign=campaign)
    token = claim.token
    if token is None:
        due_in = _next_due_in(campaign_id=campaign_id)
        if due_in is None:
            campaign_finish_if_done(campaign_id=campaign_id)
        return BatchOutcome(due_in=due_in)
    compiled, skeleton = compiled_campaign(campaign)
    deliveries = transports.claimed_deliveries(token=token)
    prepared_links = [result.links for result in claim.prepared if result.links is not None]
    hold_reason = next((result.reason for result in claim.prepared if result.held), "")
    if not hold_reason and campaign.hold_reason and claim.prepared:
        Campaign.objects.filter(pk=campaign_id).exclude(hold_reason="").update(hold_reason="")
    ledger = transports.DeliveryLedger(campaign_id=campaign_id, token=token)
    visible_articles = None
    if compiled.conditional_articles:
        # Segment membership now, one query per segment for the whole batch.
        visible_articles = selectors.articles_visible_to(
            conditional=compiled.conditional_articles,
            subscriber_ids=[delivery.subscriber_id for delivery in deliveries if delivery.subscriber_id is not None],
        )
    batch = transports.BatchContext(
        campaign=campaign,
        compiled=compiled,
        skeleton=skeleton,
        ledger=ledger,
        links=links.MailLinks(),
        recipient_links=extensions.recipient_links_prepare(campaign=campaign, compiled=compiled) + prepared_links,
        visible_articles=visible_articles,
    )
    deliveries = batch.in_variant_order(deliveries)
    try:
        with get_connection() as mail_connection, _fast_commits():
            if not isinstance(mail_connection, AnymailBaseBackend):
                transports.send_prebuilt(batch, deliveries, mail_connection)
            elif settings.KANAL_ESP_MERGE_FIELD_FORMAT:
                transports.send_anymail_batches(batch, deliveries, mail_connection)
            else:
                transports.send_anymail_each(batch, deliveries, mail_connection)
    except throttle.RateLimiterUnavailable as error:
        # Raised before a message is handed over (an SMTP message whose data is out is dropped
        # without its final "."), so nothing of this batch is half sent: its rows go back below.
        logger.warning("Campaign %s: batch stopped, the send rate limiter has no Redis: %s", campaign_id, error)
        ledger.retry_in = RATE_LIMITER_RETRY_SECONDS
    if hold_reason:
        # After the messages that could go out did: they keep their codes either way.
        campaign_hold(campaign_id=campaign_id, reason=hold_reason)
    # Whatever this batch did not get to (paused, cancelled, a transient error) goes back to the queue.
    Delivery.objects.filter(claim=token, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.QUEUED, claim="", claimed_at=None
    )
    more = Delivery.objects.filter(
        selectors.deliveries_due_q(now=timezone.now()), campaign_id=campaign_id, status=Delivery.Status.QUEUED
    ).exists()
    due_in = None if more else _next_due_in(campaign_id=campaign_id)
    if not more and due_in is None:
        campaign_finish_if_done(campaign_id=campaign_id)
    send_counts_add(kind="campaign", sent=ledger.sent, failed=ledger.failed)
    logger.info(
        "Campaign %s: batch sent %s, failed %s",
        campaign_id,
        ledger.sent,
        ledger.failed,
        extra={"campaign_id": campaign_id, "sent": ledger.sent, "failed": ledger.failed},
    )
    return BatchOutcome(
        sent=ledger.sent, failed=ledger.failed, more_to_send=more, retry_in=ledger.retry_in, due_in=due_in
    )


def wake_up_claim(*, campaign_id: int, due_in: float) -> bool:
    """Whether the caller should queue the sender that wakes the campaign when its next delivery is
    due: only the first of the campaign's senders to ask for that moment, so parallel senders and
    sweeps do not pile up one waiting task each. Without Redis, every caller may (the sweeper
    wakes the campaign in any case)."""
    due_second = int((timezone.now() + timedelta(seconds=due_in)).timestamp())
    try:
        return cache.add(f"campaigns:wake:{campaign_id}:{due_second}", 1, timeout=int(due_in) + 60)
    except Exception as error:
        logger.warning("Campaign %s: no wake-up bookkeeping without the cache: %s", campaign_id, error)
        return True


def _next_due_in(*, campaign_id: int) -> float | None:
    """Seconds until the campaign's next delivery queued for later is due, or None when none is."""
    now = timezone.now()
    due_at = selectors.campaign_next_due_at(campaign_id=campaign_id, now=now)
    return None if due_at is None else max((due_at - now).total_seconds(), 0.0)


def campaign_hold(*, campaign_id: int, reason: str) -> None:
    """Sending cannot go on for now (``reason`` says why, shown on the campaign page): a newsletter is
    paused (resume once the cause is fixed); an automation mail stays on, and its held deliveries
    wait in the queue for the next batch."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None:
            return
        if campaign.kind == Campaign.Kind.NEWSLETTER and campaign.status == Status.SENDING:
            logger.warning("Campaign %s paused: %s", campaign_id, reason)
            campaign.status = Status.PAUSED
            campaign.hold_reason = reason
            campaign.save(update_fields=["status", "hold_reason", "updated_at"])
        elif campaign.hold_reason != reason:
            # Not updated_at: that would compile the mail again for every waiting batch.
            Campaign.objects.filter(pk=campaign_id).update(hold_reason=reason)


@contextmanager
def _fast_commits():
    """SQLite: no automatic WAL checkpoint inside a per-message commit.

    A checkpoint would put milliseconds of copying and fsync between the "sent" mark and the
    final "."; the batch checkpoints once at its end instead. PostgreSQL keeps
    synchronous_commit on: a "sent" mark the server acknowledged must survive a crash of the
    server, or the sweeper sends that message again (docs/faults.md).
    """
    if db_connection.in_atomic_block or db_connection.vendor != "sqlite":
        yield
        return
    with db_connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    try:
        yield
    finally:
        with db_connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint=1000")
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def campaign_finish_if_done(*, campaign_id: int) -> bool:
    """A campaign is sent only when no delivery is queued or in flight; an automation mail never is."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update()
            .filter(pk=campaign_id, status=Status.SENDING, kind=Campaign.Kind.NEWSLETTER)
            .first()
        )
        if campaign is None:
            return False
        if Delivery.objects.filter(
            campaign_id=campaign_id, status__in=(Delivery.Status.QUEUED, Delivery.Status.SENDING)
        ).exists():
            return False
        campaign.status = Status.SENT
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "finished_at", "updated_at"])
        signals.campaign_sent.send(sender=Campaign, campaign=campaign)
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
    now = timezone.now()
    for campaign_id in Campaign.objects.filter(status=Status.SENDING, kind=Campaign.Kind.NEWSLETTER).values_list(
        "pk", flat=True
    ):
        if not campaign_finish_if_done(campaign_id=campaign_id) and not selectors.campaign_only_due_later(
            campaign_id=campaign_id, now=now
        ):
            with transaction.atomic():
                _queue_senders(campaign_id=campaign_id)
    # Automation mails stay "sending" while idle, and there can be many: only those with work get senders.
    waiting = Delivery.objects.filter(
        selectors.deliveries_due_q(now=now), campaign=OuterRef("pk"), status=Delivery.Status.QUEUED
    )
    for campaign_id in Campaign.objects.filter(
        Exists(waiting), status=Status.SENDING, kind=Campaign.Kind.AUTOMATION
    ).values_list("pk", flat=True):
        with transaction.atomic():
            _queue_senders(campaign_id=campaign_id)
    return released


def deliveries_add(*, campaign: Campaign, occurrences: Sequence[tuple[int, int]]) -> list[int]:
    """Queue an automation mail to these (subscriber id, occurrence) pairs in one INSERT, returning the
    new rows' ids in their order; the caller's transaction makes each exactly once (the unique
    occurrence), and ``deliveries_added`` gets them sent."""
    if not campaign.is_automation:
        raise CampaignStateError(_("Only an automation mail is sent one subscriber at a time."))
    if not occurrences:
        return []
    insert_rows(
        Delivery,
        columns=["subscriber", "occurrence"],
        rows=occurrences,
        constants={
            "campaign": campaign.pk,
            "status": Delivery.Status.QUEUED,
            "claim": "",
            "attempts": 0,
            "esp_message_id": "",
            "error": "",
        },
    )
    ids = {
        (subscriber_id, occurrence): pk
        for subscriber_id, occurrence, pk in Delivery.objects.filter(
            campaign=campaign, occurrence__in=[occurrence for _subscriber_id, occurrence in occurrences]
        ).values_list("subscriber_id", "occurrence", "pk")
    }
    return [ids[pair] for pair in occurrences]


def deliveries_added(*, campaign_ids: Iterable[int]) -> None:
    """Queued deliveries were added to these campaigns (inside the caller's transaction): senders
    start once it commits, one set per campaign however many deliveries were added."""
    for campaign_id in sorted(set(campaign_ids)):
        _queue_senders(campaign_id=campaign_id)


def campaigns_start_due() -> int:
    """Start every scheduled campaign whose time has come (Celery beat calls this)."""
    started = 0
    for campaign in Campaign.objects.filter(status=Status.SCHEDULED, scheduled_at__lte=timezone.now()):
        try:
            # Staff confirmed the checklist's warnings when they scheduled it; blocking items still refuse.
            campaign_start(campaign=campaign, warnings_confirmed=True)
            started += 1
        except CampaignStateError:
            continue  # another beat tick or a staff member got there first
        except Exception:
            logger.exception("Scheduled campaign %s could not start", campaign.pk)
    return started


def campaign_progress(*, campaign: Campaign) -> dict:
    figures = selectors.campaign_delivery_figures(campaign=campaign)
    stall = selectors.campaign_stall(campaign=campaign, figures=figures)
    counts = {
        name: figures[name]
        for name in ("total", "queued", "sending", "sent", "failed", "skipped", "withdrawn", "due_later")
    }
    window = 60
    recent = Delivery.objects.filter(
        campaign=campaign, status=Delivery.Status.SENT, sent_at__gte=timezone.now() - timedelta(seconds=window)
    ).count()
    rate = recent / window
    remaining = counts["queued"] - counts["due_later"] + counts["sending"]
    done = counts["sent"] + counts["failed"] + counts["skipped"] + counts["withdrawn"]
    return {
        **counts,
        "status": campaign.status,
        "status_display": str(campaign.get_status_display()),
        "percent": round(100 * done / counts["total"]) if counts["total"] else 0,
        "rate_per_second": round(rate, 1),
        "eta_seconds": round(remaining / rate) if rate and remaining else None,
        "finished": campaign.status in (Status.SENT, Status.CANCELLED),
        "stalled": stall is not None,
        "idle_seconds": stall.idle_seconds if stall else None,
        "stall_message": stall.message() if stall else None,
        "hold_reason": campaign.hold_reason,
        "next_due_at": figures["next_due_at"].isoformat() if figures["next_due_at"] else None,
    }
