"""Automation writes: saving and activating, entering journeys, and the runner that advances them.

Exactly once per (journey, step) by database state: a step's effect, its JourneyStepRun row and the
journey's advance commit together, under the claim the runner took with one UPDATE. See
docs/architecture.md, Automations.
"""

import calendar
import logging
import secrets
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext

from audience.models import Segment
from audience.selectors import segment_members, segment_problems
from automations import kinds, mail, triggers
from automations.models import Automation, AutomationVersion, Journey, JourneyStepRun, SegmentTriggerMember
from newsletter_site.bulk import db_value
from subscribers.models import CustomField, Subscriber, Subscription
from subscribers.selectors import addresses_suppressed, custom_field_q
from tracking.selectors.audience import subscribers_individually_tracked

logger = logging.getLogger(__name__)

ENTRY_CHUNK = 2000
# Journeys per round: below SQLite's 999 query parameters.
ROUND_SIZE = 500
ENTRY_TICK_SECONDS = 1


def automation_problems(*, automation: Automation) -> list[str]:
    """Everything that keeps the automation from running, in words; empty when it may be activated."""
    problems = []
    if automation.status == Automation.Status.ARCHIVED:
        problems.append(gettext("It is archived: un-archive it first."))
    problems += kinds.trigger_problems(automation.trigger_kind, automation.trigger_params)
    problems += kinds.steps_problems(automation.steps)
    if automation.entry_segment_id is not None:
        problems += [
            gettext("Entry segment: %(problem)s") % {"problem": problem}
            for problem in segment_problems(automation.entry_segment)
        ]
    loop = _loop(automation)
    if loop:
        problems.append(
            gettext("Its steps would start it again: %(loop)s.")
            % {"loop": " → ".join(f"“{member.name}”" for member in loop)}
        )
    return problems


def _params_include(params, match: dict) -> bool:
    return isinstance(params, dict) and all(params.get(key) == value for key, value in match.items())


def _loop(automation: Automation) -> list[Automation]:
    """A chain of automations, from this one back to it, each started by a step of the one before
    (``triggers.STEP_STARTS``); the others counted are the active ones. Empty when there is none."""
    others = Automation.objects.filter(status=Automation.Status.ACTIVE)
    if automation.pk is not None:
        others = others.exclude(pk=automation.pk)
    nodes = [automation, *others]

    def started_by(source: Automation) -> list[Automation]:
        fired = triggers.steps_start(source.steps)
        return [
            target
            for target in nodes
            if any(kind == target.trigger_kind and _params_include(target.trigger_params, on) for kind, on in fired)
        ]

    parents: dict[int, int] = {}
    queue, seen = [0], {0}
    while queue:
        current = queue.pop(0)
        for target in started_by(nodes[current]):
            index = nodes.index(target)
            if index == 0:
                chain = [current]
                while chain[-1] != 0:
                    chain.append(parents[chain[-1]])
                return [nodes[i] for i in reversed(chain)] + [automation]
            if index not in seen:
                seen.add(index)
                parents[index] = current
                queue.append(index)
    return []


def _version_current(automation: Automation) -> AutomationVersion | None:
    return automation.versions.order_by("-number").first()


def _version_freeze(automation: Automation) -> AutomationVersion:
    """The version holding the automation's current steps, made when they changed since the last one."""
    latest = _version_current(automation)
    if latest is not None and latest.steps == automation.steps:
        return latest
    return AutomationVersion.objects.create(
        automation=automation, number=(latest.number + 1 if latest else 1), steps=automation.steps
    )


@transaction.atomic
def automation_save(*, automation: Automation) -> Automation:
    """Save an edited automation; editing an active one freezes its steps as a new version, which new
    journeys take while running ones keep theirs."""
    automation.steps = kinds.steps_clean(automation.steps)
    automation.trigger_params = kinds.trigger_clean(automation.trigger_kind, automation.trigger_params)
    automation.full_clean()
    if automation.status == Automation.Status.ACTIVE:
        problems = automation_problems(automation=automation)
        if problems:
            raise ValidationError(problems)
    automation.save()
    if automation.status == Automation.Status.ACTIVE:
        mail.campaigns_use(steps=_version_freeze(automation).steps)
    return automation


@transaction.atomic
def automation_activate(*, automation: Automation) -> Automation:
    """Start taking entries; refused with the problems in words while any reference is broken."""
    automation = Automation.objects.select_for_update().get(pk=automation.pk)
    problems = automation_problems(automation=automation)
    if problems:
        raise ValidationError([gettext("“%(name)s” cannot be activated:") % {"name": automation.name}, *problems])
    automation.status = Automation.Status.ACTIVE
    automation.save(update_fields=["status", "updated_at"])
    mail.campaigns_use(steps=_version_freeze(automation).steps)
    return automation


@transaction.atomic
def automation_pause(*, automation: Automation) -> Automation:
    """Stop entries and steps; journeys stay where they are and go on when it is activated again.
    An archived automation is refused: pausing must not be a way around un-archiving."""
    automation = Automation.objects.select_for_update().get(pk=automation.pk)
    if automation.status == Automation.Status.ARCHIVED:
        raise ValidationError(gettext("“%(name)s” is archived and cannot be paused.") % {"name": automation.name})
    automation.status = Automation.Status.PAUSED
    automation.save(update_fields=["status", "updated_at"])
    return automation


@transaction.atomic
def automation_archive(*, automation: Automation) -> int:
    """Archive: no more entries or steps, every active journey ends (exited, reason "archived") in one
    UPDATE, and a segment trigger's membership snapshot goes. Returns how many journeys ended."""
    automation = Automation.objects.select_for_update().get(pk=automation.pk)
    automation.status = Automation.Status.ARCHIVED
    automation.save(update_fields=["status", "updated_at"])
    ended = Journey.objects.filter(automation=automation, status=Journey.Status.ACTIVE).update(
        status=Journey.Status.EXITED, exited_reason="archived", ended_at=timezone.now(), claim="", claimed_at=None
    )
    SegmentTriggerMember.objects.filter(automation=automation).delete()
    return ended


@transaction.atomic
def automation_unarchive(*, automation: Automation) -> Automation:
    """Make an archived automation a draft again; it takes entries only once activated."""
    automation = Automation.objects.select_for_update().get(pk=automation.pk)
    if automation.status == Automation.Status.ARCHIVED:
        automation.status = Automation.Status.DRAFT
        automation.save(update_fields=["status", "updated_at"])
    return automation


@transaction.atomic
def journeys_move(
    *,
    automation: Automation,
    from_version: AutomationVersion,
    to_version: AutomationVersion,
    step_map: dict[int, int],
) -> int:
    """Move the active journeys at old step i to new step ``step_map[i]``; returns how many moved.

    Journeys at unmapped steps stay. Only to a newer version, so no journey meets a version twice
    and its step runs (unique per version and step) never collide. A journey a runner has claimed is
    skipped, and the rows are locked first, so no journey changes version in the middle of a step.
    """
    if from_version.automation_id != automation.pk or to_version.automation_id != automation.pk:
        raise ValidationError(gettext("Both versions must belong to this automation."))
    if to_version.number <= from_version.number:
        raise ValidationError(gettext("Journeys can only move to a newer version."))
    for old_index, new_index in step_map.items():
        if not 0 <= old_index < len(from_version.steps):
            raise ValidationError(
                gettext("Version %(number)s has no step %(step)s.") % {"number": from_version.number, "step": old_index}
            )
        if not 0 <= new_index <= len(to_version.steps):
            raise ValidationError(
                gettext("Version %(number)s has no step %(step)s.") % {"number": to_version.number, "step": new_index}
            )
    moved = 0
    for old_index, new_index in step_map.items():
        candidates = Journey.objects.filter(
            automation=automation, version=from_version, status=Journey.Status.ACTIVE, claim="", step_index=old_index
        )
        if db_connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        ids = list(candidates.values_list("pk", flat=True))
        moved += Journey.objects.filter(pk__in=ids, claim="", version=from_version, step_index=old_index).update(
            version=to_version, step_index=new_index
        )
    return moved


def _eligible(automation: Automation, candidates: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
    """The candidates that may enter now: consenting, in the entry segment, and allowed by the re-entry rule."""
    eligible = candidates.filter(status=Subscriber.Status.ACTIVE)
    trigger = kinds.TRIGGERS.get(automation.trigger_kind)
    if trigger is not None and trigger.needs_tracking_consent:
        eligible = subscribers_individually_tracked(eligible)
    if automation.entry_segment_id is not None:
        eligible = segment_members(automation.entry_segment, base=eligible)
    journeys = Journey.objects.filter(automation=automation, subscriber=OuterRef("pk"))
    if automation.reentry == Automation.Reentry.NEVER:
        eligible = eligible.exclude(Exists(journeys))
    elif automation.reentry == Automation.Reentry.AFTER_FINISHED:
        eligible = eligible.exclude(Exists(journeys.exclude(status=Journey.Status.FINISHED)))
    else:
        eligible = eligible.exclude(Exists(journeys.filter(status=Journey.Status.ACTIVE)))
    return eligible


def journeys_enter(*, automation: Automation, candidates: QuerySet[Subscriber]) -> int:
    """Start a journey for each candidate the automation takes; returns how many started.

    The partial unique constraint (one active journey per automation and subscriber) settles races:
    a second entry at the same moment is dropped by the database, not by this check.
    """
    if automation.status != Automation.Status.ACTIVE:
        return 0
    version = _version_current(automation)
    if version is None:
        return 0
    return _journeys_start(automation=automation, version_id=version.pk, candidates=candidates)


def _journeys_start(*, automation: Automation, version_id: int, candidates: QuerySet[Subscriber]) -> int:
    now = timezone.now()
    eligible = list(_eligible(automation, candidates).order_by().values_list("pk", "email"))
    suppressed = addresses_suppressed(emails=[email for _pk, email in eligible])
    ids = [pk for pk, email in eligible if email not in suppressed]
    started = 0
    for start in range(0, len(ids), ENTRY_CHUNK):
        created = Journey.objects.bulk_create(
            [
                Journey(automation=automation, version_id=version_id, subscriber_id=pk, due_at=now)
                for pk in ids[start : start + ENTRY_CHUNK]
            ],
            ignore_conflicts=True,
        )
        started += len(created)
    if started:
        transaction.on_commit(_queue_tick)
    return started


def _queue_tick() -> None:
    """A tick in a second, one for every entry of that second: a burst of confirmations queues a
    few ticks, not one each ahead of the work they are for. An entry that finds the key set
    committed before the tick it stands for runs, as the key lasts no longer than the countdown."""
    from automations import tasks

    if cache.add("automations:tick-queued", 1, timeout=ENTRY_TICK_SECONDS):
        tasks.tick.apply_async(countdown=ENTRY_TICK_SECONDS)


def trigger_fire(
    *, trigger_kind: str, match: dict, subscriber_ids: list[int], when: Callable[[dict], bool] | None = None
) -> int:
    """Enter the subscribers into every active automation with this trigger whose parameters include
    ``match`` and, if given, for whose parameters ``when`` is true. The hook for every event trigger:
    a new one registers its TriggerKind and calls this from a receiver of its app's signal.

    Matched in Python: there are few automations, and SQLite has no JSON containment lookup.
    """
    latest = AutomationVersion.objects.filter(automation=OuterRef("pk")).order_by("-number").values("pk")[:1]
    started = 0
    for automation in Automation.objects.filter(status=Automation.Status.ACTIVE, trigger_kind=trigger_kind).annotate(
        version_id=Subquery(latest)
    ):
        if automation.version_id is None:
            continue
        if _params_include(automation.trigger_params, match) and (when is None or when(automation.trigger_params)):
            candidates = Subscriber.objects.filter(pk__in=subscriber_ids)
            started += _journeys_start(automation=automation, version_id=automation.version_id, candidates=candidates)
    return started


def segment_triggers_evaluate() -> int:
    """Enter the subscribers who joined each segment-triggered automation's segment since its last
    evaluation, under the automation's re-entry rule (beat); returns how many journeys started.

    Joined means a member now with no row in the automation's ``SegmentTriggerMember`` snapshot. The
    first evaluation after activation has no snapshot, so everyone in the segment joins then.
    """
    started = 0
    automation_ids = Automation.objects.filter(
        status=Automation.Status.ACTIVE, trigger_kind=kinds.SEGMENT_JOINED
    ).values_list("pk", flat=True)
    for automation_id in automation_ids:
        started += _segment_trigger_evaluate(automation_id)
    return started


@transaction.atomic
def _segment_trigger_evaluate(automation_id: int) -> int:
    """Update one automation's snapshot set-based and enter those it gained, in one transaction under
    the automation's row lock (archiving waits for it, and two runs do not overlap)."""
    automation = (
        Automation.objects.select_for_update().filter(pk=automation_id, status=Automation.Status.ACTIVE).first()
    )
    if automation is None:
        return 0
    segment = Segment.objects.filter(pk=automation.trigger_params.get("segment")).first()
    if segment is None or segment_problems(segment):
        logger.warning("Automation %s: its trigger segment is unusable; nobody enters", automation.pk)
        return 0
    members = segment_members(segment)
    snapshot = SegmentTriggerMember.objects.filter(automation=automation)
    snapshot.filter(~Exists(members.filter(pk=OuterRef("subscriber_id")))).delete()
    now = timezone.now()
    new_members = members.exclude(Exists(snapshot.filter(subscriber=OuterRef("pk"))))
    select_sql, select_params = new_members.order_by().values("pk").query.sql_with_params()
    quote = db_connection.ops.quote_name
    columns = ", ".join(quote(column) for column in ("automation_id", "subscriber_id", "joined_at"))
    # As in campaigns' deliveries_snapshot: only quoted names and the ORM's compiled SELECT reach the text.
    sql = (
        f"INSERT INTO {quote(SegmentTriggerMember._meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT %s, new_members.{quote('pk')}, %s FROM ({select_sql}) new_members WHERE true ON CONFLICT DO NOTHING"
    )
    with db_connection.cursor() as cursor:
        cursor.execute(sql, (automation.pk, db_value(SegmentTriggerMember, "joined_at", now), *select_params))
    joined = Subscriber.objects.filter(Exists(snapshot.filter(subscriber=OuterRef("pk"), joined_at=now)))
    return journeys_enter(automation=automation, candidates=joined)


def inactivity_triggers_evaluate(*, now: datetime | None = None) -> int:
    """Enter subscribers without a human open or click for the trigger's days (beat).

    Candidates were subscribed (to the list, if the trigger names one) longer than that, and their
    last human open or click (``SubscriberEngagement``, kept by the batcher) is older or missing.
    Once entered, a subscriber is taken again only after new human activity since that entry;
    the automation's re-entry rule applies on top.
    """
    now = now or timezone.now()
    started = 0
    for automation in Automation.objects.filter(status=Automation.Status.ACTIVE, trigger_kind=triggers.INACTIVE):
        params = automation.trigger_params
        since = now - timedelta(days=params["days"])
        candidates = Subscriber.objects.exclude(engagement__last_interaction_at__gte=since)
        if "list" in params:
            candidates = candidates.filter(
                subscriptions__mailing_list=params["list"],
                subscriptions__status=Subscription.Status.ACTIVE,
                subscriptions__confirmed_at__lt=since,
            )
        else:
            candidates = candidates.filter(created_at__lt=since)
        entered_since_activity = Journey.objects.filter(automation=automation, subscriber=OuterRef("pk")).filter(
            Q(subscriber__engagement__last_interaction_at__isnull=True)
            | Q(entered_at__gt=F("subscriber__engagement__last_interaction_at"))
        )
        started += journeys_enter(automation=automation, candidates=candidates.exclude(Exists(entered_since_activity)))
    return started


def date_triggers_evaluate(*, today: date | None = None) -> int:
    """Enter subscribers whose date field plus the trigger's offset is today in the site's time zone (beat).

    Yearly triggers compare month and day (29 February counts on 28 February in other years). Any
    number of runs a day enter a subscriber once: journeys entered since today began are left out.
    """
    today = today or timezone.localdate()
    began = timezone.make_aware(datetime.combine(today, time.min))
    started = 0
    for automation in Automation.objects.filter(status=Automation.Status.ACTIVE, trigger_kind=triggers.DATE_REACHED):
        params = automation.trigger_params
        field = CustomField.objects.filter(pk=params["field"], kind=CustomField.Kind.DATE).first()
        if field is None:
            logger.warning("Automation %s: its date field is gone or not a date; nobody enters", automation.pk)
            continue
        target = today - timedelta(days=params["offset_days"])
        if params["yearly"]:
            reached = custom_field_q(field=field, operator="anniversary_within_next_days", value=0, today=target)
            if (target.month, target.day) == (2, 28) and not calendar.isleap(target.year):
                leap_day = date(2000, 2, 29)
                reached |= custom_field_q(field=field, operator="anniversary_within_next_days", value=0, today=leap_day)
        else:
            reached = custom_field_q(field=field, operator="on", value=target.isoformat())
        entered_today = Journey.objects.filter(automation=automation, subscriber=OuterRef("pk"), entered_at__gte=began)
        candidates = Subscriber.objects.filter(reached).exclude(Exists(entered_today))
        started += journeys_enter(automation=automation, candidates=candidates)
    return started


def journeys_claim(*, limit: int) -> str | None:
    """Claim up to ``limit`` due journeys of active automations with one UPDATE; returns the claim token."""
    token = secrets.token_hex(16)
    with transaction.atomic():
        candidates = Journey.objects.filter(
            status=Journey.Status.ACTIVE,
            claim="",
            due_at__lte=timezone.now(),
            automation__status=Automation.Status.ACTIVE,
        ).order_by("due_at", "pk")
        if db_connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return None
        Journey.objects.filter(pk__in=ids, claim="").update(claim=token, claimed_at=timezone.now())
    return token


def journeys_sweep(*, stale_after: timedelta | None = None) -> int:
    """Hand back journeys whose worker died holding the claim; their step runs again from the last commit."""
    if stale_after is None:
        stale_after = timedelta(seconds=settings.KANAL_AUTOMATION_STALE_SECONDS)
    released = (
        Journey.objects.filter(status=Journey.Status.ACTIVE, claimed_at__lt=timezone.now() - stale_after)
        .exclude(claim="")
        .update(claim="", claimed_at=None)
    )
    if released:
        logger.warning("Released %d journeys whose worker stopped", released)
    return released


def consent_exit_reasons(subscribers: list[Subscriber]) -> dict[int, str]:
    """Why each of these subscribers may not go on in any journey, by id (one query); absent: they may."""
    reasons = {
        subscriber.pk: f"consent: {subscriber.status}"
        for subscriber in subscribers
        if subscriber.status != Subscriber.Status.ACTIVE
    }
    suppressed = addresses_suppressed(
        emails=[subscriber.email for subscriber in subscribers if subscriber.pk not in reasons]
    )
    reasons.update(
        {subscriber.pk: "consent: suppressed" for subscriber in subscribers if subscriber.email in suppressed}
    )
    return reasons


def journey_advance(*, journey_id: int, token: str) -> None:
    """Run every step the claimed journey is due for, alone, then hand the claim back; a step that
    raises is retried after KANAL_AUTOMATION_RETRY_SECONDS (``attempts`` counts)."""
    pending = [journey_id]
    while pending:
        try:
            pending = _round(ids=pending, token=token)
        except Exception:
            logger.exception("Journey %s: the step failed; it runs again later", journey_id)
            retry_in = timedelta(seconds=settings.KANAL_AUTOMATION_RETRY_SECONDS)
            journey = Journey.objects.filter(pk=journey_id, claim=token).first()
            if journey is not None:
                Journey.objects.filter(pk=journey_id, claim=token).update(
                    claim="", claimed_at=None, attempts=journey.attempts + 1, due_at=timezone.now() + retry_in
                )
            return


def _journeys_end(journeys: list[Journey], *, status: str, reason: str = "") -> None:
    Journey.objects.filter(pk__in=[journey.pk for journey in journeys]).update(
        status=status, exited_reason=reason, ended_at=timezone.now(), claim="", claimed_at=None
    )


def _round(*, ids: list[int], token: str) -> list[int]:
    """Run the current step of these claimed journeys in one transaction: those not due, or whose
    automation is paused, hand their claim back; those without consent exit; those past the last
    step finish; the others run their step, grouped by (version, step), a kind's ``run_many`` once
    per group (else its ``run`` per journey), with their unique JourneyStepRun rows in the same
    transaction. Returns the journeys whose next step is due now.
    """
    with transaction.atomic():
        now = timezone.now()
        journeys = list(
            Journey.objects.select_for_update(of=("self",))
            .select_related("subscriber", "version", "automation")
            .filter(pk__in=ids, claim=token, status=Journey.Status.ACTIVE)
            .order_by("pk")
        )
        waiting = {j.pk for j in journeys if j.due_at > now or j.automation.status != Automation.Status.ACTIVE}
        Journey.objects.filter(pk__in=waiting).update(claim="", claimed_at=None)
        journeys = [journey for journey in journeys if journey.pk not in waiting]

        reasons = consent_exit_reasons([journey.subscriber for journey in journeys])
        by_reason: dict[str, list[Journey]] = {}
        for journey in journeys:
            if journey.subscriber_id in reasons:
                by_reason.setdefault(reasons[journey.subscriber_id], []).append(journey)
        for reason, leaving in by_reason.items():
            _journeys_end(leaving, status=Journey.Status.EXITED, reason=reason)
        journeys = [journey for journey in journeys if journey.subscriber_id not in reasons]

        finished = [journey for journey in journeys if journey.step_index >= len(journey.version.steps)]
        _journeys_end(finished, status=Journey.Status.FINISHED)
        at_step: dict[tuple[int, int], list[Journey]] = {}
        for journey in journeys:
            if journey.step_index < len(journey.version.steps):
                at_step.setdefault((journey.version_id, journey.step_index), []).append(journey)

        again = []
        for (version_id, index), group in at_step.items():
            step = group[0].version.steps[index]
            kind = kinds.STEPS.get(step["kind"])
            params = {key: value for key, value in step.items() if key != "kind"}
            problems = kind.problems(params) if kind else [gettext("unknown step kind")]
            if problems:
                JourneyStepRun.objects.bulk_create(
                    JourneyStepRun(
                        journey=journey,
                        version_id=version_id,
                        step_index=index,
                        status=JourneyStepRun.Status.SKIPPED,
                        detail={"problems": problems},
                    )
                    for journey in group
                )
                _journeys_end(group, status=Journey.Status.EXITED, reason="broken step")
                continue
            if kind.run_many is not None:
                results = kind.run_many(group, params, index)
            else:
                results = [kind.run(journey, params, index) for journey in group]
            # The unique (journey, version, step_index) rows: should one exist already, the
            # IntegrityError rolls back the whole round, effects included.
            JourneyStepRun.objects.bulk_create(
                JourneyStepRun(
                    journey=journey,
                    version_id=version_id,
                    step_index=index,
                    detail=result.detail,
                    delivery_id=result.delivery_id,
                )
                for journey, result in zip(group, results, strict=True)
            )
            again += _journeys_move_on(group, results, index=index, now=now)
    return again


def _journeys_move_on(journeys: list[Journey], results: list[kinds.StepResult], *, index: int, now) -> list[int]:
    """Apply the step results to the journeys with one UPDATE per outcome; returns the ids due now."""
    exits: dict[str, list[Journey]] = {}
    moves: dict[tuple[int, datetime], list[int]] = {}
    for journey, result in zip(journeys, results, strict=True):
        if result.exit_reason:
            exits.setdefault(result.exit_reason, []).append(journey)
            continue
        next_index = result.next_index if result.next_index is not None else index + 1
        due_at = result.until or now + (result.wait or timedelta())
        moves.setdefault((next_index, due_at), []).append(journey.pk)
    for reason, leaving in exits.items():
        _journeys_end(leaving, status=Journey.Status.EXITED, reason=reason)
    again = []
    for (next_index, due_at), moved in moves.items():
        # Due later: hand the claim back now rather than in another round.
        later = {"claim": "", "claimed_at": None} if due_at > now else {}
        Journey.objects.filter(pk__in=moved).update(step_index=next_index, due_at=due_at, attempts=0, **later)
        if not later:
            again += moved
    return again


def journeys_advance(*, token: str) -> int:
    """Advance every journey a claim took; returns how many. The mails they queued get their
    senders once, at the end (a sender lost with a killed worker is the sweeper's to queue).

    Rounds first (``_round``): one transaction per step for the whole batch. Should a round fail,
    its journeys go on one by one (``journey_advance``), so one bad journey holds up only itself.
    """
    ids = list(Journey.objects.filter(claim=token).values_list("pk", flat=True))
    with mail.senders_batched():
        for start in range(0, len(ids), ROUND_SIZE):
            pending = ids[start : start + ROUND_SIZE]
            while pending:
                try:
                    pending = _round(ids=pending, token=token)
                except Exception:
                    logger.exception("A round of %d journeys failed; they go on one by one", len(pending))
                    for journey_id in pending:
                        journey_advance(journey_id=journey_id, token=token)
                    pending = []
    if len(ids) >= settings.KANAL_AUTOMATION_BATCH_SIZE:
        # A full batch: more may be due than one tick claims; claim again soon rather than at beat's next.
        _queue_tick()
    return len(ids)


def automations_tick() -> int:
    """Sweep stale claims and claim every due journey in batches, one task per batch (beat calls this)."""
    from automations import tasks

    journeys_sweep()
    batches = 0
    while batches < settings.KANAL_AUTOMATION_MAX_BATCHES_PER_TICK:
        token = journeys_claim(limit=settings.KANAL_AUTOMATION_BATCH_SIZE)
        if token is None:
            break
        tasks.advance_journeys.delay(token)
        batches += 1
    return batches
