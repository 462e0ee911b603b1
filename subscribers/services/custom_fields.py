"""Changes to custom field definitions that reach into every subscriber's values."""

from django.db import NotSupportedError, transaction
from django.db.models import Expression, F, JSONField, Q
from django.db.models.fields.json import HasKey

from subscribers.models import CustomField, Subscriber


class _WithoutKey(Expression):
    """The JSON column without one top-level key."""

    output_field = JSONField()

    def __init__(self, key: str, column="fields"):
        super().__init__()
        self.key = key
        self.column = F(column)

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, expressions):
        (self.column,) = expressions

    def as_sql(self, compiler, connection):
        raise NotSupportedError("Custom fields are stored on SQLite and PostgreSQL only.")

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.column)
        return f"JSON_REMOVE({column}, %s)", (*params, f'$."{self.key}"')

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.column)
        return f"({column} - %s)", (*params, self.key)


@transaction.atomic
def subscriber_field_set(*, subscriber: Subscriber, field: CustomField, value) -> Subscriber:
    """Store one custom field value (cleaned here by ``CustomField.clean_value``; None removes it).

    Raises ValidationError when the value does not fit the field. Locks the subscriber row so that
    two writers of different fields do not overwrite each other's JSON.
    """
    cleaned = field.clean_value(value)
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    values = dict(subscriber.fields)
    if cleaned is None:
        values.pop(field.key, None)
    else:
        values[field.key] = cleaned
    if values != subscriber.fields:
        subscriber.fields = values
        subscriber.save(update_fields=["fields", "updated_at"])
    return subscriber


@transaction.atomic
def custom_field_delete(*, field: CustomField) -> int:
    """Delete a field and every subscriber's value of it; returns how many subscribers held one.

    A value kept after its field is gone would be personal data without a purpose, and a new
    field with the same key but another kind would read it with the wrong type.
    """
    held = Subscriber.objects.filter(Q(HasKey(F("fields"), field.key))).update(fields=_WithoutKey(field.key))
    field.delete()
    return held
