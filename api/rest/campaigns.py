"""``/api/v1/campaigns/``: campaigns and their figures, the same numbers as the analytics page."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.shortcuts import get_object_or_404
from ninja import Query, Router

from api.rest.auth import CAMPAIGNS_READ
from api.rest.pagination import PageQuery, paginate
from api.rest.schemas import PROBLEMS, CampaignOut, CampaignPage, CampaignStatsOut, StatsInclude
from campaigns.models import Campaign
from tracking import selectors
from tracking.analytics import tables

router = Router(tags=["campaigns"])
INCLUDE_PARAM = Query(None, description="machine: add the machine-labelled counts.")


def _campaigns():
    return Campaign.objects.filter(is_template=False).prefetch_related("mailing_lists")


def campaign_data(campaign: Campaign) -> dict:
    return CampaignOut(
        id=campaign.pk,
        name=campaign.name,
        kind=campaign.kind,
        subject=campaign.subject,
        status=campaign.status,
        lists=sorted(mailing_list.slug for mailing_list in campaign.mailing_lists.all()),
        scheduled_at=campaign.scheduled_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
    ).model_dump(mode="json")


def _table_data(table: tables.Table) -> dict:
    rows = [
        [tables.csv_value(value, column.kind) for value, column in zip(row, table.columns, strict=True)]
        for row in table.rows
    ]
    return {
        "slug": table.slug,
        "title": str(table.title),
        "columns": [column.key for column in table.columns],
        # As in the CSV download: percentages in percent, money as decimal text.
        "rows": json.loads(json.dumps(rows, cls=DjangoJSONEncoder)),
    }


@router.get("/", response={200: CampaignPage, **PROBLEMS}, auth=CAMPAIGNS_READ, summary="Campaigns, in pages")
def campaign_index(
    request,
    page: Query[PageQuery],
    status: Campaign.Status | None = None,
):
    campaigns = _campaigns() if status is None else _campaigns().filter(status=status)
    return paginate(request, campaigns, page=page, serialize=campaign_data)


@router.get("/{campaign_id}", response={200: CampaignOut, **PROBLEMS}, auth=CAMPAIGNS_READ, summary="One campaign")
def campaign_detail(request, campaign_id: int):
    return campaign_data(get_object_or_404(_campaigns(), pk=campaign_id))


@router.get(
    "/{campaign_id}/stats",
    response={200: CampaignStatsOut, **PROBLEMS},
    auth=CAMPAIGNS_READ,
    summary="A campaign's figures: people, not machines",
    description="The figures of the campaign's analytics page. Opens and clicks count people: events "
    "labelled as machines (image proxies, link scanners) are left out; `?include=machine` adds them "
    "separately under `machine`. Unique figures count only subscribers who consented to tracking; the "
    "`estimated_*` figures add the anonymous readers. `tables` are the other apps' tables of the page "
    "(survey responses, offer redemptions, …) with the CSV download's column keys.",
)
def campaign_stats(request, campaign_id: int, include: list[StatsInclude] | None = INCLUDE_PARAM):
    campaign = get_object_or_404(_campaigns(), pk=campaign_id)
    funnel = selectors.campaign_funnel(campaign=campaign)
    summary = selectors.CampaignSummary(
        campaign=campaign, funnel=funnel, list_unsubscribes=selectors.campaign_list_unsubscribes(campaign=campaign)
    )
    stats = {
        "sent": funnel.sent,
        "skipped_frequency_cap": funnel.skipped_frequency_cap,
        "delivered": funnel.delivered,
        "bounced": funnel.bounced,
        "soft_bounced": funnel.soft_bounced,
        "complained": funnel.complained,
        "unsubscribed": summary.unsubscribes,
        "opens": funnel.opens,
        "unique_opens": funnel.unique_opens,
        "anonymous_opens": funnel.anonymous_opens,
        "estimated_openers": funnel.estimated_openers,
        "clicks": funnel.clicks,
        "unique_clicks": funnel.unique_clicks,
        "anonymous_clicks": funnel.anonymous_clicks,
        "estimated_clickers": funnel.estimated_clickers,
        "open_rate": funnel.open_rate,
        "click_rate": funnel.click_rate,
        "click_to_open_rate": funnel.click_to_open_rate,
        "tables": [_table_data(table) for table in tables.campaign_registered_tables(campaign)],
        "machine": None,
    }
    if StatsInclude.MACHINE in (include or []):
        stats["machine"] = {"opens": funnel.machine_opens, "clicks": funnel.machine_clicks}
    return stats
