"""Automation writes: saving and activating, entering journeys, and the runner that advances them.

Exactly once per (journey, step) by database state: a step's effect, its JourneyStepRun row and the
journey's advance commit together, in the transaction that locked the journey. See
docs/architecture.md, Automations.
"""

import calendar
import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from time import monotonic as time_monotonic

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
from newsletter_site.bulk import db_value, insert_rows
from offers.models import Offer, Redemption
from offers.selectors import codes_given
from subscribers.models import CustomField, Subscriber, Subscription
from subscribers.selectors import addresses_suppressed, custom_field_q
from tracking.selectors.audience import subscribers_individually_tracked

logger = logging.getLogger(__name__)

ENTRY_CHUNK = 2000
# Journeys per round: below SQLite's 999 query parameters.
ROUND_SIZE = 500
# Steps one journey may take in one round; a longer run of steps due at once goes on next round.
ROUND_STEPS = 20
ENTRY_TICK_SECONDS = 1
# How long one runner task goes on before it hands over to a fresh one (a queued tick).
ADVANCE_SECONDS = 10
# A runner slot's lease, renewed every round: a killed runner's slot frees after this.
RUNNER_SLOT_SECONDS = 5
# A queued runner still starts after waiting this long for a worker (one restarting after a kill):
# expiring with the slot's lease instead had every runner of a restart expire unstarted.
RUNNER_EXPIRES_SECONDS = 120


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
        status=Journey.Status.EXITED, exited_reason="archived", ended_at=timezone.now()
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
    and its step runs (unique per version and step) never collide. A journey a runner holds is skipped
    (its row is locked), so no journey changes version in the middle of a step.
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
            automation=automation, version=from_version, status=Journey.Status.ACTIVE, step_index=old_index
        )
        if db_connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        ids = list(candidates.values_list("pk", flat=True))
        moved += Journey.objects.filter(pk__in=ids, version=from_version, step_index=old_index).update(
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
    constants = {
        "automation": automation.pk,
        "version": version_id,
        "due_at": now,
        "entered_at": now,
        "status": Journey.Status.ACTIVE,
        "step_index": 0,
        "attempts": 0,
        "exited_reason": "",
    }
    for start in range(0, len(ids), ENTRY_CHUNK):
        chunk = [(pk,) for pk in ids[start : start + ENTRY_CHUNK]]
        started += insert_rows(Journey, columns=["subscriber"], rows=chunk, constants=constants, ignore_conflicts=True)
    if started:
        transaction.on_commit(_queue_tick)
    return started


@transaction.atomic
def journey_enrol(*, automation: Automation, subscriber: Subscriber, payload: dict) -> Journey | None:
    """Enter one subscriber into an active automation with the trigger "api", keeping ``payload`` for
    its mails (``{{ subscriber.payload.<key> }}``). None when the entry rules keep them out: not
    active, suppressed, outside the entry segment, or the re-entry rule.
    """
    if automation.trigger_kind != kinds.API_ENROLLED:
        raise ValueError(f"automation {automation.pk} is not entered through the API")
    if not journeys_enter(automation=automation, candidates=Subscriber.objects.filter(pk=subscriber.pk)):
        return None
    journey = Journey.objects.get(automation=automation, subscriber=subscriber, status=Journey.Status.ACTIVE)
    journey.payload = payload
    journey.save(update_fields=["payload"])
    return journey


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


def offer_deadline_triggers_evaluate(*, now: datetime | None = None) -> int:
    """Enter those who were given a code of the trigger's offer and have not redeemed it, from the
    trigger's days before the offer ends until it ends (beat). Each person once per offer: a journey
    of this automation entered since that window opened keeps them out, whatever the re-entry rule.
    """
    now = now or timezone.now()
    started = 0
    for automation in Automation.objects.filter(status=Automation.Status.ACTIVE, trigger_kind=triggers.OFFER_DEADLINE):
        params = automation.trigger_params
        offer = Offer.objects.filter(pk=params["offer"]).first()
        if offer is None:
            logger.warning("Automation %s: its offer is gone; nobody enters", automation.pk)
            continue
        opens = offer.expires_at - timedelta(days=params["days"])
        if not opens <= now < offer.expires_at:
            continue
        given = codes_given(offer_id=offer.pk).filter(delivery__subscriber=OuterRef("pk"))
        redeemed = Redemption.objects.filter(subscriber=OuterRef("pk"), offer=offer)
        entered = Journey.objects.filter(automation=automation, subscriber=OuterRef("pk"), entered_at__gte=opens)
        candidates = Subscriber.objects.filter(Exists(given)).exclude(Exists(redeemed)).exclude(Exists(entered))
        started += journeys_enter(automation=automation, candidates=candidates)
    return started


def _journeys_due(*, now: datetime, ids: list[int] | None = None) -> list[Journey]:
    """Up to ROUND_SIZE due journeys of active automations, locked until the caller's transaction
    ends: skipped by other runners on PostgreSQL (SKIP LOCKED), behind SQLite's one writer there.

    The locked ids come first, from the journeys alone in due order (the (status, due_at) index
    stops after ROUND_SIZE rows); joined to their subscribers and sorted by a tie-breaker, 100,000
    journeys due at the same moment cost PostgreSQL a second per round.
    """
    due = _due(now=now)
    if ids is not None:
        due = due.filter(pk__in=ids)
    if db_connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True)
    taken = list(due.order_by("due_at").values_list("pk", flat=True)[:ROUND_SIZE])
    if not taken:
        return []
    return list(Journey.objects.filter(pk__any_of=taken).select_related("subscriber").order_by("due_at", "pk"))


def _due(*, now: datetime) -> QuerySet[Journey]:
    active = list(Automation.objects.filter(status=Automation.Status.ACTIVE).values_list("pk", flat=True))
    return Journey.objects.filter(status=Journey.Status.ACTIVE, due_at__lte=now, automation_id__in=active)


def journeys_due_exist() -> bool:
    return _due(now=timezone.now()).exists()


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


def _attach_versions(journeys: list[Journey]) -> None:
    """Each journey's version and automation from one query each, not one copy per journey row."""
    versions = AutomationVersion.objects.in_bulk({journey.version_id for journey in journeys})
    automations = Automation.objects.in_bulk({journey.automation_id for journey in journeys})
    for journey in journeys:
        journey.version = versions[journey.version_id]
        journey.automation = automations[journey.automation_id]


def _round(*, now: datetime, ids: list[int] | None = None, taken: list[int] | None = None) -> int:
    """Take up to ROUND_SIZE due journeys (or those of ``ids`` that are due) and, in one transaction,
    run every step each is due for now: those without consent exit, those past the last step finish,
    the others run their step grouped by (version, step) - a kind's ``run_many`` once per group,
    else its ``run`` per journey - with their unique JourneyStepRun rows, again while the next step
    is due too (at most ROUND_STEPS), and the journeys' new state is written with one UPDATE per
    outcome at the end. Returns how many journeys it took; ``taken`` gets their ids.

    Nothing is claimed beyond the transaction: a runner killed mid-round leaves every journey as it
    was, due, for the next round, without any stale time.
    """
    with transaction.atomic():
        journeys = _journeys_due(now=now, ids=ids)
        if taken is not None:
            taken += [journey.pk for journey in journeys]
        if not journeys:
            return 0
        _attach_versions(journeys)
        ended: dict[int, tuple[str, str]] = {}
        reasons = consent_exit_reasons([journey.subscriber for journey in journeys])
        for journey in journeys:
            if journey.subscriber_id in reasons:
                ended[journey.pk] = (Journey.Status.EXITED, reasons[journey.subscriber_id])
        touched = [journey for journey in journeys if journey.pk not in ended]
        running = touched
        for _ in range(ROUND_STEPS):
            running = _steps_run(running, ended=ended, now=now)
            if not running:
                break
        _journeys_write(journeys, ended=ended, now=now)
    return len(journeys)


def _steps_run(journeys: list[Journey], *, ended: dict[int, tuple[str, str]], now: datetime) -> list[Journey]:
    """Run the current step of each journey; returns those whose next step is due now."""
    at_step: dict[tuple[int, int], list[Journey]] = {}
    for journey in journeys:
        if journey.step_index >= len(journey.version.steps):
            ended[journey.pk] = (Journey.Status.FINISHED, "")
        else:
            at_step.setdefault((journey.version_id, journey.step_index), []).append(journey)
    again = []
    for (version_id, index), group in at_step.items():
        step = group[0].version.steps[index]
        kind = kinds.STEPS.get(step["kind"])
        params = {key: value for key, value in step.items() if key != "kind"}
        problems = kind.problems(params) if kind else [gettext("unknown step kind")]
        if problems:
            _runs_insert(group, version_id=version_id, index=index, skipped={"problems": problems})
            for journey in group:
                ended[journey.pk] = (Journey.Status.EXITED, "broken step")
            continue
        if kind.run_many is not None:
            results = kind.run_many(group, params, index)
        else:
            results = [kind.run(journey, params, index) for journey in group]
        # The unique (journey, version, step_index) rows: should one exist already, the
        # IntegrityError rolls back the whole round, effects included.
        _runs_insert(group, version_id=version_id, index=index, results=results)
        for journey, result in zip(group, results, strict=True):
            if result.exit_reason:
                ended[journey.pk] = (Journey.Status.EXITED, result.exit_reason)
                continue
            journey.step_index = result.next_index if result.next_index is not None else index + 1
            journey.due_at = result.until or now + (result.wait or timedelta())
            journey.attempts = 0
            if journey.due_at <= now:
                again.append(journey)
    return again


def _runs_insert(
    journeys: list[Journey],
    *,
    version_id: int,
    index: int,
    results: list[kinds.StepResult] | None = None,
    skipped: dict | None = None,
) -> None:
    ran_at = timezone.now()
    nothing = db_value(JourneyStepRun, "detail", {})
    if skipped is not None:
        rows = [(journey.pk, db_value(JourneyStepRun, "detail", skipped), None) for journey in journeys]
        status = JourneyStepRun.Status.SKIPPED
    else:
        rows = [
            (
                journey.pk,
                db_value(JourneyStepRun, "detail", result.detail) if result.detail else nothing,
                result.delivery_id,
            )
            for journey, result in zip(journeys, results, strict=True)
        ]
        status = JourneyStepRun.Status.DONE
    insert_rows(
        JourneyStepRun,
        columns=["journey", "detail", "delivery"],
        rows=rows,
        constants={"version": version_id, "step_index": index, "status": status, "ran_at": ran_at},
    )


def _journeys_write(journeys: list[Journey], *, ended: dict[int, tuple[str, str]], now: datetime) -> None:
    """Write the journeys' new step, due time and end, one UPDATE per distinct outcome."""
    outcomes: dict[tuple, list[int]] = {}
    for journey in journeys:
        status, reason = ended.get(journey.pk, (Journey.Status.ACTIVE, ""))
        outcomes.setdefault((journey.step_index, journey.due_at, journey.attempts, status, reason), []).append(
            journey.pk
        )
    for (step_index, due_at, attempts, status, reason), ids in outcomes.items():
        ending = {} if status == Journey.Status.ACTIVE else {"exited_reason": reason, "ended_at": now}
        Journey.objects.filter(pk__any_of=ids).update(
            step_index=step_index, due_at=due_at, attempts=attempts, status=status, **ending
        )


def journey_advance(*, journey_id: int) -> int:
    """Run the steps this journey is due for, alone; a step that raises is tried again after
    KANAL_AUTOMATION_RETRY_SECONDS (``attempts`` counts). Returns 1 if it was due, else 0."""
    try:
        return _round(now=timezone.now(), ids=[journey_id])
    except Exception:
        logger.exception("Journey %s: the step failed; it runs again later", journey_id)
        retry_in = timedelta(seconds=settings.KANAL_AUTOMATION_RETRY_SECONDS)
        Journey.objects.filter(pk=journey_id, status=Journey.Status.ACTIVE).update(
            attempts=F("attempts") + 1, due_at=timezone.now() + retry_in
        )
        return 1


def journeys_advance(*, seconds: float | None = None, on_round: Callable[[], None] | None = None) -> int:
    """Advance due journeys round after round until none is due or ``seconds`` have passed (then
    another runner is queued); returns how many journeys the rounds took. The mails a round queued
    get their senders once it commits.

    Should a round fail, the journeys it took go on one by one (``journey_advance``), so one bad
    journey holds up only itself.
    """
    deadline = time_monotonic() + (ADVANCE_SECONDS if seconds is None else seconds)
    advanced = 0
    with mail.senders_batched():
        while True:
            taken: list[int] = []
            try:
                took = _round(now=timezone.now(), taken=taken)
            except Exception:
                logger.exception("A round of %d journeys failed; they go on one by one", len(taken))
                took = sum(journey_advance(journey_id=journey_id) for journey_id in taken)
            mail.senders_flush()
            if on_round is not None:
                on_round()
            advanced += took
            if not took:
                return advanced
            if time_monotonic() > deadline:
                break
    _queue_tick()
    return advanced


def automations_tick() -> int:
    """Queue a runner for each free runner slot while journeys are due (beat calls this, and an
    entry a second later); returns how many were queued.

    A slot only bounds how many runners work at once; runners claim nothing, so a slot held by a
    killed runner costs a few seconds of parallelism, never a journey.
    """
    from automations import tasks

    if not journeys_due_exist():
        return 0
    queued = 0
    for slot in range(settings.KANAL_AUTOMATION_RUNNERS):
        if cache.add(f"automations:runner:{slot}", 1, timeout=RUNNER_SLOT_SECONDS):
            tasks.advance_journeys.apply_async(args=(slot,), expires=RUNNER_EXPIRES_SECONDS)
            queued += 1
    return queued


def runner_slot_hold(slot: int) -> None:
    cache.set(f"automations:runner:{slot}", 1, timeout=RUNNER_SLOT_SECONDS)


def runner_slot_free(slot: int) -> None:
    cache.delete(f"automations:runner:{slot}")
