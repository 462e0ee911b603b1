"""The new analytics figures: clients, domains, hours since sending, machines, unsubscribes, lists.

All of them come from counters the batcher keeps, so each test drives real endpoints and the
real batcher and then reads the figures.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from subscribers.models import Subscription
from subscribers.tests.factories import SubscriptionFactory
from tracking import selectors
from tracking.models import ClientStats, DomainStats, SubscriberEngagement
from tracking.tests.conftest import BROWSER, hit, process, urls_for
from tracking.tests.factories import CampaignFactory, DeliveryFactory, SubscriberFactory
from tracking.tests.test_machines import store
from tracking.tests.test_user_agents import IPHONE_MAIL, OUTLOOK

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(campaign):
    emails = ["ana@web.de", "ben@web.de", "cem@gmx.de", "dora@gmx.de"]
    return [
        DeliveryFactory(
            campaign=campaign.campaign, subscriber=SubscriberFactory(email=email, tracking_consent=index < 3)
        )
        for index, email in enumerate(emails)
    ]


def test_batcher_counts_opens_and_clicks_by_device_system_and_client(client, campaign, readers):
    ana, ben, _cem, dora = readers
    hit(client, urls_for(campaign, ana)[0], user_agent=IPHONE_MAIL)
    hit(client, urls_for(campaign, ana)[1][0], user_agent=IPHONE_MAIL)
    hit(client, urls_for(campaign, ben)[0], user_agent=OUTLOOK)
    hit(client, urls_for(campaign, dora)[0], user_agent=OUTLOOK)  # anonymous: still counted here
    hit(client, urls_for(campaign, ben)[0], user_agent="Mozilla/5.0")  # Apple's proxy
    process()

    with translation.override("en"):
        clients = selectors.campaign_clients(campaign=campaign.campaign)
    assert [(row.name, row.opens, row.clicks) for row in clients["client"]] == [
        ("Outlook", 2, 0),
        ("Apple Mail (iOS)", 1, 1),
    ]
    assert [(row.name, row.opens, row.clicks, row.share) for row in clients["device"]] == [
        ("desktop", 2, 0, 2 / 3),
        ("phone", 1, 1, 1 / 3),
    ]
    assert [row.name for row in clients["os"]] == ["Windows", "iOS"]
    with_machines = selectors.campaign_clients(campaign=campaign.campaign, machines=True)
    assert ("Other", 1, 0) in [(row.name, row.opens, row.clicks) for row in with_machines["client"]]
    assert ClientStats.objects.get(machine_reason="proxy_open").events == 1


def test_running_the_batcher_again_adds_nothing_to_the_new_counters(client, campaign, readers):
    hit(client, urls_for(campaign, readers[0])[0], user_agent=IPHONE_MAIL)
    process()
    process()
    assert sum(ClientStats.objects.values_list("events", flat=True)) == 1
    assert DomainStats.objects.get().opens == 1


def test_domains_rank_by_mails_sent_with_identified_readers(client, campaign, readers):
    ana, ben, cem, dora = readers
    for delivery in (ana, ana, ben, cem):
        hit(client, urls_for(campaign, delivery)[0])
    hit(client, urls_for(campaign, ben)[1][0])
    hit(client, urls_for(campaign, dora)[0])  # anonymous: no domain
    process()

    rows = selectors.campaign_domains(campaign=campaign.campaign)

    assert [(row.domain, row.sent, row.opens, row.unique_opens, row.unique_clicks) for row in rows] == [
        ("gmx.de", 2, 1, 1, 0),
        ("web.de", 2, 3, 2, 1),
    ]
    assert rows[1].open_rate == 1.0


def test_recipient_domains_refresh_while_a_campaign_is_still_going_out(campaign, readers):
    assert selectors.campaign_recipient_domains(campaign=campaign.campaign) == {"web.de": 2, "gmx.de": 2}
    DeliveryFactory(campaign=campaign.campaign, subscriber=SubscriberFactory(email="eva@posteo.de"))
    assert selectors.campaign_recipient_domains(campaign=campaign.campaign)["posteo.de"] == 1


def test_last_interaction_moves_forward_only_and_only_for_people(campaign, readers):
    ana, ben, _cem, dora = readers
    now = timezone.now()
    store("o", delivery=ana, at=now - timedelta(minutes=20))
    store("o", delivery=ben, at=now - timedelta(minutes=20), user_agent="Mozilla/5.0")
    store("o", delivery=dora, at=now - timedelta(minutes=20))
    process()
    store("o", delivery=ana, at=now - timedelta(minutes=40))  # arrives late, happened earlier
    process()

    engagement = SubscriberEngagement.objects.get()
    assert engagement.subscriber == ana.subscriber
    assert abs(engagement.last_interaction_at - (now - timedelta(minutes=20))) < timedelta(seconds=1)


def test_hours_since_sending_are_even_with_zeros_and_sum_up_late_events(campaign, readers, settings):
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=20)
    campaign.campaign.started_at = start
    campaign.campaign.save()
    ana = readers[0]
    ana.sent_at = start
    ana.save()
    store("o", delivery=ana, at=start + timedelta(minutes=5))
    store("o", delivery=ana, at=start + timedelta(hours=3, minutes=1))
    store("c", delivery=ana, link=campaign.link_ids[0], at=start + timedelta(hours=3, minutes=2))
    store("o", delivery=ana, at=start + timedelta(days=16))
    process()

    rows, later = selectors.campaign_hours_since_sending(campaign=campaign.campaign)

    assert [(row.since_sending, row.opens, row.clicks) for row in rows[:5]] == [
        (0, 1, 0),
        (1, 0, 0),
        (2, 0, 0),
        (3, 1, 1),
        (4, 0, 0),
    ]
    assert len(rows) == selectors.campaigns.HOURS_SHOWN
    assert (later.opens, later.clicks) == (1, 0)


def test_human_and_machine_share_with_reasons(client, campaign, readers):
    pixel, click_urls = urls_for(campaign, readers[0])
    hit(client, pixel)
    hit(client, pixel, user_agent="Mozilla/5.0")
    hit(client, click_urls[0], method="head")
    process()
    funnel = selectors.campaign_funnel(campaign=campaign.campaign)

    share = selectors.campaign_human_machine(campaign=campaign.campaign, funnel=funnel, machines=False)

    assert (share.opens, share.machine_opens, share.clicks, share.machine_clicks) == (1, 1, 0, 1)
    assert share.machine_open_share == 0.5
    assert [(reason, events) for reason, _label, events in share.reasons] == [("head", 1), ("proxy_open", 1)]
    with_machines = selectors.campaign_funnel(campaign=campaign.campaign, machines=True)
    again = selectors.campaign_human_machine(campaign=campaign.campaign, funnel=with_machines, machines=True)
    assert (again.opens, again.clicks) == (1, 0), "people stay people when machines are shown too"


def test_unsubscribes_are_recipients_who_left_before_the_next_campaign(campaign, readers):
    first = campaign.campaign
    first.started_at = timezone.now() - timedelta(days=10)
    first.save()
    news = first.mailing_lists.get()
    ana, ben, cem, _dora = readers
    later = CampaignFactory(mailing_lists=[news])
    later.started_at = timezone.now() - timedelta(days=5)
    later.save()
    left = Subscription.Status.UNSUBSCRIBED
    SubscriptionFactory(
        subscriber=ana.subscriber, mailing_list=news, status=left, unsubscribed_at=first.started_at + timedelta(days=1)
    )
    SubscriptionFactory(
        subscriber=ben.subscriber, mailing_list=news, status=left, unsubscribed_at=timezone.now() - timedelta(days=1)
    )
    SubscriptionFactory(
        subscriber=SubscriberFactory(), mailing_list=news, status=left, unsubscribed_at=first.started_at + timedelta(1)
    )  # not a recipient
    SubscriptionFactory(subscriber=cem.subscriber, mailing_list=news)

    assert selectors.campaign_list_unsubscribes(campaign=first) == 1, "ben left after the next campaign"
    assert selectors.campaign_list_unsubscribes(campaign=later) == 0, "ben got no delivery of the later one"


def test_campaign_list_reads_many_campaigns_in_a_fixed_number_of_queries(client, campaign, readers):
    hit(client, urls_for(campaign, readers[0])[0])
    process()
    others = [CampaignFactory() for _ in range(5)]
    for other in [campaign.campaign, *others]:
        other.started_at = timezone.now()
        other.save()
    campaigns = list(selectors.analysed_campaigns())

    with CaptureQueriesContext(connection) as few:
        selectors.campaign_funnels(campaign_ids=[c.pk for c in campaigns[:2]])
    with CaptureQueriesContext(connection) as many:
        funnels = selectors.campaign_funnels(campaign_ids=[c.pk for c in campaigns])

    assert len(few) == len(many) == 3
    assert funnels[campaign.campaign.pk].unique_opens == 1 and funnels[others[0].pk].sent == 0


def test_campaign_figures_never_scan_events(client, campaign, readers):
    for delivery in readers:
        hit(client, urls_for(campaign, delivery)[0], user_agent=BROWSER)
    process()
    with CaptureQueriesContext(connection) as queries:
        funnel = selectors.campaign_funnel(campaign=campaign.campaign)
        selectors.campaign_hours_since_sending(campaign=campaign.campaign)
        selectors.campaign_articles(campaign=campaign.campaign)
        selectors.campaign_links(campaign=campaign.campaign)
        selectors.campaign_clients(campaign=campaign.campaign)
        selectors.campaign_domains(campaign=campaign.campaign)
        selectors.campaign_human_machine(campaign=campaign.campaign, funnel=funnel, machines=False)
    assert not [query["sql"] for query in queries if '"tracking_event"' in query["sql"]]
