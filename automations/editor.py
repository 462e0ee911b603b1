"""What the structured step editor needs from the server: the kinds with their fields and choices, and its words."""

from django.apps import apps
from django.utils.translation import gettext

from automations import kinds


def _field_schema(form_field: kinds.FormField) -> dict:
    schema = {"name": form_field.name, "label": str(form_field.label), "required": form_field.required}
    if form_field.type.startswith("ref:"):
        model = apps.get_model(form_field.type.removeprefix("ref:"))  # choices, when given, narrow the objects
        schema["type"] = "ref"
        if form_field.choices:
            schema["choices"] = [(pk, str(label)) for pk, label in form_field.choices()]
        else:
            schema["choices"] = [(obj.pk, str(obj)) for obj in model.objects.all()]
    else:
        schema["type"] = form_field.type
        schema["choices"] = [(value, str(label)) for value, label in form_field.choices()] if form_field.choices else []
    return schema


def _kind_schema(kind) -> dict:
    return {"key": kind.key, "label": str(kind.label), "fields": [_field_schema(f) for f in kind.form_fields]}


def editor_schema() -> dict:
    """Every step and trigger kind with its parameter fields; a kind without fields is edited as JSON."""
    return {
        "steps": [_kind_schema(kind) for kind in kinds.STEPS.values()],
        "triggers": [_kind_schema(kind) for kind in kinds.TRIGGERS.values()],
    }


def editor_texts() -> dict:
    """The editor's words, translated here: the admin has no JavaScript catalogue."""
    return {
        "step": gettext("Step %(number)s"),
        "add_step": gettext("+ step"),
        "remove": gettext("remove"),
        "up": gettext("move up"),
        "down": gettext("move down"),
        "choose_kind": gettext("choose a step…"),
        "the_end": gettext("the end"),
        "json_params": gettext("parameters (JSON)"),
        "json_invalid": gettext("This is not a JSON object."),
        "no_steps": gettext("No steps yet."),
        "weekdays": [str(day) for day in kinds.WEEKDAY_NAMES],
    }
