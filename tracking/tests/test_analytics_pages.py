"""Staff analytics pages: who may see them, what they show, CSV of every table, and escaping."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from surveys.models import Response
from surveys.tests.factories import SurveyFactory
from tracking import selectors
from tracking.models import ClientStats, DomainStats, TrackedLink
from tracking.tests.conftest import hit, process, urls_for
from tracking.tests.factories import CampaignFactory, DeliveryFactory, SubscriberFactory
from tracking.tests.test_user_agents import IPHONE_MAIL, OUTLOOK

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("x")</script>'
CAMPAIGN_TABLES = [
    "funnel",
    "summary",
    "hours",
    "articles",
    "links",
    "devices",
    "systems",
    "clients",
    "domains",
    "machines",
    "machine_reasons",
    "surveys",
    "sharing",
    "offers",
]


@pytest.fixture
def sent(client, campaign):
    """Three readers tracked individually, one anonymous; a few opens and clicks, counted."""
    campaign.campaign.started_at = timezone.now() - timedelta(hours=2)
    campaign.campaign.save()
    readers = [
        DeliveryFactory(campaign=campaign.campaign, subscriber=SubscriberFactory(email=email, tracking_consent=consent))
        for email, consent in (
            ("ana@web.de", True),
            ("ben@web.de", True),
            ("cem@gmx.de", True),
            ("dora@gmx.de", False),
        )
    ]
    ana, ben, cem, dora = readers
    hit(client, urls_for(campaign, ana)[0], user_agent=IPHONE_MAIL)
    hit(client, urls_for(campaign, ana)[1][0], user_agent=IPHONE_MAIL)  # first article
    hit(client, urls_for(campaign, ben)[0], user_agent=OUTLOOK)
    hit(client, urls_for(campaign, ben)[1][3], user_agent=OUTLOOK)  # second article, body link
    hit(client, urls_for(campaign, dora)[1][3], user_agent=OUTLOOK)
    hit(client, urls_for(campaign, cem)[0], user_agent="Mozilla/5.0")  # Apple's proxy
    process()
    return campaign


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_user("analyst", "analyst@example.org", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(user)
    return user


def page_url(campaign, **query):
    url = reverse("tracking:analytics_campaign", args=[campaign.campaign.pk])
    return url + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def csv_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode()), "a byte order mark, so Excel reads UTF-8"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def table_rows(html: str, slug: str) -> list[list[str]]:
    """The text of each cell of one table on a page."""
    import re
    from html import unescape

    table = re.search(rf'<table[^>]*id="table-{slug}".*?</table>', html, re.S).group(0)
    body = table.split("<tbody>")[1]
    return [
        [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


# Who may look --------------------------------------------------------------------------------------


def test_pages_need_a_staff_login(client, sent):
    for url in (reverse("tracking:analytics_campaigns"), page_url(sent), reverse("tracking:analytics_audience")):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_without_permission_to_view_campaigns_are_refused(client, sent):
    user = get_user_model().objects.create_user("helper", "helper@example.org", "pw", is_staff=True)
    client.force_login(user)
    assert client.get(page_url(sent)).status_code == 403
    assert client.get(reverse("tracking:analytics_campaign_csv", args=[sent.campaign.pk, "funnel"])).status_code == 403


def test_addresses_per_subscriber_need_permission_to_view_subscribers(client, staff, sent):
    url = reverse("tracking:analytics_audience_subscribers_csv")
    assert client.get(url).status_code == 403
    assert "Scores per subscriber" not in client.get(reverse("tracking:analytics_audience")).content.decode()
    staff.user_permissions.add(Permission.objects.get(codename="view_subscriber"))
    rows = csv_of(client.get(url))
    assert rows[0][0] == "email" and {row[0] for row in rows[1:]} >= {"ana@web.de", "dora@gmx.de"}


# What they show --------------------------------------------------------------------------------------


def test_campaign_page_shows_the_figures_of_its_events(client, staff, sent):
    response = client.get(page_url(sent))
    html = response.content.decode()

    assert response.status_code == 200
    # A click means the mail was read: the anonymous reader who only clicked counts as an opener too.
    assert [row[1] for row in table_rows(html, "funnel")] == ["4", "4", "3", "3"]
    articles = table_rows(html, "articles")
    assert [(row[0], row[1], row[2], row[3]) for row in articles] == [
        ("2", "Erster", "1", "1"),
        ("1", "Zweiter", "2", "1"),
    ]
    # Labels in German, the site's default language.
    assert table_rows(html, "devices") == [["Desktop", "1", "2", "50,0 %"], ["Smartphone", "1", "1", "50,0 %"]]
    assert table_rows(html, "machines") == [["Menschen", "2", "3"], ["Maschinen", "1", "0"]]
    assert [row[:3] for row in table_rows(html, "domains")] == [["gmx.de", "2", "0"], ["web.de", "2", "2"]]
    assert html.count('class="analytics-chart"') == 7, "funnel, hours, articles, devices, clients, domains, machines"
    assert "surveys/vendor/chartjs/chart.umd.min.js" in html


def test_the_page_reads_counters_not_events(client, staff, sent):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(page_url(sent)).status_code == 200
    assert not [query["sql"] for query in queries if '"tracking_event"' in query["sql"]]
    assert len(queries) < 30


def test_machines_are_left_out_unless_asked_for(client, staff, sent):
    people = table_rows(client.get(page_url(sent)).content.decode(), "hours")
    everyone = client.get(page_url(sent, machines=1)).content.decode()
    assert sum(int(row[2]) for row in people) == 2
    assert sum(int(row[2]) for row in table_rows(everyone, "hours")) == 3
    assert "Raten zählen weiterhin nur Menschen" in everyone
    assert [row[1] for row in table_rows(everyone, "funnel")] == ["4", "4", "3", "3"], "rates stay people"


def test_campaign_list_and_comparison(client, staff, sent):
    other = CampaignFactory(name="December", started_at=timezone.now())
    DeliveryFactory(campaign=other)

    html = client.get(reverse("tracking:analytics_campaigns")).content.decode()
    rows = table_rows(html, "campaigns")
    assert [row[0] for row in rows] == ["December", "November"]
    november = rows[1]
    # sent, delivered, open rate, click rate, click-to-open, unsubscribes, bounces, complaints
    assert november[2:] == ["4", "4", "75,0 %", "75,0 %", "100,0 %", "0", "0", "0"]
    assert (
        len(
            table_rows(
                client.get(reverse("tracking:analytics_campaigns") + "?machines=1").content.decode(), "campaigns"
            )[1]
        )
        == 12
    )

    compare = client.get(reverse("tracking:analytics_compare") + f"?a={sent.campaign.pk}&b={other.pk}")
    rates = table_rows(compare.content.decode(), "comparison_rates")
    assert rates[0][1:] == ["75,0 %", "0,0 %", "-75,0 %"]
    counts = table_rows(compare.content.decode(), "comparison_counts")
    assert counts[0][1:] == ["4", "1", "-3"]
    assert client.get(reverse("tracking:analytics_compare") + "?a=x&b=1").status_code == 404


def test_survey_responses_link_to_the_results(client, staff, sent):
    survey = SurveyFactory(campaign=sent.campaign, title="Wie war's?")
    for _answer in range(2):
        Response.objects.create(survey=survey, source=Response.Source.PUBLIC)
    html = client.get(page_url(sent)).content.decode()
    assert table_rows(html, "surveys") == [["Wie war's?", "2"]]
    assert reverse("surveys:results", args=[survey.pk]) in html


def test_audience_page(client, staff, sent):
    response = client.get(reverse("tracking:analytics_audience"))
    html = response.content.decode()
    assert response.status_code == 200
    segments = {row[0]: row[1] for row in table_rows(html, "segments")}
    assert segments == {"engagiert": "2", "ruhend": "0", "nie engagiert": "1", "nicht persönlich gemessen": "1"}
    assert len(table_rows(html, "growth")) == 12
    assert (
        len(table_rows(client.get(reverse("tracking:analytics_audience") + "?months=3").content.decode(), "growth"))
        == 3
    )


def test_audience_page_shows_the_figures_of_the_hourly_run_and_when_they_were_computed(client, staff, sent):
    from tracking.tasks import refresh_engagement

    url = reverse("tracking:analytics_audience")
    before = client.get(url).content.decode()
    assert "Zahlen soeben berechnet" in before  # fresh install: no run yet, the figures are computed per request
    refresh_engagement()
    SubscriberFactory(tracking_consent=False)  # signs up after the run: shows at the next one

    with CaptureQueriesContext(connection) as queries:
        html = client.get(url).content.decode()

    assert "Zahlen vom" in html
    assert not [query for query in queries if '"subscribers_subscriber"' in query["sql"]]
    for slug in ("segments", "growth"):
        assert table_rows(html, slug) == table_rows(before, slug)
    # The run gave the readers their scores; the page shows them as the run left them.
    assert (
        [int(row[1]) for row in table_rows(html, "scores")]
        == [bucket.subscribers for bucket in selectors.audience_score_distribution()]
        != [int(row[1]) for row in table_rows(before, "scores")]
    )
    refresh_engagement()
    segments = {row[0]: row[1] for row in table_rows(client.get(url).content.decode(), "segments")}
    assert segments["nicht persönlich gemessen"] == "2"
    assert csv_of(client.get(reverse("tracking:analytics_audience_csv", args=["segments"])))[4][:2] == [
        "nicht persönlich gemessen",
        "2",
    ]


def test_admin_change_page_links_to_the_analytics(admin_client, sent):
    html = admin_client.get(reverse("admin:campaigns_campaign_change", args=[sent.campaign.pk])).content.decode()
    assert page_url(sent) in html


# CSV ------------------------------------------------------------------------------------------------


def test_every_table_of_the_campaign_page_is_a_csv_download(client, staff, sent):
    html = client.get(page_url(sent)).content.decode()
    for slug in CAMPAIGN_TABLES:
        url = reverse("tracking:analytics_campaign_csv", args=[sent.campaign.pk, slug])
        assert f'href="{url}"' in html, slug
        rows = csv_of(client.get(url))
        assert rows[0], slug
    assert client.get(reverse("tracking:analytics_campaign_csv", args=[sent.campaign.pk, "nope"])).status_code == 404


def test_csv_content_matches_the_figures(client, staff, sent):
    def download(slug, **query):
        url = reverse("tracking:analytics_campaign_csv", args=[sent.campaign.pk, slug])
        return csv_of(client.get(url, query))

    funnel = download("funnel")
    assert funnel[0] == ["step", "count", "share_of_sent_percent"]
    assert [row[1:] for row in funnel[1:]] == [["4", "100.0"], ["4", "100.0"], ["3", "75.0"], ["3", "75.0"]]
    assert download("articles") == [
        ["rank", "article", "clicks", "unique_clickers", "share_of_clicks_percent"],
        ["2", "Erster", "1", "1", "33.3"],
        ["1", "Zweiter", "2", "1", "66.7"],
    ]
    links = download("links")
    assert links[0] == ["rank", "url", "article", "kind", "clicks", "unique_clickers", "share_of_clicks_percent"]
    assert [row[1] for row in links[1:]] == [link.url for link in sent.compiled.links]
    assert download("articles", machines=1)[0][-1] == "machine_clicks"
    assert download("domains")[1:] == [["gmx.de", "2", "0", "0.0", "0"], ["web.de", "2", "2", "100.0", "2"]]
    hours = download("hours")
    assert hours[0] == ["hour", "hours_since_sending", "opens", "clicks"]
    assert sum(int(row[2]) for row in hours[1:]) == 2 and sum(int(row[3]) for row in hours[1:]) == 3
    assert download("machine_reasons")[1][1] == "1"

    listing = csv_of(client.get(reverse("tracking:analytics_campaigns_csv")))
    assert listing[1][0] == "November" and listing[1][2:5] == ["4", "4", "75.0"]
    audience = csv_of(client.get(reverse("tracking:analytics_audience_csv", args=["segments"])))
    assert audience[0] == ["segment", "subscribers", "share_percent"]
    compare = reverse("tracking:analytics_compare_csv", args=["comparison_counts"])
    assert csv_of(client.get(compare, {"a": sent.campaign.pk, "b": sent.campaign.pk}))[1][1:] == ["4", "4", "0"]


def test_csv_keeps_negative_differences_numbers(client, staff, sent):
    other = CampaignFactory(name="December", started_at=timezone.now())
    DeliveryFactory(campaign=other)

    def download(slug):
        response = client.get(
            reverse("tracking:analytics_compare_csv", args=[slug]), {"a": sent.campaign.pk, "b": other.pk}
        )
        return b"".join(response.streaming_content).decode("utf-8-sig")

    rates, counts = download("comparison_rates"), download("comparison_counts")
    assert list(csv.reader(io.StringIO(rates)))[1][1:] == ["75.0", "0.0", "-75.0"]
    assert '",75.0,0.0,-75.0\r\n' in rates, "numbers unquoted, text quoted"
    assert '",4,1,-3\r\n' in counts


def test_csv_cells_cannot_become_spreadsheet_formulas(client, staff, sent):
    article = sent.campaign.articles.get(position=0)
    article.headline = '=HYPERLINK("https://evil.example","click")'
    article.save()
    rows = csv_of(client.get(reverse("tracking:analytics_campaign_csv", args=[sent.campaign.pk, "articles"])))
    assert rows[1][1] == "'" + article.headline


# Escaping -------------------------------------------------------------------------------------------


def test_user_agents_urls_and_texts_from_outside_are_escaped_everywhere(client, staff, sent):
    campaign = sent.campaign
    campaign.name = f"Name {SCRIPT}"
    campaign.subject = f"Subject {SCRIPT}"
    campaign.save()
    article = campaign.articles.get(position=0)
    article.headline = f"Headline {SCRIPT}"
    article.save()
    TrackedLink.objects.filter(pk=sent.link_ids[0]).update(url=f'https://example.org/?q="><{SCRIPT[1:]}')
    reader = DeliveryFactory(campaign=campaign, subscriber=SubscriberFactory(tracking_consent=True))
    hit(client, urls_for(sent, reader)[0], user_agent=f"Thunderbird/115.0 {SCRIPT} (X11; Linux)")
    hit(client, urls_for(sent, reader)[0], user_agent=SCRIPT)
    process()
    ClientStats.objects.create(
        campaign=campaign, kind="open", device="unknown", os=SCRIPT[:50], client=SCRIPT, events=1
    )
    DomainStats.objects.create(campaign=campaign, domain=f"{SCRIPT}.example", opens=1)
    SurveyFactory(campaign=campaign, title=f"Survey {SCRIPT}")

    pages = [
        page_url(sent),
        page_url(sent, machines=1),
        reverse("tracking:analytics_campaigns"),
        reverse("tracking:analytics_compare") + f"?a={campaign.pk}&b={campaign.pk}",
        reverse("tracking:analytics_audience"),
    ]
    for url in pages:
        html = client.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert 'href="https://example.org/?q="><' not in html
    html = client.get(page_url(sent)).content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert html.count("&lt;script&gt;") >= 6, "headline, link, client, system, domain, survey, name: shown as text"


def test_only_web_links_become_clickable(client, staff, sent):
    TrackedLink.objects.filter(pk=sent.link_ids[0]).update(url="javascript:alert(1)")
    html = client.get(page_url(sent)).content.decode()
    assert 'href="javascript:' not in html
    assert "javascript:alert(1)" in html, "still listed, as text"
