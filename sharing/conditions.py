"""The segment condition "forwarded or shared a campaign", registered in ``SharingConfig.ready()``.

It reads what a person did, so like opens and clicks it is decided only for subscribers with
tracking consent (``needs_consent``), and it reads only events that name their subscriber and
that no machine rule labelled: there is no ``include_machine`` parameter, a scanner's hit on a
share link is never someone's share.
"""

from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audience.conditions import INT, REF, ConditionKind, Group, Param, register
from campaigns.models import Campaign
from sharing.selectors import people_sharing

SHARED = "shared_campaign"


def _shared(params: dict) -> Q:
    events = people_sharing(subscriber=OuterRef("pk"))
    if params["campaign"] is not None:
        events = events.filter(campaign_id=params["campaign"])
    if params["days"] is not None:
        events = events.filter(occurred_at__gte=timezone.now() - timedelta(days=params["days"]))
    return Q(Exists(events))


def register_sharing_kinds() -> None:
    register(
        ConditionKind(
            key=SHARED,
            label=_("forwarded or shared a campaign"),
            group=Group.BEHAVIOUR,
            params=(
                Param(
                    "campaign",
                    _("campaign (empty: any)"),
                    REF,
                    required=False,
                    queryset=lambda: Campaign.objects.filter(is_template=False).order_by("-created_at"),
                ),
                Param("days", _("in the last days (empty: ever)"), INT, required=False, min_value=1, max_value=3650),
            ),
            q=_shared,
            help_text=_("People only: a forward form they sent, or a share link of their own mail they clicked."),
            needs_consent=True,
            cost=2,
        )
    )
