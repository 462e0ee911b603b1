from django.utils import timezone

from webhooks.models import Delivery, Endpoint

DUE_STATUSES = (Delivery.Status.PENDING, Delivery.Status.FAILED)


def endpoints_for_event(*, event_type: str) -> list[Endpoint]:
    """Active endpoints that chose ``event_type`` (few rows; a list's JSON is matched here, as
    SQLite has no JSON containment lookup)."""
    return [endpoint for endpoint in Endpoint.objects.filter(is_active=True) if event_type in endpoint.events]


def deliveries_due(*, now=None):
    """Deliveries waiting for an attempt whose time has come (a claim that ran out included)."""
    return Delivery.objects.filter(
        status__in=DUE_STATUSES, next_attempt_at__lte=now or timezone.now(), endpoint__is_active=True
    ).order_by("next_attempt_at")
