from dataclasses import dataclass

from django.db.models import Count, Sum

from campaigns import merge_tags
from campaigns.models import Campaign
from campaigns.previews import neutral_recipient
from sharing.models import Network, SharingEvent


def shared_campaign(*, campaign_id: int) -> Campaign | None:
    """The campaign, if people may forward and share it now: sending or sent, archive page and
    sharing on."""
    return Campaign.objects.filter(
        pk=campaign_id, sharing_enabled=True, archive_enabled=True, status__in=Campaign.ARCHIVED_STATUSES
    ).first()


def campaign_title(campaign: Campaign) -> str:
    """The subject as anyone may read it: merge tags with their defaults, nobody's data."""
    return merge_tags.render_plain(merge_tags.parse(campaign.subject), neutral_recipient(campaign))


@dataclass(frozen=True)
class SharingCounts:
    forwards: int
    forwarders: int
    forwarded_mails: int
    shares: dict[str, int]

    @property
    def total_shares(self) -> int:
        return sum(self.shares.values())


def campaign_sharing_counts(*, campaign: Campaign) -> SharingCounts:
    events = SharingEvent.objects.filter(campaign=campaign)
    forward = events.filter(kind=SharingEvent.Kind.FORWARD).aggregate(
        forwards=Count("pk"),
        forwarders=Count("delivery", distinct=True),
        mails=Sum("recipients"),
    )
    per_network = dict(
        events.filter(kind=SharingEvent.Kind.SHARE, machine_reason="")
        .values_list("network")
        .annotate(clicks=Count("pk"))
        .order_by()
    )
    shares = {network: per_network.get(network, 0) for network in Network.values}
    return SharingCounts(
        forwards=forward["forwards"],
        forwarders=forward["forwarders"],
        forwarded_mails=forward["mails"] or 0,
        shares=shares,
    )


def subscriber_forwards_export(subscriber) -> tuple[str, list[dict]]:
    """The forwards that name a subscriber (made with the forward links of their mails while they
    allowed individual tracking, like shares), for their GDPR export: how many mails went out,
    never to whom (Kanal does not know)."""
    events = (
        SharingEvent.objects.filter(kind=SharingEvent.Kind.FORWARD, subscriber=subscriber)
        .select_related("campaign")
        .order_by("pk")
    )
    return "forwards", [
        {"campaign": event.campaign.name, "mails_sent": event.recipients, "at": event.occurred_at.isoformat()}
        for event in events
    ]


def subscriber_shares_export(subscriber) -> tuple[str, list[dict]]:
    """The shares a subscriber's share links recorded while they allowed individual tracking,
    for their GDPR export; ``machine`` says why tracking's rules took a hit for a machine."""
    events = (
        SharingEvent.objects.filter(kind=SharingEvent.Kind.SHARE, subscriber=subscriber)
        .select_related("campaign")
        .order_by("pk")
    )
    return "shares", [
        {
            "campaign": event.campaign.name,
            "network": event.network,
            "machine": event.machine_reason,
            "at": event.occurred_at.isoformat(),
        }
        for event in events
    ]


def people_sharing(**filters):
    """Forwards and shares people made that name their subscriber: what segments and automations
    read (machine-labelled hits never)."""
    return SharingEvent.objects.filter(subscriber__isnull=False, machine_reason="", **filters)
