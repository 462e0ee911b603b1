"""Model instances from hand-written SQL, for the few hot paths where compiling an ORM query costs
more than running it (the shop's redemption endpoint: docs/benchmarks.md).

``select_list(Model, "c")`` gives the column list of the model's concrete fields under a table
alias; ``RowReader`` turns the matching slice of a row into an instance, with the same
conversions the ORM applies (SQLite's datetime text into aware datetimes, JSON text into values),
so the result compares equal to what ``Model.objects.get`` returns.
"""

from django.db import connections


def table(model) -> str:
    return connections["default"].ops.quote_name(model._meta.db_table)


def select_list(model, alias: str, fields: list[str] | None = None) -> str:
    quote = connections["default"].ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in _fields(model, fields))


def _fields(model, names: list[str] | None):
    # In the model's field order, which is what Model.from_db expects for a subset.
    return [field for field in model._meta.concrete_fields if names is None or field.name in names]


class RowReader:
    """Reads ``model`` instances from rows whose columns ``start`` … follow ``select_list(model, …, fields)``."""

    def __init__(self, model, *, fields: list[str] | None = None, using: str = "default"):
        self.model = model
        self.using = using
        chosen = _fields(model, fields)
        self.attnames = [field.attname for field in chosen]
        connection = connections[using]
        self.converters = []
        for field in chosen:
            column = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            self.converters.append((column, found))
        self.width = len(chosen)

    def read(self, row, start: int = 0):
        """The instance in ``row[start:start + width]``; None when its first column (the key) is NULL."""
        values = list(row[start : start + self.width])
        if values[0] is None:
            return None
        connection = connections[self.using]
        for index, (column, converters) in enumerate(self.converters):
            for converter in converters:
                values[index] = converter(values[index], column, connection)
        return self.model.from_db(self.using, self.attnames, values)
