import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from audience.models import Segment
from tracking.models import Event


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    rules = factory.LazyFunction(lambda: {"op": "and", "children": []})


def event(delivery, kind=Event.Kind.OPEN, *, machine=False, ago=timedelta(minutes=30), **fields) -> Event:
    """An event as the batcher stores it, linked to ``delivery``."""
    return Event.objects.create(
        uid=uuid.uuid4(),
        kind=kind,
        campaign_id=delivery.campaign_id,
        delivery=delivery,
        occurred_at=timezone.now() - ago,
        is_machine=machine,
        machine_reason=Event.MachineReason.PROXY_OPEN if machine else "",
        **fields,
    )


def leaf(kind: str, **params) -> dict:
    return {"kind": kind, **params}


def all_of(*children) -> dict:
    return {"op": "and", "children": list(children)}


def any_of(*children) -> dict:
    return {"op": "or", "children": list(children)}


def not_(child) -> dict:
    return {"op": "not", "children": [child]}
