"""Machines are labelled, kept, and left out of the human figures."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tracking import event_queue, machines, tokens
from tracking.models import CampaignHourStats, Event
from tracking.selectors import campaign_funnel
from tracking.services.events import events_ingest
from tracking.tests.conftest import BROWSER, hit, process, urls_for

pytestmark = pytest.mark.django_db

Reason = Event.MachineReason
APPLE_PROXY = "Mozilla/5.0"
SAFE_LINKS = "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0) Proofpoint URL Defense"


def store(kind, *, at, delivery=None, campaign=0, link=0, user_agent=BROWSER, ip="198.51.100.20", head=False):
    """An event that happened at ``at``, queued and stored as the endpoint and batcher would."""
    events_ingest(
        lines=[
            event_queue.event_line(
                kind=kind,
                delivery_id=delivery.pk if delivery else 0,
                campaign_id=campaign,
                link_id=link,
                head=head,
                ip_hash=tokens.ip_hash(ip),
                user_agent=user_agent,
                occurred_ms=int(at.timestamp() * 1000),
            )
        ]
    )


def labels() -> list[tuple[str, bool, str]]:
    return list(Event.objects.order_by("occurred_at", "pk").values_list("kind", "is_machine", "machine_reason"))


def test_apple_mail_privacy_protection_opens_are_machine_opens(client, campaign, reader):
    pixel, _links = urls_for(campaign, reader)
    hit(client, pixel, user_agent=APPLE_PROXY)
    hit(client, pixel, user_agent=BROWSER)
    process()
    assert labels() == [("open", True, Reason.PROXY_OPEN), ("open", False, "")]
    row = CampaignHourStats.objects.get()
    assert (row.opens, row.machine_opens, row.unique_opens) == (1, 1, 1)


@pytest.mark.parametrize(
    "user_agent",
    [SAFE_LINKS, "Mimecast-Link-Scanner/1.0", "python-requests/2.32", "curl/8.5.0", "Googlebot/2.1", "", "   "],
)
def test_scanner_and_bot_agents_are_machine_clicks(client, campaign, reader, user_agent):
    _pixel, click_urls = urls_for(campaign, reader)
    assert hit(client, click_urls[0], user_agent=user_agent).status_code == 302, "scanners still get the redirect"
    process()
    (event,) = Event.objects.all()
    assert event.is_machine
    assert event.machine_reason in (Reason.SCANNER_AGENT, Reason.NO_USER_AGENT)


@pytest.mark.parametrize(
    "user_agent",
    [
        BROWSER,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
    ],
)
def test_mail_programs_and_browsers_are_people(client, campaign, reader, user_agent):
    pixel, _links = urls_for(campaign, reader)
    hit(client, pixel, user_agent=user_agent)
    process()
    assert labels() == [("open", False, "")]


def test_a_click_seconds_after_sending_is_a_scanner_and_a_later_one_a_reader(campaign, reader):
    reader.sent_at = timezone.now() - timedelta(minutes=5)
    reader.save()
    store("c", delivery=reader, link=campaign.link_ids[0], at=reader.sent_at + timedelta(seconds=3))
    store("c", delivery=reader, link=campaign.link_ids[0], at=reader.sent_at + timedelta(seconds=90))
    process()
    assert labels() == [("click", True, Reason.TOO_SOON), ("click", False, "")]


def test_a_honeypot_hit_marks_the_messages_events_around_it_as_machine(campaign, reader):
    start = timezone.now() - timedelta(minutes=30)
    store("c", delivery=reader, link=campaign.link_ids[0], at=start)
    store("o", delivery=reader, at=start + timedelta(seconds=1))
    store("h", delivery=reader, at=start + timedelta(seconds=2))
    store("c", delivery=reader, link=campaign.link_ids[2], at=start + timedelta(seconds=5))
    # The reader clicks for real ten minutes later.
    store("c", delivery=reader, link=campaign.link_ids[2], at=start + timedelta(minutes=10))

    process()

    assert labels() == [
        ("click", True, Reason.HONEYPOT_BURST),
        ("open", True, Reason.HONEYPOT_BURST),
        ("honeypot", True, Reason.HONEYPOT),
        ("click", True, Reason.HONEYPOT_BURST),
        ("click", False, ""),
    ]
    funnel = campaign_funnel(campaign=campaign.campaign)
    assert (funnel.clicks, funnel.machine_clicks, funnel.unique_clicks) == (1, 2, 1)
    assert (funnel.opens, funnel.machine_opens) == (0, 1)
    assert campaign_funnel(campaign=campaign.campaign, machines=True).clicks == 3, "all figures on request"


def test_a_honeypot_hit_counted_in_an_earlier_batch_still_labels_the_clicks_after_it(campaign, reader, settings):
    settings.KANAL_TRACKING_BATCH_SIZE = 1
    start = timezone.now() - timedelta(minutes=30)
    store("h", delivery=reader, at=start)
    store("c", delivery=reader, link=campaign.link_ids[0], at=start + timedelta(seconds=3))
    process()
    assert labels()[1] == ("click", True, Reason.HONEYPOT_BURST)


def test_anonymous_honeypot_hits_label_clicks_from_the_same_address_only(campaign, private_reader):
    campaign_id = campaign.campaign.pk
    start = timezone.now() - timedelta(minutes=30)
    store("h", campaign=campaign_id, at=start, ip="192.0.2.50")
    store("c", link=campaign.link_ids[0], at=start + timedelta(seconds=1), ip="192.0.2.50")
    store("c", link=campaign.link_ids[0], at=start + timedelta(seconds=1), ip="203.0.113.99")

    process()

    assert labels() == [
        ("honeypot", True, Reason.HONEYPOT),
        ("click", True, Reason.HONEYPOT_BURST),
        ("click", False, ""),
    ]
    assert not Event.objects.filter(delivery__isnull=False).exists()


def test_many_links_of_one_message_within_two_seconds_are_a_machine(campaign, reader):
    start = timezone.now() - timedelta(minutes=30)
    for offset, link_id in enumerate(campaign.link_ids[:4]):
        store("c", delivery=reader, link=link_id, at=start + timedelta(milliseconds=300 * offset))
    process()
    assert {reason for _kind, _machine, reason in labels()} == {Reason.LINK_BURST}


def test_a_reader_opening_three_articles_in_quick_succession_is_still_a_reader(campaign, reader):
    start = timezone.now() - timedelta(minutes=30)
    for offset, link_id in enumerate(campaign.link_ids[:3]):
        store("c", delivery=reader, link=link_id, at=start + timedelta(milliseconds=500 * offset))
    store("c", delivery=reader, link=campaign.link_ids[3], at=start + timedelta(seconds=20))
    process()
    assert all(not machine for _kind, machine, _reason in labels())


def test_head_requests_are_machine(client, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    hit(client, pixel, method="head")
    hit(client, click_urls[0], method="head")
    process()
    assert [reason for _kind, _machine, reason in labels()] == [Reason.HEAD, Reason.HEAD]
    assert campaign_funnel(campaign=campaign.campaign).clicks == 0


@pytest.mark.parametrize(
    ("agent", "scanner"),
    [
        ("PROOFPOINT URL DEFENSE", True),
        ("Microsoft Office Protocol Discovery", True),
        ("Mozilla/5.0 (compatible; BingPreview/1.0b)", True),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)", False),
        ("Microsoft Outlook 16.0.17328; Pro", False),
    ],
)
def test_scanner_words_are_found_whatever_their_case(agent, scanner):
    assert machines.is_scanner_agent(agent) is scanner
    assert machines.is_scanner_agent(agent) is scanner, "the cached answer is the same"
