"""JSON log lines of a campaign send name the campaign and deliveries by id, never an address or a token."""

import io
import json
import logging

import pytest

from campaigns.models import Delivery
from campaigns.services import sending
from campaigns.tests.factories import subscribe
from newsletter_site.log_format import JsonFormatter
from subscribers import links

pytestmark = pytest.mark.django_db

# The test's SMTP server (aiosmtpd) logs every envelope in this process; it is not Kanal.
SINK_LOGGER = "mail.log"


@pytest.fixture
def json_log():
    """What the console handler writes with KANAL_LOG_FORMAT=json, at level INFO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_a_campaign_send_logs_ids_and_no_address_or_token(
    campaign, news, pipelining_sink, monkeypatch, django_capture_on_commit_callbacks, json_log, caplog
):
    recipients = subscribe(news, 4)
    refused = recipients[2]

    async def refuse_one(handler, server, session, envelope, address, rcpt_options):
        if address == refused.email:
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    monkeypatch.setattr(type(pipelining_sink), "handle_RCPT", refuse_one, raising=False)
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass

    failed = Delivery.objects.get(subscriber=refused)
    assert failed.status == Delivery.Status.FAILED and refused.email in failed.error
    lines = [line for line in json_log.getvalue().splitlines() if json.loads(line)["logger"] != SINK_LOGGER]
    records = [json.loads(line) for line in lines]
    assert {"logger": "campaigns.services.sending", "campaign_id": campaign.pk, "sent": 3, "failed": 1}.items() <= next(
        record for record in records if "batch sent" in record["message"]
    ).items()
    assert any(record.get("delivery_id") == failed.pk for record in records)

    secrets = [subscriber.email for subscriber in recipients]
    secrets += [links.unsubscribe_token(subscriber) for subscriber in recipients]
    secrets += [links.preferences_token(subscriber) for subscriber in recipients]
    # Kanal's lines as written (masked) and as logged (before any masking).
    written = "\n".join(lines) + "".join(r.getMessage() for r in caplog.records if r.name != SINK_LOGGER)
    assert records and not [secret for secret in secrets if secret in written]
    assert "@" not in written
