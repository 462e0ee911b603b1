"""Bulk INSERT and UPDATE for the few places that write tens of thousands of rows (``executemany``
on SQLite, statements of many rows on PostgreSQL).

``QuerySet.bulk_create`` builds a model instance and compiles every value of every row through
the ORM; for a 100,000-row import that costs about ten times the database's own work (measured
in bench/import_subscribers.py). Here the caller hands in values the database takes as they are
(prepared once per column where they repeat), and the statement is compiled once.
"""

import itertools
from collections.abc import Iterable, Sequence

from django.db import connection, models
from django.db.models import Lookup

PG_ROWS_PER_STATEMENT = 5000


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
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(
                _insert_sql(model, fields, ignore_conflicts=ignore_conflicts),
                [(*row, *constant_values) for row in rows],
            )
            return cursor.rowcount
        # psycopg's executemany sends one statement per row (pipelined); one array per column,
        # unnested by the server, costs both sides a fraction of that.
        sql = _unnest_sql(model, fields, constant_count=len(constant_values), ignore_conflicts=ignore_conflicts)
        rows = iter(rows)
        inserted = 0
        while chunk := list(itertools.islice(rows, PG_ROWS_PER_STATEMENT)):
            cursor.execute(sql, [*constant_values, *(list(values) for values in zip(*chunk, strict=True))])
            inserted += cursor.rowcount
        return inserted


def update_rows(model: type[models.Model], *, fields: Sequence[str], rows: Iterable[Sequence]) -> int:
    """UPDATE each row's ``fields`` by primary key: every row is ``(pk, *values in the order of
    fields)``, values as the model holds them (prepared here). Returns how many rows changed.

    ``QuerySet.bulk_update`` builds one CASE WHEN per field with a branch per row, which Django
    resolves expression by expression: for 2,000 rows seconds of CPU (measured in the tracking
    batcher, bench/tracking_load.py), where these statements take milliseconds.
    """
    model_fields = [model._meta.get_field(name) for name in fields]
    pk = model._meta.pk
    prepared = [
        (
            pk.get_db_prep_save(row[0], connection),
            *(field.get_db_prep_save(value, connection) for field, value in zip(model_fields, row[1:], strict=True)),
        )
        for row in rows
    ]
    if not prepared:
        return 0
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(_update_sql(model, model_fields), [(*values, key) for key, *values in prepared])
            return cursor.rowcount
        updated = 0
        for start in range(0, len(prepared), PG_ROWS_PER_STATEMENT):
            chunk = prepared[start : start + PG_ROWS_PER_STATEMENT]
            columns = [list(column) for column in zip(*chunk, strict=True)]
            cursor.execute(_update_unnest_sql(model, model_fields), columns)
            updated += cursor.rowcount
        return updated


# Only quoted table and column names and type names from the model's own metadata reach the SQL text.


def _update_sql(model: type[models.Model], fields: list) -> str:
    quote = connection.ops.quote_name
    return "UPDATE {table} SET {assignments} WHERE {pk} = %s".format(  # noqa: S608
        table=quote(model._meta.db_table),
        assignments=", ".join(f"{quote(field.column)} = %s" for field in fields),
        pk=quote(model._meta.pk.column),
    )


def _update_unnest_sql(model: type[models.Model], fields: list) -> str:
    quote = connection.ops.quote_name
    pk = model._meta.pk
    names = [f"c{number}" for number in range(len(fields))]
    assignments = [f"{quote(field.column)} = rows.{name}" for field, name in zip(fields, names, strict=True)]
    sql = "UPDATE {table} SET {assignments} FROM unnest({arrays}) AS rows (pk, {names}) WHERE {table}.{pk} = rows.pk"
    return sql.format(
        table=quote(model._meta.db_table),
        assignments=", ".join(assignments),
        arrays=", ".join(f"%s::{field.db_type(connection)}[]" for field in (pk, *fields)),
        names=", ".join(names),
        pk=quote(pk.column),
    )


def _insert_sql(model: type[models.Model], fields: list, *, ignore_conflicts: bool) -> str:
    quote = connection.ops.quote_name
    return "INSERT INTO {table} ({columns}) VALUES ({placeholders}){conflict}".format(  # noqa: S608
        table=quote(model._meta.db_table),
        columns=", ".join(quote(field.column) for field in fields),
        placeholders=", ".join(["%s"] * len(fields)),
        conflict=" ON CONFLICT DO NOTHING" if ignore_conflicts else "",
    )


def _unnest_sql(model: type[models.Model], fields: list, *, constant_count: int, ignore_conflicts: bool) -> str:
    quote = connection.ops.quote_name
    varying, constant = fields[: len(fields) - constant_count], fields[len(fields) - constant_count :]
    names = [f"c{number}" for number in range(len(varying))]
    return "INSERT INTO {table} ({columns}) SELECT {selected} FROM unnest({arrays}) AS rows ({names}){conflict}".format(  # noqa: S608
        table=quote(model._meta.db_table),
        columns=", ".join(quote(field.column) for field in (*varying, *constant)),
        selected=", ".join([*names, *(f"%s::{field.db_type(connection)}" for field in constant)]),
        arrays=", ".join(f"%s::{field.db_type(connection)}[]" for field in varying),
        names=", ".join(names),
        conflict=" ON CONFLICT DO NOTHING" if ignore_conflicts else "",
    )


@models.Field.register_lookup
class AnyOf(Lookup):
    """``field__any_of=values``: ``IN`` on SQLite; ``= ANY(%s)`` with one array parameter on
    PostgreSQL, whose client-side binding otherwise parses a placeholder per value (a round's 500
    ids cost more to send than to look up)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::{field.db_type(connection)}[])", [*lhs_params, values]
        if not values:
            return "0 = 1", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
