"""The Redis list between the endpoints and the batcher.

An endpoint appends one compact line per event with a single RPUSH. The batcher renames the list
to a processing list (RENAMENX: atomic, and only when the previous processing list is gone),
reads it chunk by chunk, and trims a chunk only after the database committed it. A batcher that
dies mid-chunk leaves the chunk in place; the next run inserts it again and the events' unique
ids make that a no-op. The trim checks the chunk's first line, so two batchers running at once
never trim what the other has not stored.

Line format (tab-separated, the user agent last so a tab inside it is harmless)::

    kind  uid  epoch-ms  delivery  campaign  link  head  ip-hash  user-agent

with kind ``o`` (open), ``c`` (click) or ``h`` (honeypot) and 0 for an id the token did not name.
An event of a transactional message (``tracking.extensions``) has ``t<message id>`` in the
delivery field, campaign 0, and for a click the link's position in that message as its link.
"""

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import NamedTuple

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

logger = logging.getLogger(__name__)

# One hash tag, so RENAMENX also works on a Redis cluster.
QUEUE_KEY = "kanal:{tracking}:events"
PROCESSING_KEY = "kanal:{tracking}:processing"
LINKS_KEY = "kanal:{tracking}:links"
LOCK_KEY = "kanal:{tracking}:batcher"
DROPPED_KEY = "kanal:{tracking}:dropped"
RATE_KEY_PREFIX = b"kanal:{tracking}:rate"

OPEN, CLICK, HONEYPOT = "o", "c", "h"
USER_AGENT_MAX = 300
# After a failed call, skip Redis for this long instead of waiting for its timeout on every hit.
BREAKER_SECONDS = 5.0

_clients: dict[str, redis.Redis] = {}
_breaker = {"open_until": 0.0}


@receiver(setting_changed)
def _forget_clients(*, setting, **kwargs):
    if setting == "KANAL_TRACKING_REDIS_URL":
        _clients.clear()  # the endpoint connection follows its client (_endpoint_connection)
        _breaker["open_until"] = 0.0
        link_targets.clear()


def client(*, purpose: str = "endpoint") -> redis.Redis:
    """A shared client per purpose: short timeouts on the endpoints, longer ones in the batcher."""
    found = _clients.get(purpose)
    if found is None:
        timeout = 0.5 if purpose == "endpoint" else 10
        found = _clients[purpose] = redis.Redis.from_url(
            settings.KANAL_TRACKING_REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
        )
    return found


class RawEvent(NamedTuple):
    kind: str
    uid: str
    occurred_ms: int
    delivery_id: int
    campaign_id: int
    link_id: int
    head: bool
    ip_hash: str
    user_agent: str
    message_id: int = 0


MESSAGE_PREFIX = "t"


def event_line(
    *,
    kind: str,
    delivery_id: int = 0,
    campaign_id: int = 0,
    link_id: int = 0,
    message_id: int = 0,
    head: bool,
    ip_hash: str,
    user_agent: str,
    occurred_ms: int | None = None,
) -> str:
    return "\t".join(
        (
            kind,
            os.urandom(16).hex(),
            str(int(time.time() * 1000) if occurred_ms is None else occurred_ms),
            f"{MESSAGE_PREFIX}{message_id}" if message_id else str(delivery_id),
            str(campaign_id),
            str(link_id),
            "1" if head else "0",
            ip_hash,
            user_agent[:USER_AGENT_MAX],
        )
    )


def parse_line(line: bytes | str) -> RawEvent | None:
    """A queued line as a RawEvent, or None for anything malformed (dropped, never retried forever)."""
    try:
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        kind, uid, occurred_ms, delivery, campaign, link, head, ip_hash, user_agent = line.split("\t", 8)
        if kind not in (OPEN, CLICK, HONEYPOT) or len(uid) != 32:
            return None
        int(uid, 16)
        message_id = 0
        if delivery.startswith(MESSAGE_PREFIX):
            message_id, delivery = int(delivery[len(MESSAGE_PREFIX) :]), "0"
            if message_id <= 0:
                return None
        return RawEvent(
            kind=kind,
            uid=uid,
            occurred_ms=int(occurred_ms),
            message_id=message_id,
            delivery_id=int(delivery),
            campaign_id=int(campaign),
            link_id=int(link),
            head=head == "1",
            ip_hash=ip_hash[:16],
            # PostgreSQL text cannot hold NUL; other control characters are only noise.
            user_agent="".join(char if char >= " " else " " for char in user_agent)[:USER_AGENT_MAX].strip(),
        )
    except ValueError:
        return None


class _EndpointConnection(threading.local):
    """The endpoints' own Redis connection, one per process and thread, used without the client's pool.

    An RPUSH through ``Redis.rpush`` spends about 20 µs of CPU in the client's command machinery
    (pool checkout, retries, instrumentation) around a round trip of a few µs; the endpoints send
    one command they packed themselves on a connection of their own instead. The connection is
    made by the endpoint client's pool, so URL, database, password, TLS and timeouts are the same.
    """

    owner: redis.Redis | None = None
    connection: redis.connection.AbstractConnection | None = None


_endpoint = _EndpointConnection()

# RESP for ``RPUSH QUEUE_KEY <line>``: everything but the line is the same for every event.
_RPUSH_HEAD = b"*3\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n" % (len(QUEUE_KEY), QUEUE_KEY.encode())
# While the queue is full, say so in the log at most this often per process.
FULL_LOG_SECONDS = 60.0
_last_full_log = {"at": float("-inf")}


def _endpoint_forget() -> None:
    # A forked child must not talk on its parent's socket.
    _endpoint.owner = _endpoint.connection = None


os.register_at_fork(after_in_child=_endpoint_forget)


def _endpoint_connection() -> redis.connection.AbstractConnection:
    owner = _clients.get("endpoint") or client()
    if _endpoint.owner is not owner:  # first use in this thread, or the Redis URL changed (tests)
        _endpoint.connection = owner.connection_pool.make_connection()
        _endpoint.owner = owner
    return _endpoint.connection


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def push(line: str) -> bool:
    """Append one event in one round trip. False when Redis is unavailable (the caller falls back).

    The client address's hits this minute are counted in the same round trip (an INCR pipelined
    with the RPUSH; the counter's expiry is set on its first hit). An event over its address's
    rate (KANAL_TRACKING_RATE_PER_IP_PER_MINUTE) or beyond the queue's cap
    (KANAL_TRACKING_QUEUE_MAX, reached while the batcher is not draining it) is taken back out and
    counted (``dropped_counts``), a second round trip on that path only; that is True too: it must
    not take the slow way into the database either.
    """
    if time.monotonic() < _breaker["open_until"]:
        return False
    data = line.encode()
    rpush = b"%s$%d\r\n%s\r\n" % (_RPUSH_HEAD, len(data), data)
    ip_hash = line.split("\t", 8)[7]
    rate = settings.KANAL_TRACKING_RATE_PER_IP_PER_MINUTE if ip_hash else 0
    if rate:
        # One write: Redis reads both commands at once and answers them together.
        rate_key = _bulk(b"%s:%d:%s" % (RATE_KEY_PREFIX, int(time.time()) // 60, ip_hash.encode()))
        packed = [b"*2\r\n$4\r\nINCR\r\n%s%s" % (rate_key, rpush)]
    else:
        packed = [rpush]
    try:
        try:
            replies = _send(packed, replies=2 if rate else 1)
        except redis.ConnectionError:
            # Redis dropped the connection (a restart, an idle timeout): once more on a new one.
            # Should the first RPUSH have arrived after all, the event's uid stores it only once.
            replies = _send(packed, replies=2 if rate else 1)
        length = replies[-1]
        if rate and replies[0] == 1:
            # The address's first hit this minute: its counter goes once the minute is over.
            _send([b"*3\r\n$6\r\nEXPIRE\r\n%s$3\r\n120\r\n" % rate_key], replies=1)
        if rate and replies[0] > rate:
            _take_back(data, reason="rate")
        elif length > settings.KANAL_TRACKING_QUEUE_MAX:
            _take_back(data, reason="full")
            _log_queue_full()
    except (redis.RedisError, OSError) as error:
        _breaker["open_until"] = time.monotonic() + BREAKER_SECONDS
        logger.warning("Tracking Redis unavailable, event goes the slow way: %s", error)
        return False
    return True


def _take_back(data: bytes, *, reason: str) -> None:
    """Remove the event just appended (searched from the tail, where it is) and count it as dropped."""
    reason_bytes = reason.encode()
    lrem = b"*4\r\n$4\r\nLREM\r\n%s$2\r\n-1\r\n%s" % (_bulk(QUEUE_KEY.encode()), _bulk(data))
    hincrby = b"*4\r\n$7\r\nHINCRBY\r\n%s%s$1\r\n1\r\n" % (_bulk(DROPPED_KEY.encode()), _bulk(reason_bytes))
    _send([lrem + hincrby], replies=2)


def _log_queue_full() -> None:
    if time.monotonic() - _last_full_log["at"] >= FULL_LOG_SECONDS:
        _last_full_log["at"] = time.monotonic()
        logger.warning(
            "Tracking event queue is full (%s events): new events are dropped until the batcher "
            "(Celery beat and a worker) drains it",
            settings.KANAL_TRACKING_QUEUE_MAX,
        )


def _send(packed: list[bytes], *, replies: int) -> list:
    connection = _endpoint_connection()
    try:
        connection.send_packed_command(packed, check_health=False)
        return [connection.read_response() for _ in range(replies)]  # an error reply raises
    except BaseException:
        connection.disconnect()  # a reply left unread would answer the next command
        raise


def dropped_counts(*, reset: bool = False) -> dict[str, int]:
    """Events dropped since the last reset because an address was over its rate, or the queue was full."""
    pipeline = client(purpose="batcher").pipeline(transaction=True)
    pipeline.hgetall(DROPPED_KEY)
    if reset:
        pipeline.delete(DROPPED_KEY)
    counts = pipeline.execute()[0]
    return {reason: int(counts.get(reason.encode(), 0)) for reason in ("rate", "full")}


# Batcher side.

_TRIM_IF_HEAD = """
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
    redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)
    return 1
end
return 0
"""


def claim_queue() -> None:
    """Move the endpoint list to the processing list unless an unfinished one is still there."""
    connection = client(purpose="batcher")
    with contextlib.suppress(redis.ResponseError):  # nothing queued
        connection.renamenx(QUEUE_KEY, PROCESSING_KEY)


def processing_chunk(size: int) -> list[bytes]:
    return client(purpose="batcher").lrange(PROCESSING_KEY, 0, size - 1)


def processing_trim(chunk: list[bytes]) -> bool:
    """Drop ``chunk`` from the head of the processing list, if it is still there."""
    if not chunk:
        return False
    connection = client(purpose="batcher")
    return bool(connection.eval(_TRIM_IF_HEAD, 1, PROCESSING_KEY, chunk[0], len(chunk)))


def oldest_pending_ms() -> int | None:
    """When the oldest event not yet in the database happened, or None if nothing waits."""
    connection = client(purpose="batcher")
    for key in (PROCESSING_KEY, QUEUE_KEY):
        line = connection.lindex(key, 0)
        if line is not None:
            event = parse_line(line)
            if event is not None:
                return event.occurred_ms
    return None


def lag_seconds() -> float:
    """How long the oldest event not yet in the database has waited in Redis; 0 when none waits.
    Growing without end means the batcher (beat and a worker) is not running or not keeping up."""
    oldest_ms = oldest_pending_ms()
    return 0.0 if oldest_ms is None else max(0.0, time.time() - oldest_ms / 1000)


def pending_count() -> int:
    connection = client(purpose="batcher")
    return connection.llen(QUEUE_KEY) + connection.llen(PROCESSING_KEY)


def lock_acquire(*, seconds: int) -> str | None:
    token = os.urandom(8).hex()
    return token if client(purpose="batcher").set(LOCK_KEY, token, nx=True, ex=seconds) else None


def lock_release(token: str) -> None:
    client(purpose="batcher").eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        1,
        LOCK_KEY,
        token,
    )


# Link targets, for redirects while the database is away.


class LinkTargets:
    """Process-wide LRU of link id → target URL. Link rows never change, so nothing goes stale."""

    def __init__(self, maxsize: int = 20_000):
        self.maxsize = maxsize
        self._data: OrderedDict[int, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, link_id: int) -> str | None:
        with self._lock:
            url = self._data.get(link_id)
            if url is not None:
                self._data.move_to_end(link_id)
            return url

    def put(self, link_id: int, url: str) -> None:
        with self._lock:
            self._data[link_id] = url
            self._data.move_to_end(link_id)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


link_targets = LinkTargets()


def link_targets_store(targets: dict[int, str]) -> None:
    """Keep link targets in Redis too (best effort), for redirects while the database is down."""
    if not targets:
        return
    try:
        client().hset(LINKS_KEY, mapping={str(key): value for key, value in targets.items()})
    except redis.RedisError as error:
        logger.warning("Could not copy link targets to Redis: %s", error)


def link_target_from_redis(link_id: int) -> str | None:
    if time.monotonic() < _breaker["open_until"]:
        return None
    try:
        value = client().hget(LINKS_KEY, str(link_id))
    except redis.RedisError:
        _breaker["open_until"] = time.monotonic() + BREAKER_SECONDS
        return None
    return value.decode() if value is not None else None
