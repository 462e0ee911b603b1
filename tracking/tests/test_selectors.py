"""The figures the analytics pages will show, read from the hourly counters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tracking.selectors import campaign_articles, campaign_funnel, campaign_hours, campaign_links, machine_share
from tracking.tests.conftest import BROWSER, hit, process, urls_for
from tracking.tests.factories import DeliveryFactory, SubscriberFactory
from tracking.tests.test_machines import store

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(campaign):
    return [
        DeliveryFactory(campaign=campaign.campaign, subscriber=SubscriberFactory(tracking_consent=consent))
        for consent in (True, True, True, False)
    ]


def test_funnel_counts_people_once_and_estimates_the_anonymous_part(client, campaign, readers):
    first, second, third, anonymous = readers
    for delivery, opens in ((first, 2), (second, 1), (anonymous, 1)):
        pixel, _links = urls_for(campaign, delivery)
        for _open in range(opens):
            hit(client, pixel)
    hit(client, urls_for(campaign, first)[1][0])
    hit(client, urls_for(campaign, anonymous)[1][2])
    hit(client, urls_for(campaign, third)[0], user_agent="Mozilla/5.0")  # Apple's proxy
    process()

    funnel = campaign_funnel(campaign=campaign.campaign)

    assert (funnel.sent, funnel.delivered) == (4, 4)
    assert (funnel.opens, funnel.unique_opens, funnel.anonymous_opens, funnel.machine_opens) == (4, 2, 1, 1)
    # Identified readers open 1.5 times each, so one anonymous open stands for round(1 / 1.5) = 1 reader.
    assert funnel.estimated_openers == 3
    assert (funnel.clicks, funnel.unique_clicks, funnel.anonymous_clicks, funnel.estimated_clickers) == (2, 1, 1, 2)
    assert funnel.open_rate == 3 / 4 and funnel.click_rate == 2 / 4 and funnel.click_to_open_rate == 2 / 3
    assert campaign_funnel(campaign=campaign.campaign, machines=True).opens == 5


def test_an_empty_campaign_has_no_rates(campaign):
    funnel = campaign_funnel(campaign=campaign.campaign)
    assert funnel.sent == 0 and funnel.open_rate is None and funnel.click_to_open_rate is None


def test_hours_since_sending(campaign, readers):
    first = readers[0]
    start = timezone.now().replace(minute=5, second=0, microsecond=0) - timedelta(hours=3)
    first.sent_at = start - timedelta(minutes=5)
    first.save()
    store("o", delivery=first, at=start)
    store("o", delivery=first, at=start + timedelta(minutes=10))
    store("c", delivery=first, link=campaign.link_ids[0], at=start + timedelta(hours=2))
    process()

    hours = campaign_hours(campaign=campaign.campaign)

    assert [(row.opens, row.unique_opens, row.clicks) for row in hours] == [(2, 1, 0), (0, 0, 1)]
    assert hours[1].hour - hours[0].hour == timedelta(hours=2)


def test_articles_ranked_by_clicks_with_their_share(client, campaign, readers):
    first, second, third, _anonymous = readers
    for delivery in (first, second):
        hit(client, urls_for(campaign, delivery)[1][3])  # second article, body link
    hit(client, urls_for(campaign, third)[1][0])  # first article
    hit(client, urls_for(campaign, third)[1][0], user_agent="curl/8.5")
    process()

    articles = campaign_articles(campaign=campaign.campaign)

    assert [(row.headline, row.clicks, row.unique_clicks, row.rank) for row in articles] == [
        ("Erster", 1, 1, 2),
        ("Zweiter", 2, 2, 1),
    ]
    assert articles[1].share == pytest.approx(2 / 3)
    assert [row.clicks for row in campaign_articles(campaign=campaign.campaign, machines=True)] == [2, 2]


def test_links_with_clicks_in_mail_order(client, campaign, readers):
    hit(client, urls_for(campaign, readers[0])[1][3], user_agent=BROWSER)
    process()
    links = campaign_links(campaign=campaign.campaign)
    assert [row.url for row in links] == [link.url for link in campaign.compiled.links]
    assert [row.clicks for row in links] == [0, 0, 0, 1, 0, 0]
    assert links[3].rank == 1 and links[3].share == 1.0
    assert links[0].rank == 2, "links without clicks share the next place"


def test_machine_share_by_reason(client, campaign, readers):
    pixel, click_urls = urls_for(campaign, readers[0])
    hit(client, pixel, user_agent="Mozilla/5.0")
    hit(client, click_urls[0], method="head")
    process()
    assert machine_share(campaign=campaign.campaign) == {"proxy_open": 1, "head": 1}
