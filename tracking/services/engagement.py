"""The engagement score: how much a subscriber reads, as a number from 0 to 100.

Definition, for a subscriber who agreed to individual tracking: over the campaigns they received
in the last ``KANAL_ENGAGED_DAYS`` days (90),

    score = 100 × Σ w · (0.4 · opened + 0.6 · clicked) / Σ w

where ``opened`` is 1 when a person (not a machine) opened or clicked that mail, ``clicked`` is 1
when a person clicked in it, and ``w`` is the recency weight of the campaign: 1 for one sent now,
falling linearly to 0 at the end of the window (``w = 1 − age / window``, at least 0.05 so the
oldest mail still counts a little). Repeated opens of one mail count once, so the score is the
recency-weighted share of recent mails read (40 %) and acted on (60 %): someone who opened every
mail and clicked in none scores 40, someone who clicked in every mail 100, someone who got mail
and never reacted 0. Machine opens (e.g. Apple Mail Privacy Protection) do not count.

Subscribers without consent (or every subscriber when ``KANAL_INDIVIDUAL_TRACKING`` is off) have
no score at all; a campaign filter on the score leaves them out. The score decays with time, so
``engagement_refresh`` recomputes it periodically (Celery beat, hourly); the batcher keeps the
last interaction current between runs.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, FloatField, OuterRef, Q, Sum, Value, When
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from tracking.models import Event, SubscriberEngagement
from tracking.selectors.campaigns import events_exist

OPEN_WEIGHT = 0.4
CLICK_WEIGHT = 0.6
MIN_RECENCY_WEIGHT = 0.05


def engaged_window() -> timedelta:
    return timedelta(days=settings.KANAL_ENGAGED_DAYS)


def recency_weight(*, sent_at: datetime, now: datetime) -> float:
    window = engaged_window().total_seconds()
    age = max(0.0, (now - sent_at).total_seconds())
    return max(MIN_RECENCY_WEIGHT, 1.0 - age / window)


def engagement_refresh(*, now: datetime | None = None) -> int:
    """Recompute every score in one grouped query and store it; returns how many subscribers have a score."""
    now = now or timezone.now()
    if not settings.KANAL_INDIVIDUAL_TRACKING:
        SubscriberEngagement.objects.all().delete()
        return 0
    since = now - engaged_window()
    weights = {
        pk: recency_weight(sent_at=started_at, now=now)
        for pk, started_at in Campaign.objects.filter(started_at__gte=since, started_at__lte=now).values_list(
            "pk", "started_at"
        )
    }
    rows = []
    if weights:
        weight = Case(
            *(When(campaign_id=pk, then=Value(value)) for pk, value in weights.items()),
            default=Value(0.0),
            output_field=FloatField(),
        )
        human = {"delivery": OuterRef("pk"), "is_machine": False}
        opened = Case(
            When(events_exist(kind__in=[Event.Kind.OPEN, Event.Kind.CLICK], **human), then=Value(OPEN_WEIGHT)),
            default=Value(0.0),
            output_field=FloatField(),
        )
        clicked = Case(
            When(events_exist(kind=Event.Kind.CLICK, **human), then=Value(CLICK_WEIGHT)),
            default=Value(0.0),
            output_field=FloatField(),
        )
        rows = list(
            Delivery.objects.filter(
                campaign_id__in=list(weights),
                status=Delivery.Status.SENT,
                subscriber__isnull=False,
                subscriber__tracking_consent=True,
            )
            .order_by()
            .values("subscriber_id")
            .annotate(weights=Sum(weight), points=Sum(weight * (opened + clicked)), mails=Count("pk"))
            .values_list("subscriber_id", "weights", "points", "mails")
        )
    scored_at = SubscriberEngagement._meta.get_field("scored_at").get_db_prep_save(now, connection)
    values = [
        (subscriber_id, round(100 * points / weights) if weights else 0, mails, scored_at)
        for subscriber_id, weights, points, mails in rows
    ]
    quote = connection.ops.quote_name
    table = quote(SubscriberEngagement._meta.db_table)
    subscriber = quote(SubscriberEngagement._meta.get_field("subscriber").column)
    score, mails, scored = quote("score"), quote("mails_in_window"), quote("scored_at")
    # Only quoted names from the model's own metadata reach the SQL text.
    sql = (
        f"INSERT INTO {table} ({subscriber}, {score}, {mails}, {scored}) VALUES (%s, %s, %s, %s) "  # noqa: S608
        f"ON CONFLICT ({subscriber}) DO UPDATE SET {score} = EXCLUDED.{score}, {mails} = EXCLUDED.{mails}, "
        f"{scored} = EXCLUDED.{scored}"
    )
    with transaction.atomic():
        SubscriberEngagement.objects.filter(subscriber__tracking_consent=False).delete()
        with connection.cursor() as cursor:
            cursor.executemany(sql, values)
        # Subscribers with a last interaction but no mail in the window: nothing recent to go by.
        SubscriberEngagement.objects.filter(Q(scored_at__lt=now) | Q(scored_at__isnull=True)).update(
            score=0, mails_in_window=0, scored_at=now
        )
    return SubscriberEngagement.objects.count()
