from django.db.models import Count
from django.utils import timezone

from webhooks.models import Delivery, Endpoint

DUE_STATUSES = (Delivery.Status.PENDING, Delivery.Status.FAILED)


def endpoints_active() -> list[Endpoint]:
    """Every active endpoint (few rows); which of them chose an event is matched in Python, as
    SQLite has no JSON containment lookup."""
    return list(Endpoint.objects.filter(is_active=True))


def deliveries_due(*, now=None):
    """Deliveries waiting for an attempt whose time has come (a claim that ran out included)."""
    return Delivery.objects.filter(
        status__in=DUE_STATUSES, next_attempt_at__lte=now or timezone.now(), endpoint__is_active=True
    ).order_by("next_attempt_at")


def delivery_failure_counts() -> dict[str, int]:
    """Deliveries failing now ("failed": will be tried again) and given up ("exhausted"), counted on
    the (status, next_attempt_at) index."""
    counts = dict(
        Delivery.objects.filter(status__in=(Delivery.Status.FAILED, Delivery.Status.EXHAUSTED))
        .values_list("status")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return {status.value: counts.get(status, 0) for status in (Delivery.Status.FAILED, Delivery.Status.EXHAUSTED)}
