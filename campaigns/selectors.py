from django.db.models import Exists, OuterRef, QuerySet

from campaigns.models import Campaign
from subscribers.models import Subscriber, Subscription


def campaign_audience(*, campaign: Campaign) -> QuerySet[Subscriber]:
    """Subscribers the campaign targets right now: active, with an active subscription to any of
    its lists, having any of its include tags (when it has some) and none of its exclude tags, and
    at least the campaign's minimum engagement score when it sets one.

    Each subscriber appears once. Suppressed addresses are kept as hashes in another table and
    are not filtered here; the delivery snapshot must leave them out as well.
    """
    list_ids = list(campaign.mailing_lists.values_list("pk", flat=True))
    include_ids = list(campaign.include_tags.values_list("pk", flat=True))
    exclude_ids = list(campaign.exclude_tags.values_list("pk", flat=True))
    subscribed = Subscription.objects.filter(
        subscriber=OuterRef("pk"), mailing_list_id__in=list_ids, status=Subscription.Status.ACTIVE
    )
    audience = Subscriber.objects.filter(Exists(subscribed), status=Subscriber.Status.ACTIVE)
    if include_ids:
        audience = audience.filter(
            Exists(Subscriber.tags.through.objects.filter(subscriber=OuterRef("pk"), tag_id__in=include_ids))
        )
    if exclude_ids:
        audience = audience.exclude(
            Exists(Subscriber.tags.through.objects.filter(subscriber=OuterRef("pk"), tag_id__in=exclude_ids))
        )
    if campaign.min_engagement_score:
        # A join on the score table (tracking app): subscribers without a score are left out.
        audience = audience.filter(engagement__score__gte=campaign.min_engagement_score)
    return audience


def deliveries_for_export(subscriber: Subscriber) -> tuple[str, list[dict]]:
    """The campaigns sent to a subscriber, for their GDPR export."""
    from campaigns.models import Delivery

    deliveries = Delivery.objects.filter(subscriber=subscriber).select_related("campaign").order_by("pk")
    return "campaigns_received", [
        {
            "campaign": delivery.campaign.name,
            "subject": delivery.campaign.subject,
            "status": delivery.status,
            "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
        }
        for delivery in deliveries
    ]
