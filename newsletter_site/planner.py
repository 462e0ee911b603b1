"""Planner settings of PostgreSQL for one block of queries."""

from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def without_jit():
    """Run the block's queries without PostgreSQL's JIT compilation; nothing changes on SQLite.

    PostgreSQL compiles a query to machine code once its estimated cost passes ``jit_above_cost``.
    Correlated subqueries run per row inflate that estimate, and compiling them can cost more than
    running them: the segment editor's members count spent 1.6 s compiling and 0.8 s running
    (docs/benchmarks.md, Segments). The setting is local to a transaction (a savepoint when one is
    open) and is put back at the end of the block; when the block raises, rolling back undoes it.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
            previous = cursor.fetchone()[0]
        yield
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('jit', %s, true)", [previous])
