from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def percent(rate) -> str:
    """A share (0.123) as a percentage in the reader's number format ("12.3 %"); "–" for none."""
    if rate is None:
        return "–"
    return f"{number_format(rate * 100, 1)} %"
