"""Writes on segments."""

from audience.models import Segment


def segment_create(*, name: str, rules: dict, description: str = "") -> Segment:
    """A new segment; ValidationError when its rules have problems."""
    segment = Segment(name=name[: Segment._meta.get_field("name").max_length], description=description, rules=rules)
    segment.full_clean()
    segment.save()
    return segment
