"""The offer block in mails: one code per delivery at send time, on every transport, and a pool that
runs out pauses the campaign instead of sending a mail without its code."""

import re
import threading
import time
from collections import Counter
from datetime import timedelta
from email.utils import parseaddr

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory
from campaigns.tests.test_conditional_content import parts as text_and_html
from campaigns.tests.test_conditional_content import send
from offers import tokens
from offers.models import CouponAssignment, Offer, Redemption
from offers.services import assignment
from offers.services.assignment import campaign_offer_set, coupons_assign
from offers.services.pools import offer_shared_code_set, pool_upload
from offers.tests.factories import CouponFactory, OfferFactory
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory
from tracking.tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db

CODE_RE = re.compile(r"OB-\d{4}")


@pytest.fixture
def news():
    return MailingListFactory(name="News")


@pytest.fixture
def offer():
    offer = OfferFactory(name="Frühlingsrabatt")
    for n in range(20):
        CouponFactory(offer=offer, code=f"OB-{n:04d}")
    return offer


def readers(news, count):
    return [
        SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory(email=f"r{n}@example.org")).subscriber
        for n in range(count)
    ]


def campaign_with(news, offer, **kwargs):
    campaign = CampaignFactory(mailing_lists=[news], language="en", **kwargs)
    ArticleFactory(campaign=campaign, body="Dein Code: {{ subscriber.offer_code }}")
    campaign_offer_set(campaign=campaign, offer=offer)
    campaign.refresh_from_db()
    return campaign


def assigned_codes(campaign) -> dict[str, str]:
    """address -> code of every delivery of the campaign that has one."""
    return dict(
        CouponAssignment.objects.filter(delivery__campaign=campaign).values_list(
            "delivery__subscriber__email", "coupon__code"
        )
    )


def assert_exactly_one_code_each(campaign, count):
    codes = assigned_codes(campaign)
    assert len(codes) == count
    assert len(set(codes.values())) == count, "two deliveries got the same code"
    assert CouponAssignment.objects.filter(delivery__campaign=campaign).count() == count
    return codes


def test_every_smtp_message_carries_its_deliverys_own_code_and_link(
    news, offer, smtp_sink, django_capture_on_commit_callbacks, in_english
):
    readers(news, 5)
    campaign = campaign_with(news, offer)
    send(campaign, django_capture_on_commit_callbacks)

    codes = assert_exactly_one_code_each(campaign, 5)
    assert Counter(smtp_sink.recipients()) == Counter({address: 1 for address in codes})
    for recipients, raw in smtp_sink.messages:
        text, html = text_and_html(raw)
        code = codes[recipients[0]]
        assert set(CODE_RE.findall(text)) == {code} and set(CODE_RE.findall(html)) == {code}
        assert f"Dein Code: {code}" in text
        delivery = Delivery.objects.get(campaign=campaign, subscriber__email=recipients[0])
        assert tokens.offer_url(offer_id=offer.pk, delivery_id=delivery.pk) in text
        assert "Frühlingsrabatt" in html and "Valid until" in text and "Redeem now" in html


def test_anymail_one_call_each_gives_every_message_its_code(news, offer, django_capture_on_commit_callbacks):
    readers(news, 4)
    campaign = campaign_with(news, offer)
    send(campaign, django_capture_on_commit_callbacks)

    codes = assert_exactly_one_code_each(campaign, 4)
    assert len(mail.outbox) == 4
    for message in mail.outbox:
        code = codes[parseaddr(message.to[0])[1]]
        assert set(CODE_RE.findall(message.body)) == {code}
        assert set(CODE_RE.findall(message.alternatives[0][0])) == {code}


def test_anymail_merge_data_batches_carry_each_recipients_code(
    news, offer, settings, django_capture_on_commit_callbacks
):
    settings.KANAL_ESP_MERGE_FIELD_FORMAT = "%recipient.{}%"
    settings.KANAL_ESP_BATCH_SIZE = 2
    readers(news, 5)
    campaign = campaign_with(news, offer)
    send(campaign, django_capture_on_commit_callbacks)

    codes = assert_exactly_one_code_each(campaign, 5)
    seen = Counter()
    for message in mail.outbox:
        template = message.alternatives[0][0]
        assert not CODE_RE.search(template), "the template names nobody's code"
        for recipient in message.anymail_test_params["to"]:
            fill = message.anymail_test_params["merge_data"][recipient.addr_spec]
            html = re.sub(r"%recipient\.(kanal_\w+)%", lambda match, v=fill: v[match.group(1)], template)
            assert set(CODE_RE.findall(html)) == {codes[recipient.addr_spec]}
            seen[recipient.addr_spec] += 1
    assert seen == Counter({address: 1 for address in codes})


def test_a_batch_sent_again_reuses_the_deliverys_code(news, offer, django_capture_on_commit_callbacks):
    readers(news, 3)
    campaign = campaign_with(news, offer)
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    ids = list(Delivery.objects.filter(campaign=campaign).values_list("pk", flat=True))
    first = coupons_assign(offer_id=offer.pk, delivery_ids=ids)  # a killed worker's batch got this far
    sending.delivery_batch_send(campaign_id=campaign.pk)
    again = coupons_assign(offer_id=offer.pk, delivery_ids=ids)

    assert first == again and len(set(first.values())) == 3
    assert CouponAssignment.objects.count() == 3
    by_address = {parseaddr(m.to[0])[1]: m.body for m in mail.outbox}
    for delivery in Delivery.objects.filter(campaign=campaign).select_related("subscriber"):
        assert first[delivery.pk] in by_address[delivery.subscriber.email]


def test_assignment_skips_codes_given_or_redeemed_elsewhere_and_looks_below_its_hint(news, monkeypatch):
    offer = OfferFactory(name="Klein")
    coupons = [CouponFactory(offer=offer, code=f"KL-{n}") for n in range(6)]
    reader = SubscriberFactory()
    CouponAssignment.objects.create(coupon=coupons[0], subscriber=reader)  # a referral reward
    Redemption.objects.create(
        coupon=coupons[2], offer=offer, shared=False, source=Redemption.Source.MANUAL, redeemed_at=timezone.now()
    )
    campaign = campaign_with(news, offer)
    ids = [DeliveryFactory(campaign=campaign, subscriber=person).pk for person in readers(news, 5)]
    monkeypatch.setitem(assignment._assigned_up_to, offer.pk, coupons[4].pk)  # this process last gave out KL-4 ...

    codes = assignment.coupons_assign(offer_id=offer.pk, delivery_ids=ids[:3])

    # ... only KL-5 lies above it: the rest comes from the whole pool, never KL-0 or KL-2.
    assert codes == {ids[0]: "KL-5", ids[1]: "KL-1", ids[2]: "KL-3"}
    assert set(codes) == set(ids[:3])
    rest = assignment.coupons_assign(offer_id=offer.pk, delivery_ids=ids[3:])
    assert len(rest) == 1, "one free code left for two deliveries: the other gets none"
    given = list(CouponAssignment.objects.filter(delivery__in=ids).values_list("coupon__code", flat=True))
    assert sorted(given) == ["KL-1", "KL-3", "KL-4", "KL-5"]
    assert assignment.coupons_assign(offer_id=offer.pk, delivery_ids=ids) == {**codes, **rest}


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_one_pool_each_get_distinct_codes(news):
    offer = OfferFactory(name="Eng")
    for n in range(30):
        CouponFactory(offer=offer, code=f"EN-{n:02d}")
    campaign = campaign_with(news, offer)
    ids = [DeliveryFactory(campaign=campaign, subscriber=person).pk for person in readers(news, 40)]
    batches = [ids[n::4] for n in range(4)]
    barrier, results, errors = threading.Barrier(4), [], []

    def claim(batch):
        try:
            barrier.wait(10)
            results.append(assignment.coupons_assign(offer_id=offer.pk, delivery_ids=batch))
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    given = {pk: code for result in results for pk, code in result.items()}
    assert len(given) == 30, "the pool's 30 codes all given, to 30 of the 40 deliveries"
    assert len(set(given.values())) == 30
    stored = dict(CouponAssignment.objects.filter(delivery__in=ids).values_list("delivery_id", "coupon__code"))
    assert stored == given


def test_an_empty_pool_pauses_the_campaign_and_resuming_after_new_codes_sends_the_rest(
    news, django_capture_on_commit_callbacks, in_english
):
    offer = OfferFactory(name="Spring")
    for n in range(3):
        CouponFactory(offer=offer, code=f"OB-{n:04d}")
    readers(news, 5)
    campaign = campaign_with(news, offer)
    send(campaign, django_capture_on_commit_callbacks)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "“Spring” has no codes left for 2 messages" in campaign.hold_reason
    progress = sending.campaign_progress(campaign=campaign)
    assert progress["hold_reason"] == campaign.hold_reason and progress["sent"] == 3 and progress["queued"] == 2
    assert len(mail.outbox) == 3 and all(CODE_RE.search(message.body) for message in mail.outbox)

    pool_upload(offer=offer, data=b"code\nOB-0100\nOB-0101\n")
    with django_capture_on_commit_callbacks():
        sending.campaign_resume(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT and campaign.hold_reason == ""
    codes = assert_exactly_one_code_each(campaign, 5)
    assert {parseaddr(m.to[0])[1] for m in mail.outbox} == set(codes) and len(mail.outbox) == 5
    for message in mail.outbox:
        assert set(CODE_RE.findall(message.body)) == {codes[parseaddr(message.to[0])[1]]}


def test_a_shared_code_offer_writes_no_assignments(news, django_capture_on_commit_callbacks):
    offer = OfferFactory(code_source=Offer.CodeSource.SHARED)
    offer_shared_code_set(offer=offer, code="FRUEHLING10")
    readers(news, 3)
    campaign = campaign_with(news, offer)
    send(campaign, django_capture_on_commit_callbacks)

    assert CouponAssignment.objects.count() == 0
    assert len(mail.outbox) == 3 and all("FRUEHLING10" in message.body for message in mail.outbox)


def test_two_campaigns_of_one_pool_never_share_a_code(news, offer, django_capture_on_commit_callbacks):
    readers(news, 6)
    first, second = campaign_with(news, offer), campaign_with(news, offer)
    send(first, django_capture_on_commit_callbacks)
    send(second, django_capture_on_commit_callbacks)
    codes = list(CouponAssignment.objects.values_list("coupon__code", flat=True))
    assert len(codes) == 12 == len(set(codes))


def test_the_archive_shows_no_personal_code_and_shows_the_block_as_ended_after_the_deadline(
    client, news, offer, django_capture_on_commit_callbacks, in_english
):
    readers(news, 2)
    campaign = campaign_with(news, offer, archive_enabled=True)
    send(campaign, django_capture_on_commit_callbacks)
    url = reverse("campaigns:archive", kwargs={"archive_id": campaign.archive_id})
    page = client.get(url).content.decode()
    assert "Frühlingsrabatt" in page and "(your personal code is in your mail)" in page
    assert not CODE_RE.search(page) and tokens.offer_url(offer_id=offer.pk) in page

    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() + timedelta(seconds=1))
    cache.clear()
    client.get(url)  # cached until the offer ends
    time.sleep(2.1)
    page = client.get(url).content.decode()
    assert "This offer ended on" in page and not CODE_RE.search(page) and "Redeem now" not in page


def test_an_automation_mail_with_an_empty_pool_waits_and_goes_out_once_codes_are_added(in_english):
    from campaigns.services import lifecycle

    offer = OfferFactory(name="Welcome")
    automation_mail = CampaignFactory(kind=Campaign.Kind.AUTOMATION, mailing_lists=[], language="en")
    ArticleFactory(campaign=automation_mail)
    campaign_offer_set(campaign=automation_mail, offer=offer)
    lifecycle.campaign_automation_use(campaign=automation_mail)
    anna = SubscriberFactory(email="anna@example.org")
    sending.deliveries_add(campaign=automation_mail, occurrences=[(anna.pk, 1)])
    sending.delivery_batch_send(campaign_id=automation_mail.pk)

    automation_mail.refresh_from_db()
    assert automation_mail.status == Campaign.Status.SENDING, "an automation mail is never paused"
    assert "“Welcome” has no code left for 1 message. Messages wait until codes are added." in (
        automation_mail.hold_reason
    )
    assert Delivery.objects.get().status == Delivery.Status.QUEUED and mail.outbox == []

    CouponFactory(offer=offer, code="OB-0007")
    sending.delivery_batch_send(campaign_id=automation_mail.pk)
    automation_mail.refresh_from_db()
    assert Delivery.objects.get().status == Delivery.Status.SENT and automation_mail.hold_reason == ""
    assert len(mail.outbox) == 1 and "OB-0007" in mail.outbox[0].body
