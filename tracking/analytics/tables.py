"""The tables of the analytics pages, built once from the selectors and shown three ways: as an
HTML table, as the data of the chart drawn above it (``static/tracking/analytics.js`` reads the
table, so nothing is shown only in a chart), and as a CSV download with stable column keys.

Cells keep the raw value (for charts and CSV) and a display string formatted for the active
language. Text from outside (URLs, user agents, link texts, headlines) is only ever escaped by
the template; nothing here marks anything safe.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from tracking import selectors

TEXT, INT, PERCENT, DATETIME, LINK = "text", "int", "percent", "datetime", "link"
# An amount of money: a Decimal with two places, shown in the active language's format.
MONEY = "money"


@dataclass(frozen=True)
class Column:
    key: str  # CSV header, stable across languages
    label: str
    kind: str = INT


@dataclass(frozen=True)
class Chart:
    """A chart drawn from the table: ``values`` are column indexes, ``label`` the column of the labels."""

    type: str  # bar, line, doughnut
    values: tuple[int, ...]
    label: int = 0
    horizontal: bool = False
    stacked: bool = False
    title: str = ""

    @property
    def values_attr(self) -> str:
        return ",".join(str(index) for index in self.values)


@dataclass(frozen=True)
class Cell:
    raw: object
    display: str
    kind: str = TEXT
    url: str = ""

    @property
    def numeric(self) -> bool:
        return self.kind in (INT, PERCENT, MONEY)

    @property
    def data_value(self) -> str:
        if isinstance(self.raw, Decimal):
            return str(self.raw)
        if isinstance(self.raw, bool) or not isinstance(self.raw, int | float):
            return ""
        return repr(round(self.raw * 100, 2)) if isinstance(self.raw, float) else str(self.raw)


@dataclass
class Table:
    slug: str
    title: str
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    note: str = ""
    # (row index → url) for LINK columns: the first LINK column's cell links there.
    links: dict[int, str] = field(default_factory=dict)
    csv_url: str = ""

    def cells(self) -> Iterator[list[Cell]]:
        for index, row in enumerate(self.rows):
            yield [
                Cell(
                    value,
                    display(value, column.kind),
                    column.kind,
                    self.links.get(index, "") if column.kind == LINK else "",
                )
                for value, column in zip(row, self.columns, strict=True)
            ]

    def csv_rows(self) -> Iterator[list]:
        yield [column.key for column in self.columns]
        for row in self.rows:
            yield [csv_value(value, column.kind) for value, column in zip(row, self.columns, strict=True)]


def display(value, kind: str) -> str:
    if value is None or value == "":
        return "–"
    if kind == PERCENT:
        # number_format cuts digits off; round first.
        return formats.number_format(round(value * 100, 1), decimal_pos=1) + " %"
    if kind == INT:
        return formats.number_format(value)
    if kind == MONEY:
        return formats.number_format(value, decimal_pos=2)
    if kind == DATETIME:
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    return str(value)


def csv_value(value, kind: str):
    """The raw value for the CSV download; ``newsletter_site.csv_export`` escapes text and writes dates."""
    if kind == PERCENT and value is not None:
        return Decimal(f"{value * 100:.1f}")
    return value


# Campaign page ------------------------------------------------------------------------------


def funnel_table(funnel: selectors.Funnel) -> Table:
    steps = [
        (_("sent"), funnel.sent),
        (_("delivered"), funnel.delivered),
        (_("opened (people)"), funnel.estimated_openers),
        (_("clicked (people)"), funnel.estimated_clickers),
    ]
    return Table(
        slug="funnel",
        title=_("Funnel"),
        columns=[
            Column("step", _("Step"), TEXT),
            Column("count", _("Count")),
            Column("share_of_sent_percent", _("Share of sent"), PERCENT),
        ],
        rows=[[str(label), count, count / funnel.sent if funnel.sent else None] for label, count in steps],
        charts=[Chart("bar", values=(1,), horizontal=True)],
        note=_(
            "Opened and clicked count people: each reader tracked individually once, anonymous readers "
            "estimated from their opens and clicks."
        ),
    )


def summary_table(summary: selectors.CampaignSummary, *, machines: bool) -> Table:
    funnel = summary.funnel
    rows = [
        (_("Open rate"), funnel.open_rate, PERCENT),
        (_("Click rate"), funnel.click_rate, PERCENT),
        (_("Click-to-open rate"), funnel.click_to_open_rate, PERCENT),
        (_("Opens") if not machines else _("Opens (people and machines)"), funnel.opens, INT),
        (_("Readers who opened, tracked individually"), funnel.unique_opens, INT),
        (_("Anonymous opens"), funnel.anonymous_opens, INT),
        (_("Clicks") if not machines else _("Clicks (people and machines)"), funnel.clicks, INT),
        (_("Readers who clicked, tracked individually"), funnel.unique_clicks, INT),
        (_("Anonymous clicks"), funnel.anonymous_clicks, INT),
        (_("Machine opens"), funnel.machine_opens, INT),
        (_("Machine clicks"), funnel.machine_clicks, INT),
        (_("Unsubscribes"), summary.unsubscribes, INT),
        (_("Bounces"), funnel.bounced, INT),
        (_("Soft bounces"), funnel.soft_bounced, INT),
        (_("Spam complaints"), funnel.complained, INT),
        (_("Skipped (frequency cap)"), funnel.skipped_frequency_cap, INT),
    ]
    return Table(
        slug="summary",
        title=_("Figures"),
        columns=[Column("figure", _("Figure"), TEXT), Column("value", _("Value"), TEXT)],
        rows=[[str(label), display(value, kind)] for label, value, kind in rows],
        note=_(
            "Rates count people, never machines: machine events cannot be told apart per person. "
            "Unsubscribes: recipients who left one of the campaign's lists before the next campaign "
            "(at most 30 days), or what the ESP reported if that is more."
        ),
    )


def hours_table(rows: list, later, *, machines: bool) -> Table:
    columns = [
        Column("hour", _("Hour"), DATETIME),
        Column("hours_since_sending", _("Hours since sending")),
        Column("opens", _("Opens")),
        Column("clicks", _("Clicks")),
    ]
    if machines:
        columns += [
            Column("machine_opens", _("of which machines (opens)")),
            Column("machine_clicks", _("of which machines (clicks)")),
        ]
    values = []
    for row in [*rows, *([later] if later else [])]:
        cells = [row.hour, row.since_sending, row.opens, row.clicks]
        if machines:
            cells += [row.machine_opens, row.machine_clicks]
        values.append(cells)
    return Table(
        slug="hours",
        title=_("Opens and clicks per hour since sending"),
        columns=columns,
        rows=values,
        charts=[Chart("line", values=(2, 3))],
        note=_("Every hour of the first two weeks; the last row sums up everything later, if anything.")
        if later
        else "",
    )


def articles_table(articles: list, *, machines: bool) -> Table:
    columns = [
        Column("rank", _("Rank")),
        Column("article", _("Article"), TEXT),
        Column("clicks", _("Clicks")),
        Column("unique_clickers", _("Unique clickers")),
        Column("share_of_clicks_percent", _("Share of clicks"), PERCENT),
    ]
    if machines:
        columns.append(Column("machine_clicks", _("of which machines")))
    rows = []
    for article in articles:
        row = [article.rank, article.headline, article.clicks, article.unique_clicks, article.share]
        if machines:
            row.append(article.machine_clicks)
        rows.append(row)
    return Table(
        slug="articles",
        title=_("Articles"),
        columns=columns,
        rows=rows,
        charts=[Chart("bar", values=(2,), label=1, horizontal=True)],
        note=_("Unique clickers: readers tracked individually, each counted once per article."),
    )


def links_table(links: list, headlines: dict[int, str], *, machines: bool) -> Table:
    columns = [
        Column("rank", _("Rank")),
        Column("url", _("Link"), LINK),
        Column("article", _("Article"), TEXT),
        Column("kind", _("Kind"), TEXT),
        Column("clicks", _("Clicks")),
        Column("unique_clickers", _("Unique clickers")),
        Column("share_of_clicks_percent", _("Share of clicks"), PERCENT),
    ]
    if machines:
        columns.append(Column("machine_clicks", _("of which machines")))
    kinds = dict(selectors.campaigns.TrackedLink.Kind.choices)
    rows, targets = [], {}
    for index, link in enumerate(links):
        row = [
            link.rank,
            link.url,
            headlines.get(link.article_id, ""),
            str(kinds.get(link.kind, link.kind)),
            link.clicks,
            link.unique_clicks,
            link.share,
        ]
        if machines:
            row.append(link.machine_clicks)
        rows.append(row)
        if link.url.lower().startswith(("http://", "https://")):
            targets[index] = link.url
    return Table(slug="links", title=_("Links"), columns=columns, rows=rows, links=targets)


def client_tables(clients: dict[str, list]) -> list[Table]:
    titles = {
        "device": (_("Devices"), _("Device"), Chart("doughnut", values=(1,))),
        "client": (_("Mail clients"), _("Mail client or browser"), Chart("bar", values=(1, 2), horizontal=True)),
        "os": (_("Operating systems"), _("Operating system"), None),
    }
    tables = []
    for dimension in ("device", "client", "os"):
        title, label, chart = titles[dimension]
        tables.append(
            Table(
                slug=f"{dimension}s" if dimension != "os" else "systems",
                title=title,
                columns=[
                    Column(dimension, label, TEXT),
                    Column("opens", _("Opens")),
                    Column("clicks", _("Clicks")),
                    Column("share_of_opens_percent", _("Share of opens"), PERCENT),
                ],
                rows=[[row.name, row.opens, row.clicks, row.share] for row in clients[dimension]],
                charts=[chart] if chart and clients[dimension] else [],
            )
        )
    tables[0].note = _("From the user agent of each open and click (ua-parser).")
    return tables


def domains_table(domains: list) -> Table:
    return Table(
        slug="domains",
        title=_("Top recipient domains"),
        columns=[
            Column("domain", _("Domain"), TEXT),
            Column("sent", _("Sent")),
            Column("unique_openers", _("Readers who opened")),
            Column("open_rate_percent", _("Open rate"), PERCENT),
            Column("unique_clickers", _("Readers who clicked")),
        ],
        rows=[[row.domain, row.sent, row.unique_opens, row.open_rate, row.unique_clicks] for row in domains],
        charts=[Chart("bar", values=(1, 2), horizontal=True)] if domains else [],
        note=_("Readers tracked individually only: an anonymous open has no address, so rates here are a floor."),
    )


def machines_tables(share: selectors.campaigns.HumanMachine) -> list[Table]:
    people = Table(
        slug="machines",
        title=_("People and machines"),
        columns=[
            Column("who", _("Who"), TEXT),
            Column("opens", _("Opens")),
            Column("clicks", _("Clicks")),
        ],
        rows=[
            [str(_("people")), share.opens, share.clicks],
            [str(_("machines")), share.machine_opens, share.machine_clicks],
        ],
        charts=[Chart("bar", values=(1, 2))],
        note=_(
            "Machines: image proxies such as Apple Mail Privacy Protection, security scanners that "
            "follow every link, HEAD requests and hits on a hidden link no reader sees."
        ),
    )
    reasons = Table(
        slug="machine_reasons",
        title=_("Machine events by reason"),
        columns=[Column("reason", _("Reason"), TEXT), Column("events", _("Events"))],
        rows=[[label, events] for _reason, label, events in share.reasons],
    )
    return [people, reasons]


CAMPAIGN_TABLES: list = []
"""Tables apps built on tracking add to a campaign's page, called as ``table(campaign=...)``
(surveys adds its responses); registered in their ``AppConfig.ready()``. A table that does not
apply to the campaign returns None."""


def campaign_registered_tables(campaign) -> list[Table]:
    """The tables other apps add (``CAMPAIGN_TABLES``); one that does not apply gives None and is left out."""
    found = (table(campaign=campaign) for table in CAMPAIGN_TABLES)
    return [table for table in found if table is not None]


def surveys_table(surveys: list) -> Table:
    from django.urls import reverse

    table = Table(
        slug="surveys",
        title=_("Survey responses"),
        columns=[Column("survey", _("Survey"), LINK), Column("responses", _("Responses"))],
        rows=[[survey.title, count] for survey, count in surveys],
    )
    table.links = {
        index: reverse("surveys:results", args=[survey.pk]) for index, (survey, _count) in enumerate(surveys)
    }
    return table


# Campaign list and comparison -----------------------------------------------------------------


def campaign_list_table(summaries: list, *, machines: bool, analytics_url) -> Table:
    columns = [
        Column("campaign", _("Campaign"), LINK),
        Column("started_at", _("Sent on"), DATETIME),
        Column("sent", _("Sent")),
        Column("delivered", _("Delivered")),
        Column("open_rate_percent", _("Open rate"), PERCENT),
        Column("click_rate_percent", _("Click rate"), PERCENT),
        Column("click_to_open_rate_percent", _("Click-to-open rate"), PERCENT),
        Column("unsubscribes", _("Unsubscribes")),
        Column("bounces", _("Bounces")),
        Column("complaints", _("Complaints")),
    ]
    if machines:
        columns += [Column("machine_opens", _("Machine opens")), Column("machine_clicks", _("Machine clicks"))]
    rows = []
    for summary in summaries:
        funnel = summary.funnel
        row = [
            summary.campaign.name,
            summary.campaign.started_at,
            funnel.sent,
            funnel.delivered,
            funnel.open_rate,
            funnel.click_rate,
            funnel.click_to_open_rate,
            summary.unsubscribes,
            funnel.bounced,
            funnel.complained,
        ]
        if machines:
            row += [funnel.machine_opens, funnel.machine_clicks]
        rows.append(row)
    return Table(
        slug="campaigns",
        title=_("Campaigns"),
        columns=columns,
        rows=rows,
        charts=[Chart("bar", values=(4, 5))] if rows else [],
        links={index: analytics_url(summary.campaign) for index, summary in enumerate(summaries)},
    )


def comparison_tables(first: selectors.CampaignSummary, second: selectors.CampaignSummary) -> list[Table]:
    """Two campaigns side by side: rates (with a chart) and counts, each with the difference."""

    def rates(summary):
        funnel = summary.funnel
        return [
            (_("Open rate"), funnel.open_rate),
            (_("Click rate"), funnel.click_rate),
            (_("Click-to-open rate"), funnel.click_to_open_rate),
        ]

    def counts(summary):
        funnel = summary.funnel
        return [
            (_("Sent"), funnel.sent),
            (_("Delivered"), funnel.delivered),
            (_("Opens"), funnel.opens),
            (_("Clicks"), funnel.clicks),
            (_("Unsubscribes"), summary.unsubscribes),
            (_("Bounces"), funnel.bounced),
            (_("Complaints"), funnel.complained),
        ]

    def side_by_side(pairs_a, pairs_b):
        rows = []
        for (label, a), (_label, b) in zip(pairs_a, pairs_b, strict=True):
            rows.append([str(label), a, b, b - a if a is not None and b is not None else None])
        return rows

    names = (f"A: {first.campaign.name}", f"B: {second.campaign.name}")
    return [
        Table(
            slug="comparison_rates",
            title=_("Rates"),
            columns=[
                Column("figure", _("Figure"), TEXT),
                Column("a_percent", names[0], PERCENT),
                Column("b_percent", names[1], PERCENT),
                Column("difference_points", _("B − A (percentage points)"), PERCENT),
            ],
            rows=side_by_side(rates(first), rates(second)),
            charts=[Chart("bar", values=(1, 2))],
        ),
        Table(
            slug="comparison_counts",
            title=_("Counts"),
            columns=[
                Column("figure", _("Figure"), TEXT),
                Column("a", names[0]),
                Column("b", names[1]),
                Column("difference", _("B − A")),
            ],
            rows=side_by_side(counts(first), counts(second)),
        ),
    ]


# Audience -----------------------------------------------------------------------------------


def segments_table(segments: list) -> Table:
    return Table(
        slug="segments",
        title=_("Engagement"),
        columns=[
            Column("segment", _("Segment"), TEXT),
            Column("subscribers", _("Active subscribers")),
            Column("share_percent", _("Share"), PERCENT),
        ],
        rows=[[segment.label, segment.subscribers, segment.share] for segment in segments],
        charts=[Chart("doughnut", values=(1,))],
    )


def growth_table(months: list) -> Table:
    return Table(
        slug="growth",
        title=_("List growth"),
        columns=[
            Column("month", _("Month"), TEXT),
            Column("signups", _("Sign-ups")),
            Column("confirmations", _("Confirmations")),
            Column("unsubscribes", _("Unsubscribes")),
            Column("net", _("Net change")),
            Column("active_at_end", _("Active at month end")),
        ],
        rows=[
            [
                formats.date_format(month.month, "YEAR_MONTH_FORMAT"),
                month.signups,
                month.confirmations,
                month.unsubscribes,
                month.net,
                month.active_at_end,
            ]
            for month in months
        ],
        charts=[Chart("line", values=(5,)), Chart("bar", values=(2, 3))],
        note=_(
            "Subscriptions per list: a subscriber on two lists counts twice. "
            "Erased subscribers are gone from the history."
        ),
    )


def scores_table(buckets: list) -> Table:
    return Table(
        slug="scores",
        title=_("Engagement scores"),
        columns=[Column("score", _("Score"), TEXT), Column("subscribers", _("Active subscribers"))],
        rows=[[bucket.label, bucket.subscribers] for bucket in buckets],
        charts=[Chart("bar", values=(1,))],
    )
