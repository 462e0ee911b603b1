"""The reproducible split of an A/B test's audience into test groups and the rest.

Each subscriber's place comes from a keyed hash of the test and the subscriber: the same on every
call and every machine, unpredictable without the server's secret, and independent between tests.
"""

import hashlib
from collections.abc import Iterable

from django.conf import settings

REST = None


def _key() -> bytes:
    return hashlib.blake2b(settings.SECRET_KEY.encode(), person=b"kanal-ab-split", digest_size=32).digest()


def bucket(*, test_id: int, subscriber_id: int, key: bytes | None = None) -> float:
    """A number in [0, 1), uniform over subscribers, fixed for this test and subscriber."""
    digest = hashlib.blake2b(f"{test_id}:{subscriber_id}".encode(), key=key or _key(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_audience(
    *, test_id: int, subscriber_ids: Iterable[int], test_share: int, variants: int
) -> dict[int | None, list[int]]:
    """Subscriber ids by group: 0 … variants − 1 for the test groups (``test_share`` percent of the
    audience, evenly), ``REST`` for the others."""
    key = _key()
    share = test_share / 100
    groups: dict[int | None, list[int]] = {index: [] for index in range(variants)}
    groups[REST] = []
    for subscriber_id in subscriber_ids:
        value = bucket(test_id=test_id, subscriber_id=subscriber_id, key=key)
        groups[min(int(value / share * variants), variants - 1) if value < share else REST].append(subscriber_id)
    return groups
