"""Bulk INSERT through ``executemany``, for the few places that write tens of thousands of rows.

``QuerySet.bulk_create`` builds a model instance and compiles every value of every row through
the ORM; for a 100,000-row import that costs about ten times the database's own work (measured
in bench/import_subscribers.py). Here the caller hands in values the database takes as they are
(prepared once per column where they repeat), and the statement is compiled once.
"""

from collections.abc import Iterable, Sequence

from django.db import connection, models


def db_value(model: type[models.Model], field_name: str, value):
    """``value`` as the database adapter wants it for ``model.field_name`` (e.g. a UUID on SQLite)."""
    return model._meta.get_field(field_name).get_db_prep_save(value, connection)


def insert_rows(
    model: type[models.Model],
    *,
    columns: Sequence[str],
    rows: Iterable[Sequence],
    constants: dict | None = None,
    ignore_conflicts: bool = False,
) -> int:
    """INSERT ``rows`` (values in the order of ``columns``) plus the same ``constants`` in every row;
    returns how many rows the database took (fewer with ``ignore_conflicts``).

    ``columns`` and the keys of ``constants`` are field names; constants are prepared once here.
    """
    constants = constants or {}
    fields = [model._meta.get_field(name) for name in (*columns, *constants)]
    constant_values = tuple(db_value(model, name, value) for name, value in constants.items())
    quote = connection.ops.quote_name
    # Only quoted table and column names from the model's own metadata reach the SQL text.
    sql = "INSERT INTO {table} ({columns}) VALUES ({placeholders}){conflict}".format(  # noqa: S608
        table=quote(model._meta.db_table),
        columns=", ".join(quote(field.column) for field in fields),
        placeholders=", ".join(["%s"] * len(fields)),
        conflict=" ON CONFLICT DO NOTHING" if ignore_conflicts else "",
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(*row, *constant_values) for row in rows])
        return cursor.rowcount
