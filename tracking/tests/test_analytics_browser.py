"""End to end: a campaign goes out through the real sending code, readers open and click the real
tracking URLs from their mails, the batcher counts, and staff see exactly those numbers in
Chromium, in tables and in charts drawn from them."""

import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tracking import tokens
from tracking.models import TrackedLink
from tracking.services.events import events_process
from tracking.tests.test_user_agents import IPHONE_MAIL, OUTLOOK

pytestmark = [pytest.mark.browser]


def tracking_urls(message) -> tuple[str, dict[str, str]]:
    """(pixel URL, {target URL: click URL}) of one sent mail, the honeypot left out."""
    html = message.alternatives[0][0]
    pixel = unescape(re.search(r'<img src="([^"]*/t/o/[^"]+)"', html).group(1))
    clicks = {}
    for href in (unescape(href) for href in re.findall(r'href="([^"]+/t/c/[^"]+)"', html)):
        ids = tokens.verify_click(href.rstrip("/").rsplit("/", 1)[1])
        if ids is not None:
            clicks[TrackedLink.objects.get(pk=ids[1]).url] = href
    return pixel, clicks


def visit(client: Client, url: str, user_agent: str) -> int:
    return client.get(urlsplit(url).path, HTTP_USER_AGENT=user_agent, REMOTE_ADDR="203.0.113.9").status_code


def cells(page, slug: str) -> list[list[str]]:
    return page.eval_on_selector(
        f"#table-{slug}",
        "table => [...table.tBodies[0].rows].map(row => [...row.cells].map(cell => cell.textContent.trim()))",
    )


def test_staff_see_the_numbers_their_readers_produced(page, live_server, transactional_db, settings, monkeypatch):
    monkeypatch.setattr(sending, "_queue_senders", lambda **kwargs: None)  # this test sends, not a worker
    news = MailingListFactory(name="News")
    ana, ben, cem = (
        SubscriptionFactory(
            mailing_list=news, subscriber=SubscriberFactory(email=email, tracking_consent=True)
        ).subscriber
        for email in ("ana@web.de", "ben@web.de", "cem@gmx.de")
    )
    campaign = CampaignFactory(name="Herbst", mailing_lists=[news])
    ArticleFactory(campaign=campaign, position=0, headline="Erster", link_url="https://example.org/eins", body="")
    ArticleFactory(
        campaign=campaign,
        position=1,
        headline="Zweiter",
        link_url="https://example.org/zwei",
        body="Mehr [hier](https://example.org/zwei-mehr).",
    )

    sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    assert Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count() == 3
    # The mails went out an hour ago, so no click below is "seconds after sending".
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Delivery.objects.filter(campaign=campaign).update(sent_at=an_hour_ago)
    Campaign.objects.filter(pk=campaign.pk).update(started_at=an_hour_ago)

    mails = {message.anymail_test_params["to"][0].addr_spec: tracking_urls(message) for message in mail.outbox}
    reader = Client()
    # ana opens twice on her phone and clicks the first article; ben opens in Outlook and clicks
    # the second article's text link; cem's mail is fetched by Apple's privacy proxy only.
    assert visit(reader, mails[ana.email][0], IPHONE_MAIL) == 200
    assert visit(reader, mails[ana.email][0], IPHONE_MAIL) == 200
    assert visit(reader, mails[ana.email][1]["https://example.org/eins"], IPHONE_MAIL) == 302
    assert visit(reader, mails[ben.email][0], OUTLOOK) == 200
    assert visit(reader, mails[ben.email][1]["https://example.org/zwei-mehr"], OUTLOOK) == 302
    assert visit(reader, mails[cem.email][0], "Mozilla/5.0") == 200
    outcome = events_process(now=timezone.now() + timedelta(minutes=10))
    assert (outcome.stored, outcome.counted) == (6, 6)

    get_user_model().objects.create_superuser("staff", "staff@example.org", "correct horse battery")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/login/?next=/staff/analytics/campaigns/{campaign.pk}/")
    page.locator("#id_username").fill("staff")
    page.locator("#id_password").fill("correct horse battery")
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(rf"/staff/analytics/campaigns/{campaign.pk}/$"))

    assert page.locator("h1").inner_text() == "Herbst"
    assert [row[1] for row in cells(page, "funnel")] == ["3", "3", "2", "2"]
    assert [row[:5] for row in cells(page, "articles")] == [
        ["1", "Erster", "1", "1", "50,0 %"],
        ["1", "Zweiter", "1", "1", "50,0 %"],
    ]
    links = {row[1]: row[4] for row in cells(page, "links")}
    assert links == {
        "https://example.org/eins": "1",
        "https://example.org/zwei": "0",
        "https://example.org/zwei-mehr": "1",
    }
    hours = cells(page, "hours")
    assert sum(int(row[2]) for row in hours) == 3 and sum(int(row[3]) for row in hours) == 2
    assert cells(page, "devices") == [["Smartphone", "2", "1", "66,7 %"], ["Desktop", "1", "1", "33,3 %"]]
    assert {row[0]: row[1:3] for row in cells(page, "clients")} == {
        "Apple Mail (iOS)": ["2", "1"],
        "Outlook": ["1", "1"],
    }
    assert cells(page, "machines") == [["Menschen", "3", "2"], ["Maschinen", "1", "0"]]
    assert [row[:3] for row in cells(page, "domains")] == [["web.de", "2", "2"], ["gmx.de", "1", "0"]]

    # Every chart is drawn, from the numbers in its table.
    canvases = page.locator("canvas.analytics-chart")
    assert canvases.count() == 7
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas.analytics-chart')].every(canvas => Chart.getChart(canvas))"
    )
    funnel_data = page.evaluate(
        "() => Chart.getChart(document.querySelector('[data-chart-for=table-funnel]')).data.datasets[0].data"
    )
    assert funnel_data == [3, 3, 2, 2]
    hourly = page.evaluate(
        "() => Chart.getChart(document.querySelector('[data-chart-for=table-hours]')).data.datasets"
        ".map(set => set.data.reduce((a, b) => a + b, 0))"
    )
    assert hourly == [3, 2]
    assert (
        page.evaluate("() => document.querySelector('[data-chart-for=table-funnel]').getBoundingClientRect().height")
        > 100
    ), "the chart has room to be seen"

    # Machines on request: Apple's proxy open joins the opens.
    page.locator("[data-machines-toggle]").click()
    page.wait_for_url(re.compile(r"machines=1"))
    assert sum(int(row[2]) for row in cells(page, "hours")) == 4
    assert [row[1] for row in cells(page, "funnel")] == ["3", "3", "2", "2"], "rates stay people"

    # The campaign list shows the same campaign with its rates.
    page.goto(f"{live_server.url}/staff/analytics/")
    (row,) = cells(page, "campaigns")
    assert row[0] == "Herbst" and row[2:7] == ["3", "3", "66,7 %", "66,7 %", "100,0 %"]
    page.wait_for_function("() => Chart.getChart(document.querySelector('[data-chart-for=table-campaigns]'))")
