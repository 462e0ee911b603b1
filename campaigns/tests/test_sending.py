import email
import re
import smtplib
import time
from collections import Counter
from datetime import timedelta
from email.utils import parseaddr
from html import unescape

import pytest
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailAPIError
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import throttle
from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.services.lifecycle import CampaignStateError
from campaigns.tests.factories import ArticleFactory, CampaignFactory, subscribe
from newsletter_site.testing import wait_until
from subscribers import links
from subscribers.models import Subscriber, Subscription, SuppressedAddress, email_hash
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def start(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        sending.campaign_start(campaign=campaign)
    return callbacks


def send_all(campaign):
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass


def is_sent(campaign) -> bool:
    campaign.refresh_from_db()
    return campaign.status == Campaign.Status.SENT


def test_snapshot_leaves_out_everyone_who_must_not_get_mail(campaign, news, django_capture_on_commit_callbacks):
    wanted = subscribe(news, 3)
    SubscriptionFactory(
        mailing_list=news,
        status=Subscription.Status.PENDING,
        subscriber=SubscriberFactory(status=Subscriber.Status.PENDING),
    )
    SubscriptionFactory(mailing_list=news, status=Subscription.Status.UNSUBSCRIBED)
    for status in (Subscriber.Status.UNSUBSCRIBED, Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED):
        subscribe(news, 1, status=status)
    (suppressed,) = subscribe(news, 1)
    SuppressedAddress.objects.create(email_hash=email_hash(suppressed.email), reason="manual")
    SubscriptionFactory(subscriber=wanted[0], mailing_list=MailingListFactory())  # on two lists, mailed once

    callbacks = start(campaign, django_capture_on_commit_callbacks)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING and campaign.started_at
    assert sorted(Delivery.objects.values_list("subscriber_id", flat=True)) == sorted(s.pk for s in wanted)
    assert len(callbacks) == 4, "KANAL_SEND_PARALLEL_BATCHES senders, queued after commit"
    assert sending.deliveries_snapshot(campaign=campaign) == 0, "a repeated snapshot adds nothing"
    assert Delivery.objects.count() == 3, "the snapshot is unique per campaign and subscriber"


@pytest.mark.parametrize("transport", ["smtp", "esp_each", "esp_batches"])
def test_consent_withdrawn_after_the_snapshot_is_checked_again_when_the_mail_is_sent(
    transport, campaign, news, django_capture_on_commit_callbacks, settings
):
    if transport != "smtp":
        settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    if transport == "esp_batches":
        settings.KANAL_ESP_MERGE_FIELD_FORMAT = "%recipient.{}%"
    stays, unsubscribes, bounces, suppressed = subscribe(news, 4)
    start(campaign, django_capture_on_commit_callbacks)
    Subscriber.objects.filter(pk=unsubscribes.pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    Subscriber.objects.filter(pk=bounces.pk).update(status=Subscriber.Status.BOUNCED)
    SuppressedAddress.objects.create(email_hash=email_hash(suppressed.email), reason="manual")

    send_all(campaign)

    recipients = {parseaddr(to)[1] for message in mail.outbox for to in message.to}
    assert recipients == {stays.email}
    assert dict(Delivery.objects.values_list("subscriber_id", "error")) == {
        stays.pk: "",
        unsubscribes.pk: "consent: unsubscribed",
        bounces.pk: "consent: bounced",
        suppressed.pk: "consent: suppressed",
    }
    assert Delivery.objects.filter(status=Delivery.Status.WITHDRAWN).count() == 3
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    progress = sending.campaign_progress(campaign=campaign)
    assert (progress["sent"], progress["withdrawn"], progress["percent"]) == (1, 3, 100)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's planner, which has no statistics")
def test_the_claims_updates_find_their_rows_by_id_not_by_walking_every_queued_delivery(
    campaign, news, django_capture_on_commit_callbacks
):
    readers = subscribe(news, 4)
    stay, leave = readers[:2], readers[2:]
    other = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=other)
    start(campaign, django_capture_on_commit_callbacks)
    start(other, django_capture_on_commit_callbacks)  # more queued deliveries than the claim's
    Subscriber.objects.filter(pk__in=[reader.pk for reader in leave]).update(status=Subscriber.Status.UNSUBSCRIBED)

    with CaptureQueriesContext(connection) as queries:
        assert sending.deliveries_claim(campaign_id=campaign.pk, limit=10)

    updates = [query["sql"] for query in queries if query["sql"].startswith('UPDATE "campaigns_delivery"')]
    assert len(updates) == 2, "one for the withdrawn deliveries, one for the claim"
    with connection.cursor() as cursor:
        for sql in updates:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "INTEGER PRIMARY KEY" in plan and "USING INDEX" not in plan, plan
    assert dict(Delivery.objects.filter(campaign=campaign).values_list("subscriber_id", "status")) == {
        **{reader.pk: Delivery.Status.SENDING for reader in stay},
        **{reader.pk: Delivery.Status.WITHDRAWN for reader in leave},
    }


def test_each_recipient_gets_one_personal_message_with_one_click_unsubscribe(
    campaign, news, django_capture_on_commit_callbacks, settings
):
    settings.KANAL_SEND_BATCH_SIZE = 2
    subscribe(news, 5, first_name="Ida")
    start(campaign, django_capture_on_commit_callbacks)
    send_all(campaign)

    assert sorted(parseaddr(m.to[0])[1] for m in mail.outbox) == sorted(
        Subscriber.objects.values_list("email", flat=True)
    )
    message = mail.outbox[0]
    assert message.subject == "Neues für Ida"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/one-click/>" in message.extra_headers["List-Unsubscribe"]
    delivery = Delivery.objects.get(subscriber__email=parseaddr(message.to[0])[1])
    assert message.metadata == {"kind": "campaign", "campaign_id": str(campaign.pk), "delivery_id": str(delivery.pk)}
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    assert all(Delivery.objects.values_list("esp_message_id", flat=True))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT and campaign.finished_at


def test_running_a_batch_again_sends_nothing_more(campaign, news, django_capture_on_commit_callbacks):
    subscribe(news, 3)
    start(campaign, django_capture_on_commit_callbacks)
    send_all(campaign)
    send_all(campaign)
    assert sending.delivery_batch_send(campaign_id=campaign.pk).sent == 0
    assert len(mail.outbox) == 3


def test_pause_and_resume_many_times_sends_each_message_once(
    campaign, news, django_capture_on_commit_callbacks, settings
):
    settings.KANAL_SEND_BATCH_SIZE = 3
    subscribe(news, 30)
    start(campaign, django_capture_on_commit_callbacks)
    for _round in range(8):
        sending.delivery_batch_send(campaign_id=campaign.pk)
        sending.campaign_pause(campaign=campaign)
        assert sending.delivery_batch_send(campaign_id=campaign.pk).sent == 0, "a paused campaign sends nothing"
        with django_capture_on_commit_callbacks():
            sending.campaign_resume(campaign=campaign)
    send_all(campaign)
    assert Counter(parseaddr(m.to[0])[1] for m in mail.outbox) == Counter(
        {s.email: 1 for s in Subscriber.objects.all()}
    )
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT


def test_cancelled_campaign_stops_sending(campaign, news, django_capture_on_commit_callbacks, settings):
    from campaigns.services.lifecycle import campaign_cancel

    settings.KANAL_SEND_BATCH_SIZE = 2
    subscribe(news, 6)
    start(campaign, django_capture_on_commit_callbacks)
    sending.delivery_batch_send(campaign_id=campaign.pk)
    campaign_cancel(campaign=campaign)
    send_all(campaign)
    assert len(mail.outbox) == 2
    assert Delivery.objects.filter(status=Delivery.Status.QUEUED).count() == 4


def test_only_stale_claims_are_swept_back_and_sent_rows_never(campaign, news, django_capture_on_commit_callbacks):
    subscribe(news, 3)
    start(campaign, django_capture_on_commit_callbacks)
    first, second, third = Delivery.objects.order_by("pk")
    long_ago = timezone.now() - timedelta(hours=1)
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.Status.SENDING, claim="dead", claimed_at=long_ago)
    Delivery.objects.filter(pk=second.pk).update(
        status=Delivery.Status.SENDING, claim="alive", claimed_at=timezone.now()
    )
    Delivery.objects.filter(pk=third.pk).update(status=Delivery.Status.SENT, claimed_at=long_ago)

    with django_capture_on_commit_callbacks():
        assert sending.deliveries_sweep() == 1
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "queued", second.pk: "sending", third.pk: "sent"}


def test_finished_only_when_nothing_is_queued_or_in_flight(campaign, news, django_capture_on_commit_callbacks):
    subscribe(news, 2)
    start(campaign, django_capture_on_commit_callbacks)
    first, second = Delivery.objects.order_by("pk")
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.Status.SENT)
    Delivery.objects.filter(pk=second.pk).update(status=Delivery.Status.SENDING, claim="x", claimed_at=timezone.now())
    assert not sending.campaign_finish_if_done(campaign_id=campaign.pk)
    Delivery.objects.filter(pk=second.pk).update(status=Delivery.Status.FAILED)
    assert sending.campaign_finish_if_done(campaign_id=campaign.pk)


class FlakyBackend(AnymailTestBackend):
    """Anymail's test backend, failing the way real ESPs do."""

    failures: list = []

    def send_messages(self, messages):
        if FlakyBackend.failures:
            raise FlakyBackend.failures.pop(0)
        return super().send_messages(messages)


def test_transient_errors_retry_later_and_permanent_ones_fail_with_the_reason(
    campaign, news, django_capture_on_commit_callbacks, settings
):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    subscribe(news, 3)
    start(campaign, django_capture_on_commit_callbacks)
    FlakyBackend.failures = [
        smtplib.SMTPRecipientsRefused({"x@example.org": (550, b"no such user")}),
        AnymailAPIError("ESP overloaded", status_code=503),
    ]
    outcome = sending.delivery_batch_send(campaign_id=campaign.pk)
    assert (outcome.sent, outcome.failed, outcome.retry_in) == (0, 1, 2.0)
    first, second, third = Delivery.objects.order_by("pk")
    assert first.status == Delivery.Status.FAILED and "550" in first.error
    assert second.status == Delivery.Status.QUEUED and second.attempts == 1 and "overloaded" in second.error
    assert third.status == Delivery.Status.QUEUED and third.attempts == 0

    send_all(campaign)
    assert len(mail.outbox) == 2


def test_a_message_that_keeps_failing_ends_as_failed(campaign, news, django_capture_on_commit_callbacks, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    settings.KANAL_SEND_MAX_ATTEMPTS = 3
    subscribe(news, 1)
    start(campaign, django_capture_on_commit_callbacks)
    FlakyBackend.failures = [ConnectionRefusedError("ESP down")] * 3
    for _attempt in range(3):
        sending.delivery_batch_send(campaign_id=campaign.pk)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 3)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT


def test_only_due_scheduled_campaigns_start(news, django_capture_on_commit_callbacks):
    due = CampaignFactory(mailing_lists=[news], status=Campaign.Status.SCHEDULED, scheduled_at=timezone.now())
    later = CampaignFactory(
        mailing_lists=[news], status=Campaign.Status.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1)
    )
    for campaign in (due, later):
        ArticleFactory(campaign=campaign)
    SubscriptionFactory(mailing_list=news)
    with django_capture_on_commit_callbacks():
        assert sending.campaigns_start_due() == 1
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, later.status) == (Campaign.Status.SENDING, Campaign.Status.SCHEDULED)


def test_a_sent_campaign_cannot_start_again(campaign, news, django_capture_on_commit_callbacks):
    subscribe(news, 1)
    start(campaign, django_capture_on_commit_callbacks)
    with pytest.raises(CampaignStateError):
        sending.campaign_start(campaign=campaign)


def test_progress_counts_and_rate(campaign, news, django_capture_on_commit_callbacks, settings):
    settings.KANAL_SEND_BATCH_SIZE = 4
    subscribe(news, 10)
    start(campaign, django_capture_on_commit_callbacks)
    sending.delivery_batch_send(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    progress = sending.campaign_progress(campaign=campaign)
    assert (progress["total"], progress["sent"], progress["queued"], progress["percent"]) == (10, 4, 6, 40)
    assert progress["rate_per_second"] > 0 and progress["eta_seconds"] is not None


def test_rate_limit_holds_per_second_window(settings):
    settings.KANAL_SEND_RATE_PER_SECOND = 3
    throttle._client(settings.REDIS_URL).flushdb()
    windows = []
    for _message in range(7):
        throttle.wait_for_slot(key="test")
        windows.append(int(time.time()))
    assert max(Counter(windows).values()) <= 3
    assert len(set(windows)) >= 3


@pytest.mark.worker
@pytest.mark.parametrize("sink_fixture", ["smtp_sink", "pipelining_sink"])
def test_real_worker_delivers_exactly_once_to_an_smtp_server(
    campaign, news, sink_fixture, request, celery_worker_thread, settings
):
    smtp_sink = request.getfixturevalue(sink_fixture)
    settings.KANAL_SEND_BATCH_SIZE = 25
    recipients = subscribe(news, 120)
    sending.campaign_start(campaign=campaign)
    wait_until(lambda: is_sent(campaign), timeout=60, interval=0.1, message="the campaign to be sent")
    assert Counter(smtp_sink.recipients()) == Counter({subscriber.email: 1 for subscriber in recipients})
    parsed = email.message_from_bytes(smtp_sink.messages[0][1])
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"


def test_pipelined_smtp_sorts_refusals_per_recipient_and_sends_everyone_else_once(
    campaign, news, pipelining_sink, monkeypatch, django_capture_on_commit_callbacks
):
    recipients = subscribe(news, 6)
    unknown, full = recipients[1].email, recipients[3].email
    mailbox_full_once = [full]

    async def refuse_unknown(handler, server, session, envelope, address, rcpt_options):
        if address == unknown:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    original_data = type(pipelining_sink).handle_DATA

    async def full_once(handler, server, session, envelope):
        if envelope.rcpt_tos == mailbox_full_once:
            mailbox_full_once.clear()
            return "452 4.2.2 mailbox full, try later"
        return await original_data(handler, server, session, envelope)

    monkeypatch.setattr(type(pipelining_sink), "handle_RCPT", refuse_unknown, raising=False)
    monkeypatch.setattr(type(pipelining_sink), "handle_DATA", full_once)
    start(campaign, django_capture_on_commit_callbacks)

    first = sending.delivery_batch_send(campaign_id=campaign.pk)
    assert (first.sent, first.failed, first.retry_in) == (2, 1, 2.0), "the 452 stops the batch for a retry"
    by_email = {delivery.subscriber.email: delivery for delivery in Delivery.objects.select_related("subscriber")}
    assert by_email[unknown].status == Delivery.Status.FAILED and "550" in by_email[unknown].error
    assert by_email[full].status == Delivery.Status.QUEUED and by_email[full].sent_at is None
    assert "452" in by_email[full].error

    send_all(campaign)
    delivered = [subscriber.email for subscriber in recipients if subscriber.email != unknown]
    assert Counter(pipelining_sink.recipients()) == Counter(delivered)
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 5
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT


def test_staff_send_pause_resume_and_watch_progress_in_the_admin(
    admin_client, campaign, news, django_capture_on_commit_callbacks, settings
):
    from django.urls import reverse

    settings.KANAL_SEND_BATCH_SIZE = 2
    subscribe(news, 5)
    url = lambda name: reverse(f"admin:campaigns_campaign_{name}", args=[campaign.pk])  # noqa: E731
    with django_capture_on_commit_callbacks() as callbacks:
        assert admin_client.post(url("send_now")).status_code == 302
    assert len(callbacks) == settings.KANAL_SEND_PARALLEL_BATCHES
    sending.delivery_batch_send(campaign_id=campaign.pk)

    progress = admin_client.get(url("progress")).json()
    assert (progress["status"], progress["total"], progress["sent"], progress["percent"]) == ("sending", 5, 2, 40)
    page = admin_client.get(url("change"), HTTP_ACCEPT_LANGUAGE="en")
    assert "<progress" in page.text and 'value="40"' in page.text

    admin_client.post(url("pause"))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    with django_capture_on_commit_callbacks():
        admin_client.post(url("resume"))
    send_all(campaign)
    assert admin_client.get(url("progress")).json()["finished"] is True
    assert len(mail.outbox) == 5
    assert admin_client.post(url("send_now")).status_code == 302
    assert len(mail.outbox) == 5, "a sent campaign is not sent again"


def test_gdpr_export_lists_received_campaigns_and_erase_keeps_anonymous_counts(
    campaign, news, django_capture_on_commit_callbacks
):
    from subscribers.services import gdpr

    (subscriber,) = subscribe(news, 1)
    start(campaign, django_capture_on_commit_callbacks)
    send_all(campaign)
    exported = gdpr.subscriber_export(subscriber=subscriber)["campaigns_received"]
    assert [(item["campaign"], item["status"]) for item in exported] == [(campaign.name, "sent")]
    gdpr.subscriber_erase(subscriber=subscriber)
    delivery = Delivery.objects.get()
    assert delivery.subscriber is None and delivery.status == Delivery.Status.SENT


def _hrefs(html: str) -> list[str]:
    import re
    from html import unescape

    return [unescape(href) for href in re.findall(r'href="([^"]+)"', html)]


def test_sent_mail_tracks_opens_and_clicks_per_delivery_only_with_consent(
    campaign, news, django_capture_on_commit_callbacks, client
):
    from tracking import tokens
    from tracking.models import TrackedLink

    (reader,) = subscribe(news, 1, tracking_consent=True)
    (private,) = subscribe(news, 1, tracking_consent=False)
    start(campaign, django_capture_on_commit_callbacks)
    send_all(campaign)

    by_address = {parseaddr(message.to[0])[1]: message for message in mail.outbox}
    reader_html = by_address[reader.email].alternatives[0][0]
    delivery = Delivery.objects.get(subscriber=reader)
    pixel_token = re.search(r'<img src="[^"]*/t/o/([^"/]+)/?"', reader_html).group(1)
    assert tokens.verify_open(pixel_token) == delivery.pk
    click_urls = [href for href in _hrefs(reader_html) if "/t/c/" in href]
    article_links = TrackedLink.objects.filter(campaign=campaign)
    assert article_links.exists()
    targets = set()
    for url in click_urls:
        verified = tokens.verify_click(url.rstrip("/").rsplit("/", 1)[1])
        if verified is None:  # the hidden scanner trap
            continue
        assert verified[0] == delivery.pk
        targets.add(article_links.get(pk=verified[1]).url)
        response = client.get(url.removeprefix("https://news.example.com").removeprefix(settings_site()))
        assert response.status_code == 302 and response["Location"] in {link.url for link in article_links}
    assert targets == {link.url for link in article_links}
    assert "example.org/article-" not in reader_html, "no untracked article link is left"

    private_html = by_address[private.email].alternatives[0][0]
    private_tokens = [href.rstrip("/").rsplit("/", 1)[1] for href in _hrefs(private_html) if "/t/" in href]
    assert private_tokens, "anonymous tracking still counts the campaign"
    assert all(tokens.verify_click(token) is None for token in private_tokens), "no click names the delivery"
    private_pixel = re.search(r'<img src="[^"]*/t/o/([^"/]+)/?"', private_html).group(1)
    assert tokens.verify_open(private_pixel) is None
    assert tokens.verify_anonymous_open(private_pixel) == campaign.pk


def settings_site() -> str:
    from django.conf import settings

    return settings.SITE_URL


def test_tracking_switched_off_leaves_links_and_no_pixel(campaign, news, django_capture_on_commit_callbacks, settings):
    settings.KANAL_TRACKING = False
    subscribe(news, 1, tracking_consent=True)
    start(campaign, django_capture_on_commit_callbacks)
    send_all(campaign)
    html = mail.outbox[0].alternatives[0][0]
    assert "/t/" not in html
    assert any(href.startswith("https://example.org/article-") for href in _hrefs(html))


def test_esp_batch_send_carries_many_recipients_per_call_with_their_own_values(
    campaign, news, django_capture_on_commit_callbacks, settings
):
    from campaigns.services.sending import compiled_campaign
    from campaigns.services.transports import EspTemplate

    settings.KANAL_ESP_MERGE_FIELD_FORMAT = "%recipient.{}%"
    settings.KANAL_ESP_BATCH_SIZE = 4
    people = subscribe(news, 6, tracking_consent=True)
    start(campaign, django_capture_on_commit_callbacks)
    send_all(campaign)

    assert [len(message.to) for message in mail.outbox] == [4, 2], "one API call per 4 recipients"
    first = mail.outbox[0]
    params = first.anymail_test_params
    assert params["is_batch_send"] is True
    assert "%recipient.kanal_" in first.body and "%recipient.kanal_" in first.alternatives[0][0]
    assert first.subject == "%recipient.kanal_subject%"
    deliveries = {d.subscriber.email: d for d in Delivery.objects.select_related("subscriber")}
    for address in (recipient.addr_spec for recipient in params["to"]):
        assert params["merge_metadata"][address] == {"delivery_id": str(deliveries[address].pk)}
        assert "/one-click/>" in params["merge_headers"][address]["List-Unsubscribe"]
        # What the ESP will produce for this recipient equals what Kanal renders for them.
        values = params["merge_data"][address]
        html = re.sub(
            r"%recipient\.(kanal_\w+)%", lambda match, values=values: values[match.group(1)], first.alternatives[0][0]
        )
        assert values["kanal_subject"].startswith("Neues für")
        assert links.unsubscribe_url(deliveries[address].subscriber) in unescape(html)
        assert "/t/o/" in html and "%recipient" not in html
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    assert len(people) == Delivery.objects.exclude(esp_message_id="").count()
    compiled, _skeleton = compiled_campaign(campaign)
    assert EspTemplate(compiled, "{{{}}}").subject == "{kanal_subject}"


@pytest.mark.worker
def test_a_redis_restart_mid_campaign_loses_no_message_and_sends_none_twice(
    campaign, news, smtp_sink, celery_worker_thread, settings
):
    """Redis keeps nothing on disk here: a restart drops every queued task and every connection."""
    import redis

    settings.KANAL_SEND_BATCH_SIZE = 10
    settings.KANAL_SEND_RATE_PER_SECOND = 60
    recipients = subscribe(news, 90)
    sending.campaign_start(campaign=campaign)
    wait_until(lambda: len(smtp_sink.messages) >= 20, timeout=30, interval=0.02, raise_on_timeout=False)

    server = redis.Redis.from_url(settings.REDIS_URL)
    server.flushall()
    server.client_kill_filter(_type="normal", skipme=False)
    sent_before_sweep = len(smtp_sink.messages)
    assert sent_before_sweep < len(recipients), "the restart must hit the campaign mid-send"

    def swept_and_sent():
        sending.deliveries_sweep(stale_after=timedelta(seconds=5))  # what beat runs every 30 s
        return is_sent(campaign)

    wait_until(swept_and_sent, timeout=60, interval=0.5, message="the campaign to be sent after the restart")
    assert Counter(smtp_sink.recipients()) == Counter({subscriber.email: 1 for subscriber in recipients})


@pytest.mark.django_db(transaction=True)
def test_esp_batches_waiting_for_rate_slots_keep_their_claim_alive(campaign, news, settings):
    """A batch that waits longer for its rate slots than a claim stays fresh must renew the claim,
    or the sweeper hands its rows to another worker and both send them."""
    import threading

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.KANAL_ESP_MERGE_FIELD_FORMAT = "%recipient.{}%"
    settings.KANAL_ESP_BATCH_SIZE = 50
    settings.KANAL_SEND_RATE_PER_SECOND = 10  # 50 recipients: over four seconds of waiting
    settings.KANAL_SEND_STALE_SECONDS = 2
    throttle._client(settings.REDIS_URL).flushdb()
    subscribe(news, 50)
    sending.campaign_start(campaign=campaign)
    batch = threading.Thread(target=sending.delivery_batch_send, kwargs={"campaign_id": campaign.pk})
    batch.start()
    time.sleep(2.6)
    released = sending.deliveries_sweep()  # what beat runs: the claim is 2.6 s old unless renewed
    batch.join(timeout=30)

    assert released == 0
    assert [len(message.to) for message in mail.outbox] == [50]
    assert Counter(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT: 50}


def _addressees() -> list[str]:
    return sorted(parseaddr(message.to[0])[1] for message in mail.outbox)


def test_a_sent_campaign_sends_to_more_recipients_once(campaign, news, django_capture_on_commit_callbacks):
    readers = subscribe(news, 6)
    first_half = Subscriber.objects.filter(pk__in=[reader.pk for reader in readers[:3]])
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign, recipients=first_half)
    send_all(campaign)
    assert is_sent(campaign)
    assert _addressees() == sorted(reader.email for reader in readers[:3])

    with django_capture_on_commit_callbacks() as callbacks:
        added = sending.campaign_send_more(campaign=campaign, recipients=Subscriber.objects.all())
    assert added == 3 and callbacks
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING and campaign.finished_at is None
    send_all(campaign)
    assert is_sent(campaign)
    assert _addressees() == sorted(reader.email for reader in readers)

    assert sending.campaign_send_more(campaign=campaign, recipients=Subscriber.objects.all()) == 0
    assert is_sent(campaign)


def test_a_cancelled_or_draft_campaign_does_not_send_to_more_recipients(campaign, news):
    subscribe(news, 2)
    with pytest.raises(CampaignStateError):
        sending.campaign_send_more(campaign=campaign, recipients=Subscriber.objects.all())
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CANCELLED)
    with pytest.raises(CampaignStateError):
        sending.campaign_send_more(campaign=campaign, recipients=Subscriber.objects.all())
    assert not Delivery.objects.exists()
