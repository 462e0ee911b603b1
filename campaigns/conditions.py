"""Segment conditions on campaigns' deliveries, registered in ``CampaignsConfig.ready()``."""

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from audience.conditions import REF, ConditionKind, Group, Param, register
from campaigns.models import Campaign, Delivery

RECEIVED_CAMPAIGN = "received_campaign"


def campaign_param() -> Param:
    return Param(
        "campaign",
        _("campaign"),
        REF,
        queryset=lambda: Campaign.objects.filter(is_template=False).order_by("-created_at"),
    )


def _received(params: dict) -> Q:
    sent = Delivery.objects.filter(
        subscriber=OuterRef("pk"), campaign_id=params["campaign"], status=Delivery.Status.SENT
    )
    return Q(Exists(sent))


def register_delivery_kinds() -> None:
    register(
        ConditionKind(
            key=RECEIVED_CAMPAIGN,
            label=_("received a campaign"),
            group=Group.DELIVERY,
            params=(campaign_param(),),
            q=_received,
        )
    )
