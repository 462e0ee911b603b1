"""Rows made by the database itself (INSERT … SELECT over a numbers table), nothing per row in Python:
the generator the large benches share."""

from contextlib import contextmanager


class Generator:
    def __init__(self, connection):
        self.connection = connection
        self.postgres = connection.vendor == "postgresql"

    def run(self, sql: str, params=()) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def value(self, model, field: str, value):
        return model._meta.get_field(field).get_db_prep_save(value, self.connection)

    def hex_id(self, expression: str) -> str:
        """A 32-digit hex id (UUID column) from a number: unique and ascending."""
        if self.postgres:
            return f"lpad(to_hex({expression}), 32, '0')::uuid"
        return f"printf('%%032x', {expression})"

    def json(self, expression: str) -> str:
        return f"({expression})::jsonb" if self.postgres else expression

    def seconds_after(self, moment, expression: str) -> str:
        """A timestamp ``expression`` seconds after the parameter ``moment`` (one %s)."""
        if self.postgres:
            return f"(%s::timestamptz + ({expression}) * interval '1 second')"
        return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '+' || ({expression}) || ' seconds')"

    def numbers(self, count: int) -> None:
        """The table bench_n holding 1 … count."""
        self.run("CREATE TABLE bench_n (n bigint PRIMARY KEY)")
        if self.postgres:
            self.run("INSERT INTO bench_n SELECT generate_series(1, %s)", (count,))
        else:
            self.run(
                "INSERT INTO bench_n WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < %s) "
                "SELECT n FROM c",
                (count,),
            )

    def secondary_indexes(self, table: str) -> list[tuple[str, str]]:
        """(name, CREATE statement) of the table's indexes that back no constraint."""
        with self.connection.cursor() as cursor:
            if self.postgres:
                cursor.execute(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
                    "(SELECT conname FROM pg_constraint)",
                    (table,),
                )
            else:
                cursor.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                    (table,),
                )
            # A partitioned table's index reads "ON ONLY": built like that it would cover no partition.
            return [(name, sql.replace(" ON ONLY ", " ON ", 1)) for name, sql in cursor.fetchall()]

    @contextmanager
    def without_indexes(self, table: str):
        """Drop the table's secondary indexes for a bulk insert and build them again afterwards."""
        indexes = self.secondary_indexes(table)
        for name, _sql in indexes:
            self.run(f'DROP INDEX "{name}"')
        try:
            yield
        finally:
            for _name, sql in indexes:
                self.run(sql)

    def reset_sequences(self, models) -> None:
        from django.core.management.color import no_style

        with self.connection.cursor() as cursor:
            for sql in self.connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)
