"""Kill real workers mid-campaign while every mail carries a pool code: each sent delivery ends with
exactly one code, no code goes to two deliveries, and every message the SMTP server got carries
the code of its own delivery (the same kills as campaigns/tests/test_fault_injection.py)."""

import email
import re
import sys
from collections import defaultdict

import pytest
from django.db import connection

from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from campaigns.tests.test_fault_injection import send_while_killing, sent_count
from newsletter_site.tests.processes import logs_shown_on_failure
from newsletter_site.tests.sinks import WatchingSink, announce_pipelining, assert_only_final_dot_window, smtp_server
from offers.models import CouponAssignment
from offers.services.assignment import campaign_offer_set
from offers.services.pools import pool_generate
from offers.tests.factories import OfferFactory
from subscribers.tests.factories import MailingListFactory, bulk_active_subscribers

RECIPIENTS = 3000
CODE_RE = re.compile(r"CODE\[([^\]]*)\]")

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(sys.platform != "linux", reason="kills process groups the Linux way"),
]


class CodeWatchingSink(WatchingSink):
    """A WatchingSink that also keeps the code each message carried, by recipient."""

    def __init__(self):
        super().__init__()
        self.codes = defaultdict(list)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        text = next(
            part.get_payload(decode=True).decode() for part in message.walk() if part.get_content_type() == "text/plain"
        )
        with self.lock:
            for address in envelope.rcpt_tos:
                self.codes[address].append(CODE_RE.search(text).group(1))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def code_sink(settings, monkeypatch):
    handler = CodeWatchingSink()
    announce_pipelining(CodeWatchingSink, monkeypatch)
    with smtp_server(handler) as port:
        settings.EMAIL_PORT = port
        yield handler


def test_killing_workers_mid_campaign_gives_each_delivery_one_code_and_each_message_its_own(
    code_sink, settings, tmp_path
):
    news = MailingListFactory()
    everyone = {f"r{n}@example.org" for n in range(RECIPIENTS)}
    bulk_active_subscribers(emails=sorted(everyone), mailing_list=news)
    offer = OfferFactory()
    pool_generate(offer=offer, pattern="K-XXXXXXXX", count=RECIPIENTS + 100)
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign, body="CODE[{{ subscriber.offer_code }}]")
    campaign_offer_set(campaign=campaign, offer=offer)
    sending.campaign_start(campaign=campaign)

    log = tmp_path / "worker.log"
    with logs_shown_on_failure(log):
        kills = send_while_killing(campaign, smtp_port=settings.EMAIL_PORT, log=log, kills=5, seed=1404)

    assert kills >= 3, "the campaign finished before the workers could be killed often enough"
    assert campaign.status == Campaign.Status.SENT and sent_count(campaign) == RECIPIENTS
    codes = dict(
        CouponAssignment.objects.filter(delivery__campaign=campaign, delivery__status=Delivery.Status.SENT).values_list(
            "delivery__subscriber__email", "coupon__code"
        )
    )
    assert len(codes) == RECIPIENTS, "every sent delivery has its code"
    assert CouponAssignment.objects.count() == RECIPIENTS, "no delivery got a second code"
    assert len(set(codes.values())) == RECIPIENTS, "no code went to two deliveries"
    for address, received in code_sink.codes.items():
        assert set(received) == {codes[address]}, address
    assert_only_final_dot_window(code_sink, everyone, vendor=connection.vendor, most=kills * 2)
