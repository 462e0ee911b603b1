"""Staff analytics pages: the campaign list, one campaign, two side by side, and the audience.

Staff only, and only with permission to view campaigns (the per-subscriber export also needs
permission to view subscribers). Every page reads the aggregate counters through
``tracking.selectors``; every table on a page is also a CSV download at ``<table>.csv``.
"""

from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from newsletter_site.csv_export import csv_response
from newsletter_site.permissions import may_use, staff_permission_required
from subscribers.models import MailingList
from tracking import selectors
from tracking.analytics import tables

PAGE_WIDTH = "72rem"
CAMPAIGNS_PER_PAGE = 50


def _machines(request) -> bool:
    return request.GET.get("machines") == "1"


def _query(request, **changes) -> str:
    params = {key: value for key, value in request.GET.items() if key != "page"}
    params.update(changes)
    params = {key: value for key, value in params.items() if value not in (None, "")}
    return "?" + urlencode(params) if params else ""


def _with_csv_urls(request, found: list[tables.Table], url_for) -> list[tables.Table]:
    query = _query(request)
    for table in found:
        table.csv_url = url_for(table.slug) + query
    return found


def _csv_response(table: tables.Table, filename: str) -> StreamingHttpResponse:
    return csv_response(table.csv_rows(), filename=filename)


def _pick(found: list[tables.Table], slug: str) -> tables.Table:
    for table in found:
        if table.slug == slug:
            return table
    raise Http404(_("There is no such table."))


def _page(request, template: str, context: dict):
    machines = _machines(request)
    return render(
        request,
        template,
        {
            "page_width": PAGE_WIDTH,
            "machines": machines,
            "machines_toggle": _query(request, machines="" if machines else "1"),
            **context,
        },
    )


def _analytics_url(campaign: Campaign) -> str:
    return reverse("tracking:analytics_campaign", args=[campaign.pk])


# Campaign list and comparison ------------------------------------------------------------------


def _list_tables(request, campaigns) -> list[tables.Table]:
    summaries = selectors.campaign_summaries(campaigns=list(campaigns), machines=_machines(request))
    table = tables.campaign_list_table(summaries, machines=_machines(request), analytics_url=_analytics_url)
    return _with_csv_urls(request, [table], lambda slug: reverse("tracking:analytics_campaigns_csv"))


@staff_permission_required("campaigns.view_campaign")
def campaign_list(request):
    paginator = Paginator(selectors.analysed_campaigns(), CAMPAIGNS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return _page(
        request,
        "tracking/analytics/campaign_list.html",
        {
            "tables": _list_tables(request, page.object_list),
            "page_obj": page,
            "choices": selectors.analysed_campaigns().only("pk", "name", "started_at")[:500],
        },
    )


@staff_permission_required("campaigns.view_campaign")
def campaign_list_csv(request):
    table = _list_tables(request, selectors.analysed_campaigns())[0]
    return _csv_response(table, "campaigns.csv")


def _compared(request) -> tuple[Campaign, Campaign]:
    try:
        first, second = int(request.GET.get("a", "")), int(request.GET.get("b", ""))
    except ValueError:
        raise Http404(_("Choose two campaigns to compare.")) from None
    return get_object_or_404(Campaign, pk=first), get_object_or_404(Campaign, pk=second)


def _comparison_tables(request, first: Campaign, second: Campaign) -> list[tables.Table]:
    summaries = selectors.campaign_summaries(campaigns=[first, second], machines=_machines(request))
    found = tables.comparison_tables(*summaries)
    return _with_csv_urls(request, found, lambda slug: reverse("tracking:analytics_compare_csv", args=[slug]))


@staff_permission_required("campaigns.view_campaign")
def campaign_compare(request):
    first, second = _compared(request)
    return _page(
        request,
        "tracking/analytics/compare.html",
        {"first": first, "second": second, "tables": _comparison_tables(request, first, second)},
    )


@staff_permission_required("campaigns.view_campaign")
def campaign_compare_csv(request, table):
    first, second = _compared(request)
    found = _pick(_comparison_tables(request, first, second), table)
    return _csv_response(found, f"compare-{first.pk}-{second.pk}-{table}.csv")


# One campaign ---------------------------------------------------------------------------------


def _campaign_tables(request, campaign: Campaign, registered: list[tables.Table] | None = None) -> list[tables.Table]:
    machines = _machines(request)
    funnel = selectors.campaign_funnel(campaign=campaign, machines=machines)
    summary = selectors.CampaignSummary(
        campaign=campaign, funnel=funnel, list_unsubscribes=selectors.campaign_list_unsubscribes(campaign=campaign)
    )
    hours, later = selectors.campaign_hours_since_sending(campaign=campaign, machines=machines)
    articles = selectors.campaign_articles(campaign=campaign, machines=machines)
    headlines = {article.article_id: article.headline for article in articles}
    found = [
        tables.funnel_table(funnel),
        tables.summary_table(summary, machines=machines),
        tables.hours_table(hours, later, machines=machines),
        tables.articles_table(articles, machines=machines),
        tables.links_table(
            selectors.campaign_links(campaign=campaign, machines=machines), headlines, machines=machines
        ),
        *tables.client_tables(selectors.campaign_clients(campaign=campaign, machines=machines)),
        tables.domains_table(selectors.campaign_domains(campaign=campaign)),
        *tables.machines_tables(selectors.campaign_human_machine(campaign=campaign, funnel=funnel, machines=machines)),
        *(tables.campaign_registered_tables(campaign) if registered is None else registered),
    ]
    return _with_csv_urls(
        request, found, lambda slug: reverse("tracking:analytics_campaign_csv", args=[campaign.pk, slug])
    )


@staff_permission_required("campaigns.view_campaign")
def campaign_detail(request, pk):
    campaign = get_object_or_404(Campaign, pk=pk)
    # The registered tables come last; the page shows them in that order, after its own.
    registered = tables.campaign_registered_tables(campaign)
    all_tables = _campaign_tables(request, campaign, registered)
    found = {table.slug: table for table in all_tables}
    return _page(
        request, "tracking/analytics/campaign.html", {"campaign": campaign, "t": found, "registered": registered}
    )


@staff_permission_required("campaigns.view_campaign")
def campaign_csv(request, pk, table):
    campaign = get_object_or_404(Campaign, pk=pk)
    return _csv_response(_pick(_campaign_tables(request, campaign), table), f"campaign-{campaign.pk}-{table}.csv")


# Audience -------------------------------------------------------------------------------------


def _audience_list(request) -> MailingList | None:
    value = request.GET.get("list", "")
    if not value:
        return None
    if not value.isdigit():
        raise Http404(_("There is no such list."))
    return get_object_or_404(MailingList, pk=int(value))


def _months(request) -> int:
    value = request.GET.get("months", "")
    return min(max(int(value), 1), selectors.GROWTH_MONTHS) if value.isdigit() else 12


def _audience_tables(figures: selectors.AudienceFigures, request) -> list[tables.Table]:
    found = [
        tables.segments_table(figures.segments),
        tables.scores_table(figures.scores),
        tables.growth_table(figures.growth),
    ]
    return _with_csv_urls(request, found, lambda slug: reverse("tracking:analytics_audience_csv", args=[slug]))


def _audience_figures(request, mailing_list: MailingList | None) -> selectors.AudienceFigures:
    return selectors.audience_figures(mailing_list=mailing_list, months=_months(request))


@staff_permission_required("campaigns.view_campaign")
def audience(request):
    from django.conf import settings

    mailing_list = _audience_list(request)
    figures = _audience_figures(request, mailing_list)
    return _page(
        request,
        "tracking/analytics/audience.html",
        {
            "t": {table.slug: table for table in _audience_tables(figures, request)},
            "figures": figures,
            "mailing_list": mailing_list,
            "mailing_lists": MailingList.objects.order_by("name"),
            "months": _months(request),
            "engaged_days": settings.KANAL_ENGAGED_DAYS,
            "subscribers_csv": reverse("tracking:analytics_audience_subscribers_csv") + _query(request),
            "can_export_subscribers": may_use(request.user, audience_subscribers_csv),
        },
    )


@staff_permission_required("campaigns.view_campaign")
def audience_csv(request, table):
    figures = _audience_figures(request, _audience_list(request))
    return _csv_response(_pick(_audience_tables(figures, request), table), f"audience-{table}.csv")


@staff_permission_required("campaigns.view_campaign", "subscribers.view_subscriber")
def audience_subscribers_csv(request):
    rows = selectors.subscriber_engagement_rows(mailing_list=_audience_list(request))
    return csv_response(rows, filename="audience-subscribers.csv")
