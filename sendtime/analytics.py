"""The campaign analytics page's table for newsletters sent at each reader's time."""

from collections import Counter

from django.db.models import OuterRef
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Delivery
from sendtime.models import CampaignSendTime
from sendtime.selectors import reader_zones
from subscribers.models import Subscriber
from tracking.analytics.tables import INT, PERCENT, TEXT, Chart, Column, Table
from tracking.selectors.campaigns import read_by_person


def campaign_delivery_hour_table(*, campaign: Campaign) -> Table | None:
    """Human click rate by the local hour each reader got the mail; None unless the campaign was
    sent at each reader's time. Only readers who allow tracking count: the clicks of the others
    name no delivery, so they would show as readers who never click."""
    option = CampaignSendTime.objects.filter(campaign=campaign).first()
    if option is None or option.mode == CampaignSendTime.Mode.AT_ONCE:
        return None
    sent = (
        Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT, subscriber__tracking_consent=True)
        .annotate(clicked=read_by_person(action="clicked", delivery=OuterRef("pk")))
        .values_list("subscriber_id", "sent_at", "clicked")
    )
    rows = list(sent)
    zones = reader_zones(subscribers=Subscriber.objects.filter(pk__in={subscriber for subscriber, _at, _c in rows}))
    delivered, clickers = Counter(), Counter()
    for subscriber_id, sent_at, clicked in rows:
        hour = sent_at.astimezone(zones[subscriber_id].zone).hour
        delivered[hour] += 1
        clickers[hour] += bool(clicked)
    return Table(
        slug="delivery_hours",
        title=_("Human click rate by delivery hour"),
        columns=[
            Column("local_hour", _("Delivered at (reader's time)"), TEXT),
            Column("delivered", _("Sent")),
            Column("human_clickers", _("Readers who clicked"), INT),
            Column("click_rate_percent", _("Click rate"), PERCENT),
        ],
        rows=[
            [f"{hour:02d}:00", delivered[hour], clickers[hour], clickers[hour] / delivered[hour]]
            for hour in sorted(delivered)
        ],
        charts=[Chart("bar", values=(3,))] if delivered else [],
        note=_(
            "Each reader's mail by the hour it reached them in their own time zone, and whether a person "
            "(not a scanner or proxy) clicked it. Readers without tracking consent are left out."
        ),
    )
