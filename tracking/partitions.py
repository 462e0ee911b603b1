"""The monthly partitions of ``tracking_event`` on PostgreSQL (docs/architecture.md, "Retention").

On PostgreSQL the events table is partitioned by range of ``occurred_at``: one partition per
calendar month in UTC, named ``tracking_event_yYYYYmMM``, and a DEFAULT partition that takes any
row no month partition covers, so the batcher never fails to insert. SQLite keeps one plain
table; every function here is for PostgreSQL only and takes a cursor, so migration 0005 and the
services share it. Keep the signatures stable: that migration calls them.
"""

import re
from datetime import UTC, datetime

TABLE = "tracking_event"
# How many months after the current one have their partition ready.
MONTHS_AHEAD = 3
DEFAULT_PARTITION = f"{TABLE}_default"
# pg_advisory_xact_lock id serialising partition changes across hosts ("kanalp" in ASCII).
PARTITION_LOCK_ID = 0x6B616E616C70
_NAME = re.compile(rf"^{TABLE}_y(\d{{4}})m(\d{{2}})$")


def month_start(moment: datetime) -> datetime:
    """The first instant of the UTC month ``moment`` falls in."""
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def month_after(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"{TABLE}_y{start.year:04d}m{start.month:02d}"


def is_partitioned(cursor) -> bool:
    cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))", [TABLE])
    return cursor.fetchone()[0]


def month_partitions(cursor) -> list[tuple[str, datetime, datetime]]:
    """The attached month partitions, oldest first: (name, first instant, first instant after)."""
    cursor.execute(
        "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
        "WHERE pg_inherits.inhparent = to_regclass(%s)",
        [TABLE],
    )
    months = []
    for (name,) in cursor.fetchall():
        found = _NAME.match(name)
        if found:
            start = datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC)
            months.append((name, start, month_after(start)))
    return sorted(months, key=lambda month: month[1])


def lock(cursor) -> None:
    """Serialise partition changes (several hosts run beat and the expiry), for this transaction.

    Also runs the deferred foreign key checks of this transaction now: PostgreSQL refuses to
    attach or detach a partition of a table with pending trigger events.
    """
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK_ID])
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def unlock(cursor) -> None:
    """Foreign keys go back to being checked at commit (Django creates them INITIALLY DEFERRED)."""
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def default_partition_create(cursor) -> None:
    cursor.execute(f'CREATE TABLE IF NOT EXISTS "{DEFAULT_PARTITION}" PARTITION OF "{TABLE}" DEFAULT')


def default_months(cursor) -> list[datetime]:
    """The months of the rows the DEFAULT partition holds (normally none)."""
    cursor.execute(
        f"SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC') FROM \"{DEFAULT_PARTITION}\""  # noqa: S608
    )
    return sorted(moment.replace(tzinfo=UTC) for (moment,) in cursor.fetchall())


def month_partition_create(cursor, *, start: datetime) -> bool:
    """Create the partition of the month beginning at ``start`` unless it exists; False if it did.

    Rows of that month waiting in the DEFAULT partition move into it: PostgreSQL refuses a new
    partition whose rows the DEFAULT one holds. The table is built apart and then attached, which
    creates its indexes and constraints from the parent's. Call it under ``lock``.
    """
    name = partition_name(start)
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    if cursor.fetchone()[0]:
        return False
    end = month_after(start)
    cursor.execute(f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [DEFAULT_PARTITION])
    if cursor.fetchone()[0]:
        cursor.execute(
            f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE occurred_at >= %s AND occurred_at < %s '  # noqa: S608
            f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
            [start, end],
        )
    # Utility statements take no parameters; the bounds are instants made here, not input.
    cursor.execute(
        f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" '
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )
    return True


def month_partition_detach(cursor, *, name: str) -> tuple[int, int]:
    """Detach one month partition (no row can enter it any more); returns its rows and how many
    of them are uncounted. Call it under ``lock``; drop it with ``month_partition_drop``."""
    cursor.execute(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{name}"')
    cursor.execute(f'SELECT count(*), count(*) FILTER (WHERE NOT counted) FROM "{name}"')  # noqa: S608
    total, uncounted = cursor.fetchone()
    return total, uncounted


def month_partition_drop(cursor, *, name: str) -> None:
    cursor.execute(f'DROP TABLE "{name}"')
