"""An SMTP server that hangs up in the middle of a campaign, before or after it kept a message.

A server that drops the connection right after the final "." may or may not have kept that
message, and no client can tell which: Kanal leaves such a row sent, with "outcome unknown"
noted, rather than risk sending it twice. So each hang-up may cost that one message if the
server had thrown it away, and nothing else: no duplicate, nobody else missing.
"""

from collections import Counter

import pytest

from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.tests.factories import MailingListFactory, bulk_active_subscribers

RECIPIENTS = 600
HANG_UP_EVERY = 47

pytestmark = pytest.mark.django_db(transaction=True)  # real commits, as in production


def test_a_server_hanging_up_costs_at_most_the_message_it_threw_away(pipelining_sink, monkeypatch, settings):
    settings.KANAL_SEND_BATCH_SIZE = 100
    kept_then_hung_up, dropped_then_hung_up = set(), set()
    seen = Counter()
    original_data = type(pipelining_sink).handle_DATA

    async def hang_up_now_and_then(handler, server, session, envelope):
        seen["data"] += 1
        if seen["data"] % HANG_UP_EVERY:
            return await original_data(handler, server, session, envelope)
        if seen["data"] // HANG_UP_EVERY % 2:
            await original_data(handler, server, session, envelope)
            kept_then_hung_up.update(envelope.rcpt_tos)
        else:
            dropped_then_hung_up.update(envelope.rcpt_tos)
        server.transport.close()  # no reply to the "." and nothing more on this connection
        return "421 closing"

    monkeypatch.setattr(type(pipelining_sink), "handle_DATA", hang_up_now_and_then)
    news = MailingListFactory()
    everyone = [f"r{n}@example.org" for n in range(RECIPIENTS)]
    bulk_active_subscribers(emails=everyone, mailing_list=news)
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    sending.campaign_start(campaign=campaign)

    for _round in range(200):
        outcome = sending.delivery_batch_send(campaign_id=campaign.pk)
        if not outcome.more_to_send and outcome.retry_in is None:
            break
        Delivery.objects.filter(status=Delivery.Status.QUEUED).update(attempts=0)  # no backoff in a test

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    received = Counter(pipelining_sink.recipients())
    assert {address for address, count in received.items() if count > 1} == set(), "nothing twice"
    missing = set(everyone) - set(received)
    assert missing == dropped_then_hung_up, "only the messages the server threw away while hanging up"
    assert len(kept_then_hung_up) >= 3 and len(dropped_then_hung_up) >= 3, "both kinds of hang-up happened"
    noted = Delivery.objects.filter(error__startswith="outcome unknown")
    unknown = set(noted.values_list("subscriber__email", flat=True))
    assert unknown == kept_then_hung_up | dropped_then_hung_up, "each hang-up after a '.' is noted on its row"
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == RECIPIENTS
