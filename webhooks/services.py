"""Publishing events to endpoints and delivering them: at least once, signed, with backoff."""

import json
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from newsletter_site import mail, outbound
from newsletter_site.permissions import has_staff_permissions
from webhooks import selectors, signing
from webhooks.events import TEST_EVENT
from webhooks.models import Delivery, Endpoint, Message

logger = logging.getLogger(__name__)

# After the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, about 27.5 hours in all.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
# A retry this soon gets its own task; later ones are found by the beat sweep.
QUEUED_RETRY_LIMIT = timedelta(minutes=10)
# Deliveries one claim takes of an endpoint, and how long a task sends to one endpoint before it
# queues itself again behind the other endpoints' tasks.
BATCH_SIZE = 100
TIME_SLICE = timedelta(seconds=10)
# Longer than a time slice and the attempt begun at its end (the timeout), so a claim runs out
# only for a dead worker.
CLAIM_LEASE = timedelta(seconds=60)
RESPONSE_MAX_BYTES = 1024
ALERT_PERMISSION = "webhooks.change_endpoint"


def retry_delay(*, attempts: int) -> timedelta | None:
    """How long to wait after ``attempts`` failed attempts; None when it is time to give up."""
    return RETRY_DELAYS[attempts - 1] if 1 <= attempts <= len(RETRY_DELAYS) else None


def _enqueue(endpoint_ids, countdown: float = 0) -> None:
    from webhooks.tasks import deliver_endpoint

    for endpoint_id in endpoint_ids:
        deliver_endpoint.apply_async(args=[endpoint_id], countdown=countdown)


def _enqueue_on_commit(endpoint_ids) -> None:
    """Queue each endpoint's task once the transaction commits, once however many events it
    published. The transaction's set of endpoints is kept beside Django's list of its commit
    callbacks, which Django replaces when the transaction ends or a savepoint rolls back (then a
    second set begins: at worst a task more, which finds nothing due)."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _enqueue(sorted(set(endpoint_ids)))
        return
    callbacks, ids = getattr(connection, "_webhooks_pending", (None, None))
    if callbacks is not connection.run_on_commit:
        ids = set()
        connection._webhooks_pending = (connection.run_on_commit, ids)
        transaction.on_commit(lambda: _enqueue(sorted(ids)))
    ids.update(endpoint_ids)


class _BatchMarker:
    """A commit callback that does nothing: its presence says its savepoint did not roll back."""

    def __call__(self) -> None:
        pass


@dataclass(frozen=True)
class Event:
    """One event to publish: its type, its JSON, and whom it is about (for an erasure to find it)."""

    event_type: str
    data: dict
    subscriber_id: int | None = None


def _active_endpoints() -> list[Endpoint]:
    """The active endpoints, read once per transaction (publishing runs in one): a transaction that
    publishes many events reads them once, and the next transaction sees what another process
    changed meanwhile. Kept beside Django's list of the transaction's commit callbacks, which is
    new for every transaction (and after a savepoint rollback: then they are read again). An
    endpoint saved or deleted in this process drops them at once (``endpoints_forget``)."""
    connection = transaction.get_connection()
    callbacks, endpoints = getattr(connection, "_webhooks_endpoints", (None, None))
    if callbacks is not connection.run_on_commit:
        endpoints = selectors.endpoints_active()
        connection._webhooks_endpoints = (connection.run_on_commit, endpoints)
    return endpoints


def endpoints_forget() -> None:
    """An endpoint changed: the next publish reads them again, even in this transaction."""
    transaction.get_connection()._webhooks_endpoints = (None, None)


def _message_build(*, event: Event, at) -> Message:
    return Message(
        event_type=event.event_type,
        payload={"type": event.event_type, "timestamp": at.isoformat(), "data": event.data},
        subscriber_id=event.subscriber_id,
    )


def _messages_store(targets: list[tuple[Message, list[Endpoint]]]) -> None:
    """Insert the messages and their deliveries, two INSERTs however many; queue each endpoint's
    task once the transaction commits."""
    if not targets:
        return
    messages = [message for message, _endpoints in targets]
    Message.objects.bulk_create(messages)  # sets each pk (PostgreSQL, SQLite >= 3.35: RETURNING)
    now = timezone.now()
    Delivery.objects.bulk_create(
        Delivery(message=message, endpoint=endpoint, next_attempt_at=now)
        for message, endpoints in targets
        for endpoint in endpoints
    )
    _enqueue_on_commit({endpoint.pk for _message, endpoints in targets for endpoint in endpoints})


@transaction.atomic(savepoint=False)
def events_publish(*, events: list[Event]) -> list[Message | None]:
    """Store each event and a delivery for each active endpoint that chose it, in the caller's
    transaction, in three queries however many events (the endpoints, the messages, the
    deliveries); each endpoint's task is queued once it commits (the beat sweep catches a lost
    one). Nothing is stored for an event no endpoint wants (None in its place). No savepoint of its
    own: a failure here fails the caller's transaction; no caller goes on after one.

    Inside ``events_batched()`` the messages are built now and stored at the end of the block."""
    endpoints = _active_endpoints()
    now = timezone.now()
    results, targets = [], []
    for event in events:
        chosen = [endpoint for endpoint in endpoints if event.event_type in endpoint.events]
        message = _message_build(event=event, at=now) if chosen else None
        results.append(message)
        if message is not None:
            targets.append((message, chosen))
    batch = getattr(transaction.get_connection(), "_webhooks_batch", None)
    if batch is None:
        _messages_store(targets)
    elif targets:
        # Django drops the commit callbacks of a savepoint that rolls back; so the block's end knows
        # these events went with it by this marker's absence.
        marker = _BatchMarker()
        transaction.on_commit(marker)
        batch.append((marker, targets))
    return results


def event_publish(*, event_type: str, data: dict, subscriber_id: int | None = None) -> Message | None:
    """One event (``events_publish``): two INSERTs, and the endpoints read once per transaction."""
    [message] = events_publish(events=[Event(event_type=event_type, data=data, subscriber_id=subscriber_id)])
    return message


@contextmanager
def events_batched():
    """Events published inside the block are stored together when it ends, in the same transaction
    (it opens one if there is none): three queries for the block however many events it publishes.
    The messages ``event_publish`` returns inside it get their primary keys at that end. An
    exception in the block stores nothing (and fails an enclosing transaction, as a publish would).
    Nested blocks are stored by the outermost one."""
    connection = transaction.get_connection()
    if getattr(connection, "_webhooks_batch", None) is not None:
        yield
        return
    with transaction.atomic(savepoint=False):
        batch = connection._webhooks_batch = []
        try:
            yield
        finally:
            connection._webhooks_batch = None
        alive = {callback for _savepoints, callback, _robust in connection.run_on_commit}
        _messages_store([target for marker, targets in batch if marker in alive for target in targets])


@transaction.atomic
def endpoint_test_send(*, endpoint: Endpoint) -> Message:
    """A ``webhook.test`` message to this endpoint alone, delivered and logged like any other."""
    event = Event(event_type=TEST_EVENT, data={"endpoint": endpoint.pk, "description": endpoint.description})
    message = _message_build(event=event, at=timezone.now())
    _messages_store([(message, [endpoint])])
    return message


@transaction.atomic
def _claim(*, endpoint_id: int, limit: int = BATCH_SIZE) -> list[int]:
    """Take up to ``limit`` of the endpoint's due deliveries, oldest first, by moving them a lease
    ahead in one UPDATE; returns their ids. Rows another transaction is claiming are skipped
    (PostgreSQL), or wait for its commit and then are no longer due (SQLite: one writer)."""
    now = timezone.now()
    due = (
        selectors.deliveries_due(now=now)
        .filter(endpoint_id=endpoint_id)
        .order_by("next_attempt_at", "pk")
        .select_for_update(skip_locked=True, of=("self",))
        .values("pk")[:limit]
    )
    due_sql, due_params = due.query.sql_with_params()
    quote = connection.ops.quote_name
    table, pk, column = quote(Delivery._meta.db_table), quote(Delivery._meta.pk.column), quote("next_attempt_at")
    moved = connection.ops.adapt_datetimefield_value(now + CLAIM_LEASE)
    with connection.cursor() as cursor:
        # Still due in the outer WHERE too: a row locked meanwhile is checked again once it is free.
        cursor.execute(
            f"UPDATE {table} SET {column} = %s WHERE {pk} IN ({due_sql}) AND {column} <= %s RETURNING {pk}",  # noqa: S608 (names quoted, values as parameters)
            [moved, *due_params, connection.ops.adapt_datetimefield_value(now)],
        )
        return sorted(row[0] for row in cursor.fetchall())


def message_body(message: Message) -> bytes:
    return json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Outcome:
    """What one attempt brought: an answer's status and body, or why there was none."""

    delivery: Delivery
    status_code: int | None = None
    response: str = ""
    error: str = ""

    @property
    def reached(self) -> bool:
        return self.status_code is not None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def endpoint_deliver(*, endpoint_id: int, time_slice: timedelta = TIME_SLICE) -> int:
    """Send the endpoint's due deliveries, a claimed batch at a time, until none is due, the
    endpoint cannot be reached, or the time slice is used up (then the task is queued again).
    A batch is shared out over ``KANAL_WEBHOOK_CONNECTIONS`` kept-alive connections, one thread
    each, kept for the whole run. Safe to run twice at once: a delivery is claimed by one run.
    Returns the attempts made.

    2xx is success; anything else (another status, a redirect, which is not followed) fails the
    attempt and the next one is scheduled until the retries are used up. When a connection fails
    (refused, timeout, a private address), that attempt fails, and so do the deliveries left for
    that connection in the batch, unsent, with the same error: the endpoint could not be reached.
    """
    endpoint = Endpoint.objects.filter(pk=endpoint_id, is_active=True).first()
    if endpoint is None:
        return 0
    slice_end = time.monotonic() + time_slice.total_seconds()
    attempted, retries = 0, set()
    posters = [
        outbound.Poster(endpoint.url, timeout=settings.KANAL_WEBHOOK_TIMEOUT_SECONDS, max_bytes=RESPONSE_MAX_BYTES)
        for _lane in range(max(1, settings.KANAL_WEBHOOK_CONNECTIONS))
    ]
    with ThreadPoolExecutor(max_workers=len(posters)) as pool, ExitStack() as stack:
        for poster in posters:
            stack.enter_context(poster)
        while ids := _claim(endpoint_id=endpoint_id):
            deliveries = list(Delivery.objects.filter(pk__in=ids).select_related("message").order_by("pk"))
            lanes = [
                pool.submit(
                    _lane_send,
                    poster=poster,
                    endpoint=endpoint,
                    deliveries=deliveries[lane :: len(posters)],
                    until=slice_end,
                )
                for lane, poster in enumerate(posters)
            ]
            outcomes, unsent = [], []
            for lane in lanes:
                lane_outcomes, lane_unsent = lane.result()
                outcomes += lane_outcomes
                unsent += lane_unsent
            outcomes.sort(key=lambda outcome: outcome.delivery.pk)
            retries |= _outcomes_record(endpoint_id=endpoint_id, outcomes=outcomes)
            attempted += len(outcomes)
            if unsent:  # the time slice is over: due again at once, with no attempt counted
                Delivery.objects.filter(pk__in=unsent).update(next_attempt_at=timezone.now())
            if not all(outcome.reached for outcome in outcomes):
                break
            if time.monotonic() >= slice_end:
                _enqueue([endpoint_id])
                break
    for delay in sorted(retries):
        _enqueue([endpoint_id], countdown=delay.total_seconds())
    return attempted


def _lane_send(*, poster, endpoint: Endpoint, deliveries: list[Delivery], until: float):
    """POST each delivery in turn over ``poster``; returns the outcomes, and the ids left unsent
    when ``until`` came."""
    outcomes, unreachable = [], ""
    for index, delivery in enumerate(deliveries):
        if unreachable:
            outcomes.append(Outcome(delivery=delivery, error=unreachable))
            continue
        if outcomes and time.monotonic() >= until:
            return outcomes, [delivery.pk for delivery in deliveries[index:]]
        body = message_body(delivery.message)
        headers = {
            "Content-Type": "application/json",
            **signing.headers(
                secret=endpoint.secret, message_id=delivery.message.message_id, timestamp=int(time.time()), body=body
            ),
        }
        try:
            answer = poster.post(body=body, headers=headers)
        except outbound.FetchError as failure:
            unreachable = f"{failure.code}: {failure.detail}"[:500]
            outcomes.append(Outcome(delivery=delivery, error=unreachable))
        else:
            response = answer.content.decode("utf-8", "replace")
            outcomes.append(Outcome(delivery=delivery, status_code=answer.status, response=response))
    return outcomes, []


@transaction.atomic
def _outcomes_record(*, endpoint_id: int, outcomes: list[Outcome]) -> set[timedelta]:
    """Store a batch's attempts in a few UPDATEs (one per distinct result). A success resets the
    endpoint's count of given-up deliveries, so only those given up after the batch's last success
    count towards disabling it. Returns the retry delays short enough for a task of their own."""
    now = timezone.now()
    groups, exhausted, retries = defaultdict(list), 0, set()
    for outcome in outcomes:
        attempts = outcome.delivery.attempts + 1
        error = outcome.error or ("" if outcome.succeeded else f"HTTP {outcome.status_code}")
        if outcome.succeeded:
            status, next_attempt_at, exhausted = Delivery.Status.SUCCEEDED, None, 0
        elif (delay := retry_delay(attempts=attempts)) is None:
            status, next_attempt_at = Delivery.Status.EXHAUSTED, None
            exhausted += 1
        else:
            status, next_attempt_at = Delivery.Status.FAILED, now + delay
            if delay <= QUEUED_RETRY_LIMIT:
                retries.add(delay)
        key = (status, attempts, next_attempt_at, outcome.status_code, outcome.response, error)
        groups[key].append(outcome.delivery.pk)
    for (status, attempts, next_attempt_at, status_code, response, error), ids in groups.items():
        Delivery.objects.filter(pk__in=ids).update(
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_attempt_at=now,
            last_status_code=status_code,
            last_response=response,
            last_error=error,
        )
    if any(outcome.succeeded for outcome in outcomes):
        Endpoint.objects.filter(pk=endpoint_id).exclude(consecutive_failures=0).update(consecutive_failures=0)
    if exhausted:
        endpoint_exhaustion_record(endpoint_id=endpoint_id, count=exhausted)
    return retries


def deliveries_requeue() -> int:
    """Beat: queue the task of every endpoint with a due delivery (a lost task message, a dead
    worker's claim, a late retry). Returns how many endpoints."""
    ids = list(selectors.deliveries_due().order_by().values_list("endpoint_id", flat=True).distinct())
    _enqueue(ids)
    return len(ids)


@transaction.atomic
def deliveries_retry(*, delivery_ids) -> int:
    """Staff start given-up or failing deliveries afresh: a new round of retries, due now."""
    deliveries = Delivery.objects.filter(pk__in=delivery_ids).exclude(status=Delivery.Status.SUCCEEDED)
    ids, endpoint_ids = set(), set()
    for pk, endpoint_id in deliveries.values_list("pk", "endpoint_id"):
        ids.add(pk)
        endpoint_ids.add(endpoint_id)
    Delivery.objects.filter(pk__in=ids).update(
        status=Delivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    _enqueue_on_commit(endpoint_ids)
    return len(ids)


def alert_recipients() -> list[str]:
    users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="").order_by("pk")
    return sorted({user.email for user in users if has_staff_permissions(user, ALERT_PERMISSION)})


@transaction.atomic
def endpoint_exhaustion_record(*, endpoint_id: int, count: int = 1) -> bool:
    """Count ``count`` deliveries given up; at ``KANAL_WEBHOOK_DISABLE_AFTER`` in a row, disable the endpoint
    and mail staff once. The row is locked, so two workers giving up at once send one mail.
    Returns whether the endpoint was disabled now."""
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
    endpoint.consecutive_failures += count
    disable = endpoint.is_active and endpoint.consecutive_failures >= settings.KANAL_WEBHOOK_DISABLE_AFTER
    if disable:
        endpoint.is_active = False
        endpoint.disabled_at = timezone.now()
        endpoint.disabled_reason = gettext("%(count)d deliveries in a row were given up.") % {
            "count": endpoint.consecutive_failures
        }
    endpoint.save(update_fields=["consecutive_failures", "is_active", "disabled_at", "disabled_reason"])
    if disable:
        _disabled_mail_send(endpoint=endpoint)
    return disable


def _disabled_mail_send(*, endpoint: Endpoint) -> None:
    recipients = alert_recipients()
    if not recipients:
        logger.warning("Webhook endpoint %s was disabled and no staff user may change endpoints", endpoint.pk)
        return
    context = {
        "endpoint": endpoint,
        "url": settings.SITE_URL + reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
    }
    subject = render_to_string("webhooks/email/endpoint_disabled_subject.txt", context).strip()
    text = render_to_string("webhooks/email/endpoint_disabled.txt", context)
    sender = mail.Sender.of(settings.DEFAULT_FROM_EMAIL)
    for address in recipients:
        mail.message(
            sender=sender,
            to=address,
            subject=subject,
            text=text,
            kind="webhook-disabled",
            tags=["webhook-disabled"],
            track=False,
        ).send()


@transaction.atomic
def endpoint_enable(*, endpoint: Endpoint) -> None:
    """Staff turned it back on: count afresh; waiting deliveries are due again."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        is_active=True, consecutive_failures=0, disabled_at=None, disabled_reason=""
    )
    endpoints_forget()


def subscriber_messages_erase(*, subscriber_id: int, public_id: str) -> int:
    """An erased subscriber's past events keep only their public id (pending deliveries too)."""
    messages = list(Message.objects.filter(subscriber_id=subscriber_id))
    for message in messages:
        message.payload = {**message.payload, "data": {"subscriber": {"id": public_id}, "erased": True}}
        message.subscriber_id = None
    Message.objects.bulk_update(messages, ["payload", "subscriber_id"])
    return len(messages)


def messages_expire(*, now=None, batch_size: int = 1000) -> int:
    """Delete the messages older than ``KANAL_WEBHOOK_LOG_DAYS`` whose deliveries are all done
    (succeeded or given up), with their deliveries, a batch per transaction. Returns how many."""
    if settings.KANAL_WEBHOOK_LOG_DAYS <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=settings.KANAL_WEBHOOK_LOG_DAYS)
    expired = Message.objects.filter(created_at__lt=cutoff).exclude(deliveries__status__in=selectors.DUE_STATUSES)
    total = 0
    while ids := list(expired.order_by("pk").values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            Delivery.objects.filter(message_id__in=ids).delete()
            Message.objects.filter(pk__in=ids).delete()
        total += len(ids)
    if total:
        logger.info("Webhook log: %d messages older than %d days removed", total, settings.KANAL_WEBHOOK_LOG_DAYS)
    return total
