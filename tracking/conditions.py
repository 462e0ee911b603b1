"""Segment conditions on opens, clicks, engagement and soft bounces, registered in ``TrackingConfig.ready()``.

Opens and clicks are people's only unless the condition's ``include_machine`` is on: scanner
clicks and image-proxy opens say nothing about a reader. A click counts as an open too (the
mail was read with images off). Every behaviour condition needs tracking consent
(``audience.rules``); soft bounces are delivery facts and do not.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audience.conditions import CHOICE, INT, REF, ConditionKind, Group, Param, register
from campaigns.conditions import campaign_param
from campaigns.models import Article
from tracking.models import DeliveryReport, Event, SubscriberEngagement, TrackedLink
from tracking.selectors.audience import DORMANT, ENGAGED, NEVER, SEGMENT_LABELS, engagement_group_q
from tracking.selectors.campaigns import events_exist

OPENED, CLICKED = "opened", "clicked"
READ_KINDS = {OPENED: (Event.Kind.OPEN, Event.Kind.CLICK), CLICKED: (Event.Kind.CLICK,)}


def _events(params: dict, **filters) -> Q:
    if not params["include_machine"]:
        filters["is_machine"] = False
    return events_exist(delivery__subscriber=OuterRef("pk"), **filters)


def _campaign_read(action: str):
    def q(params: dict) -> Q:
        # The delivery's campaign as well: the (campaign, subscriber, occurrence) key finds its deliveries.
        campaign = params["campaign"]
        return _events(params, delivery__campaign_id=campaign, campaign_id=campaign, kind__in=READ_KINDS[action])

    return q


def _recently(params: dict) -> Q:
    since = timezone.now() - timedelta(days=params["days"])
    return _events(params, occurred_at__gte=since, kind__in=READ_KINDS[params["action"]])


def _article(params: dict) -> Q:
    return _events(params, article_id=params["article"], kind=Event.Kind.CLICK)


def _link(params: dict) -> Q:
    return _events(params, link_id=params["link"], kind=Event.Kind.CLICK)


def _score_clean(params: dict) -> dict:
    if params["min"] > params["max"]:
        raise ValidationError(gettext("The lowest score is above the highest."), code="invalid")
    return params


def _score(params: dict) -> Q:
    scored = SubscriberEngagement.objects.filter(
        subscriber=OuterRef("pk"), score__gte=params["min"], score__lte=params["max"]
    )
    return Q(Exists(scored))


def _engagement(params: dict) -> Q:
    """The audience page's segments (``tracking.selectors.audience``), as a condition."""
    return engagement_group_q(params["group"])


def _soft_bounces(params: dict) -> Q:
    reports = DeliveryReport.objects.filter(delivery__subscriber=OuterRef("pk"), kind=DeliveryReport.Kind.SOFT_BOUNCED)
    if params["days"]:
        reports = reports.filter(occurred_at__gte=timezone.now() - timedelta(days=params["days"]))
    counted = reports.order_by().values("delivery__subscriber").annotate(n=Count("pk")).values("n")
    found = Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))
    return Q(GreaterThanOrEqual(found, params["times"]))


def _article_label(article) -> str:
    return f"{article.campaign.name}: {article.headline}"


def _link_label(link) -> str:
    return f"{link.campaign.name}: {link.url}"


def article_param() -> Param:
    return Param(
        "article",
        _("article"),
        REF,
        queryset=lambda: Article.objects.select_related("campaign").order_by("-campaign__created_at", "position"),
        option_label=_article_label,
    )


def register_tracking_kinds() -> None:
    behaviour = {"group": Group.BEHAVIOUR, "needs_consent": True, "machine_param": True, "cost": 4}
    for action, did, did_not in (
        (OPENED, _("opened a campaign"), _("did not open a campaign")),
        (CLICKED, _("clicked in a campaign"), _("did not click in a campaign")),
    ):
        q = _campaign_read(action)
        register(ConditionKind(key=f"{action}_campaign", label=did, params=(campaign_param(),), q=q, **behaviour))
        register(
            ConditionKind(
                key=f"not_{action}_campaign",
                label=did_not,
                params=(campaign_param(),),
                q=q,
                negated=True,
                help_text=_(
                    "Also true for people who never received the campaign; combine with “received a campaign”."
                ),
                **behaviour,
            )
        )
    register(
        ConditionKind(
            key="read_recently",
            label=_("opened or clicked any campaign in the last days"),
            params=(
                Param("action", _("did"), CHOICE, choices=((OPENED, _("opened")), (CLICKED, _("clicked")))),
                Param("days", _("days"), INT, min_value=1, max_value=3650),
            ),
            q=_recently,
            **behaviour,
        )
    )
    register(
        ConditionKind(
            key="clicked_article", label=_("clicked an article"), params=(article_param(),), q=_article, **behaviour
        )
    )
    register(
        ConditionKind(
            key="clicked_link",
            label=_("clicked a link"),
            params=(
                Param(
                    "link",
                    _("link"),
                    REF,
                    queryset=lambda: TrackedLink.objects.select_related("campaign").order_by(
                        "-campaign__created_at", "pk"
                    ),
                    option_label=_link_label,
                ),
            ),
            q=_link,
            **behaviour,
        )
    )
    register(
        ConditionKind(
            key="engagement_score",
            label=_("engagement score between"),
            group=Group.ENGAGEMENT,
            needs_consent=True,
            params=(
                Param("min", _("at least"), INT, required=False, default=0, min_value=0, max_value=100),
                Param("max", _("at most"), INT, required=False, default=100, min_value=0, max_value=100),
            ),
            clean=_score_clean,
            q=_score,
        )
    )
    register(
        ConditionKind(
            key="engagement_group",
            label=_("engagement is"),
            group=Group.ENGAGEMENT,
            needs_consent=True,
            params=(
                Param(
                    "group",
                    _("group"),
                    CHOICE,
                    choices=tuple((key, SEGMENT_LABELS[key]) for key in (ENGAGED, DORMANT, NEVER)),
                ),
            ),
            q=_engagement,
        )
    )
    register(
        ConditionKind(
            key="soft_bounces",
            cost=3,
            label=_("bounced softly at least"),
            group=Group.DELIVERY,
            params=(
                Param("times", _("times"), INT, min_value=1, max_value=1000),
                Param(
                    "days", _("within the last days (empty: ever)"), INT, required=False, min_value=1, max_value=3650
                ),
            ),
            q=_soft_bounces,
        )
    )
