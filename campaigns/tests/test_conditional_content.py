"""Conditional content: articles shown only to the members of a segment, decided per batch in SQL."""

import email
import re
from collections import Counter
from email.utils import parseaddr

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audience.tests.factories import SegmentFactory, leaf
from campaigns.models import Campaign, Delivery
from campaigns.rendering import RecipientContext, compile_campaign
from campaigns.selectors import articles_visible_to
from campaigns.services import lifecycle, sending
from campaigns.services.test_send import campaign_send_test
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory, TagFactory
from newsletter_site.testing import wait_until
from subscribers.models import Subscriber
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
# The marker of a conditional article is written in the campaign's language (German here).
MARKER = "Nur für Abonnenten im Segment „VIP“"

DIVIDER = "border-top: solid 1px #e5e7eb"
TEXT_SEPARATOR = "-" * 60


@pytest.fixture
def vip():
    return TagFactory(name="vip")


@pytest.fixture
def vip_segment(vip):
    return SegmentFactory(name="VIP", rules=leaf("tags", tags=[vip.pk]))


@pytest.fixture
def campaign(news, vip_segment):
    """Three articles; the middle one only for the VIP segment, with a merge tag and a link of its own."""
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign, position=0, headline="Für alle vorne")
    ArticleFactory(
        campaign=campaign,
        position=1,
        headline="Nur für VIPs",
        body="Hallo {{ subscriber.first_name }}, [die Lounge](https://example.org/lounge).",
        link_url="https://example.org/vip",
        segment=vip_segment,
    )
    ArticleFactory(campaign=campaign, position=2, headline="Für alle hinten")
    return campaign


def reader(news, name, *, tags=(), **fields):
    subscriber = SubscriptionFactory(
        mailing_list=news, subscriber=SubscriberFactory(email=f"{name}@example.org", first_name=name.title(), **fields)
    ).subscriber
    subscriber.tags.add(*tags)
    return subscriber


def send(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass


def parts(raw: bytes) -> tuple[str, str]:
    """(text, html) of a message as the SMTP server got it."""
    message = email.message_from_bytes(raw)
    found = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    return found["text/plain"], found["text/html"]


def test_members_see_the_article_and_the_others_get_the_mail_without_it_over_smtp(
    campaign, news, vip, smtp_sink, django_capture_on_commit_callbacks
):
    anna = reader(news, "anna", tags=[vip], tracking_consent=True)
    ida = reader(news, "ida", tags=[vip], tracking_consent=True)
    ben = reader(news, "ben", tracking_consent=True)
    send(campaign, django_capture_on_commit_callbacks)

    by_address = {recipients[0]: parts(raw) for recipients, raw in smtp_sink.messages}
    assert Counter(smtp_sink.recipients()) == Counter({anna.email: 1, ida.email: 1, ben.email: 1})
    for member in (anna, ida):
        text, html = by_address[member.email]
        assert "Nur für VIPs" in html and "Nur für VIPs" in text
        # Merge tags inside the conditional article stay per recipient.
        assert f"Hallo {member.first_name}," in html and f"Hallo {member.first_name}," in text
        assert html.count(DIVIDER) == 2 and text.count(TEXT_SEPARATOR) == 3
        assert "segment" not in text.lower(), "recipients never see the staff marker"
    text, html = by_address[ben.email]
    assert "Für alle vorne" in html and "Für alle hinten" in html and "Für alle hinten" in text
    assert "VIP" not in html and "VIP" not in text and "Lounge" not in html and "Hallo" not in text
    assert html.count(DIVIDER) == 1, "one divider between the two articles left, no empty gap"
    assert text.count(TEXT_SEPARATOR) == 2
    clicks = {address: len(re.findall(r'href="[^"]*/t/c/', html)) for address, (_text, html) in by_address.items()}
    assert clicks[ben.email] < clicks[anna.email], "the hidden article's links are not in the mail"
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def test_a_hidden_article_leaves_the_same_mail_as_a_campaign_without_it(campaign):
    """No gap, no stray divider, the next article takes the first article's place: the variant is
    laid out from the start, exactly as if the article did not exist."""
    first, conditional, last = campaign.articles.all()
    recipient = RecipientContext(email="ben@example.org", first_name="Ben", unsubscribe_url="https://u/")
    for articles, visible in (([first, last], ()), ([first, conditional, last], [conditional.pk])):
        variant = compile_campaign(campaign).variant(frozenset(visible)).render(recipient)
        conditional.segment = None if visible else conditional.segment
        without = compile_campaign(campaign, articles=articles).render(recipient)
        assert (variant.html, variant.text) == (without.html, without.text)


def test_a_campaign_without_conditional_articles_compiles_one_layout_only(news):
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    compiled, skeleton = sending.compiled_campaign(campaign)
    assert compiled.conditional_articles == {} and compiled.layout is None
    assert compiled.variant(frozenset({1, 2})) is compiled
    assert skeleton.variant(frozenset()) is skeleton


def test_membership_costs_one_query_per_segment_whatever_the_batch_size(campaign, news, vip, vip_segment):
    other = SegmentFactory(rules=leaf("language", language="en"))
    conditional = dict(campaign.articles.filter(segment__isnull=False).values_list("pk", "segment_id"))
    second = ArticleFactory(campaign=campaign, segment=vip_segment)  # shares the VIP query
    third = ArticleFactory(campaign=campaign, segment=other)
    conditional.update({second.pk: vip_segment.pk, third.pk: other.pk})

    def queries_for(count: int) -> int:
        ids = [reader(news, f"p{count}x{n}", tags=[vip] if n % 2 else []).pk for n in range(count)]
        with CaptureQueriesContext(connection) as captured:
            visible = articles_visible_to(conditional=conditional, subscriber_ids=ids)
        assert {len(articles) for articles in visible.values()} == {0, 2}
        return len(captured.captured_queries)

    assert queries_for(4) == queries_for(40) <= 1 + 2 * 2


def test_anymail_batches_make_one_call_per_variant_and_send_each_message_once(
    campaign, news, vip, settings, django_capture_on_commit_callbacks
):
    settings.KANAL_ESP_MERGE_FIELD_FORMAT = "%recipient.{}%"
    settings.KANAL_ESP_BATCH_SIZE = 2
    members = [reader(news, name, tags=[vip]) for name in ("anna", "ida")]
    others = [reader(news, name) for name in ("ben", "cem", "dora")]
    send(campaign, django_capture_on_commit_callbacks)
    sending.delivery_batch_send(campaign_id=campaign.pk)  # again: nothing more

    calls = [
        ({recipient.addr_spec for recipient in message.anymail_test_params["to"]}, message) for message in mail.outbox
    ]
    assert sorted(len(addresses) for addresses, _message in calls) == [1, 2, 2]
    for addresses, message in calls:
        shown = "Nur für VIPs" in message.alternatives[0][0]
        assert shown == ("Nur für VIPs" in message.body)
        assert addresses <= ({s.email for s in members} if shown else {s.email for s in others})
        values = message.anymail_test_params["merge_data"]
        for address in addresses:
            fill, template = values[address], message.alternatives[0][0]
            html = re.sub(r"%recipient\.(kanal_\w+)%", lambda match, v=fill: v[match.group(1)], template)
            name = address.split("@")[0].title()
            assert (f"Hallo {name}," in html) == shown, "merge tags of the conditional article per recipient"
    sent = Counter(address for addresses, _message in calls for address in addresses)
    assert sent == Counter({s.email: 1 for s in members + others})
    assert Delivery.objects.filter(status=Delivery.Status.SENT).exclude(esp_message_id="").count() == 5


def test_anymail_one_call_each_shows_the_article_to_members_only(
    campaign, news, vip, django_capture_on_commit_callbacks
):
    anna, ben = reader(news, "anna", tags=[vip]), reader(news, "ben")
    send(campaign, django_capture_on_commit_callbacks)
    by_address = {parseaddr(message.to[0])[1]: message for message in mail.outbox}
    assert "Hallo Anna," in by_address[anna.email].body and "Nur für VIPs" in by_address[anna.email].alternatives[0][0]
    assert "Nur für VIPs" not in by_address[ben.email].body
    assert "Nur für VIPs" not in by_address[ben.email].alternatives[0][0]


def test_membership_is_read_when_the_batch_is_sent(campaign, news, vip, settings, django_capture_on_commit_callbacks):
    settings.KANAL_SEND_BATCH_SIZE = 1
    anna, ben = reader(news, "anna"), reader(news, "ben")
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    sending.delivery_batch_send(campaign_id=campaign.pk)  # anna, not yet a VIP
    ben.tags.add(vip)
    sending.delivery_batch_send(campaign_id=campaign.pk)
    by_address = {parseaddr(message.to[0])[1]: message.body for message in mail.outbox}
    assert "Nur für VIPs" not in by_address[anna.email] and "Nur für VIPs" in by_address[ben.email]


def test_an_article_with_a_broken_segment_keeps_the_campaign_from_sending(
    campaign, news, admin_client, django_capture_on_commit_callbacks
):
    gone = MailingListFactory()
    article = campaign.articles.get(headline="Für alle hinten")
    article.segment = SegmentFactory(name="Ehemalige", rules=leaf("lists", lists=[gone.pk]))
    article.save()
    gone.delete()
    reader(news, "anna")

    with pytest.raises(ValidationError) as refused:
        sending.campaign_start(campaign=campaign)
    (message,) = refused.value.messages
    assert message.startswith("Article “Für alle hinten”, segment “Ehemalige”:") and "no longer exists" in message
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not Delivery.objects.exists() and mail.outbox == []
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "Article “Für alle hinten”, segment “Ehemalige”:" in page, "said next to “Send now” before anyone tries"


def test_a_segment_used_by_an_article_cannot_be_deleted_and_copies_keep_it(campaign, vip_segment, admin_client):
    with pytest.raises(ProtectedError):
        vip_segment.delete()
    changelist = admin_client.get(reverse("admin:audience_segment_changelist")).content.decode()
    assert '<td class="field-used_by">1</td>' in changelist
    copy = lifecycle.campaign_duplicate(campaign=campaign)
    assert list(copy.articles.values_list("segment", flat=True)) == [None, vip_segment.pk, None]


def test_the_public_archive_page_shows_no_conditional_article(client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT, archive_enabled=True)
    campaign.refresh_from_db()
    content = client.get(reverse("campaigns:archive", kwargs={"archive_id": campaign.archive_id})).content.decode()
    assert "Für alle vorne" in content and "Für alle hinten" in content
    assert "Nur für VIPs" not in content and "VIP" not in content and "lounge" not in content
    assert content.count(DIVIDER) == 1


def test_staff_preview_marks_conditional_articles_or_shows_a_chosen_subscribers_mail(admin_client, campaign, news, vip):
    reader(news, "anna", tags=[vip])
    reader(news, "ben")

    def preview_html(**query) -> str:
        url = reverse("admin:campaigns_campaign_preview_html", args=[campaign.pk])
        return admin_client.get(url, query).content.decode()

    marked = preview_html()  # the sample subscriber: every article, conditional ones marked
    assert "Nur für VIPs" in marked and MARKER in marked
    assert "Hallo Anna," in preview_html(subscriber="anna@example.org")
    assert "“VIP”" not in preview_html(subscriber="anna@example.org"), "a member's mail, as it will be sent"
    assert "Nur für VIPs" not in preview_html(subscriber="ben@example.org")
    page = admin_client.get(reverse("admin:campaigns_campaign_preview", args=[campaign.pk])).content.decode()
    assert "Every article for a segment is shown, marked with its segment" in page
    assert f"[{MARKER}]" in page, "the text part carries the marker too"


def test_test_mails_follow_the_chosen_subscriber_or_mark_every_conditional_article(campaign, news, vip):
    ben = reader(news, "ben")
    anna = reader(news, "anna", tags=[vip])
    recipient = RecipientContext(email="staff@example.org", first_name="Staff")
    campaign_send_test(campaign=campaign, addresses=["staff@example.org"], recipient=recipient)
    for subscriber in (ben, anna):
        campaign_send_test(
            campaign=campaign, addresses=["staff@example.org"], recipient=recipient, audience_of=subscriber
        )
    marked, as_ben, as_anna = mail.outbox
    assert MARKER in marked.body and "Nur für VIPs" in marked.body
    assert "Nur für VIPs" not in as_ben.body and "Nur für VIPs" not in as_ben.alternatives[0][0]
    assert "Nur für VIPs" in as_anna.body and "segment" not in as_anna.body
    assert Subscriber.objects.count() == 2


@pytest.mark.worker
def test_a_real_worker_sends_each_reader_their_variant_once_over_pipelined_smtp(
    campaign, news, vip, pipelining_sink, celery_worker_thread, settings
):
    settings.KANAL_SEND_BATCH_SIZE = 7
    readers = [reader(news, f"reader{n}", tags=[vip] if n % 3 == 0 else []) for n in range(40)]
    sending.campaign_start(campaign=campaign)
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT, timeout=60, interval=0.1)

    assert Counter(pipelining_sink.recipients()) == Counter({subscriber.email: 1 for subscriber in readers})
    for recipients, raw in pipelining_sink.messages:
        text, html = parts(raw)
        member = int(recipients[0].removeprefix("reader").split("@")[0]) % 3 == 0
        assert ("Nur für VIPs" in html) == member == ("Nur für VIPs" in text)


def test_staff_are_warned_when_every_article_is_for_a_segment_and_some_recipients_are_in_none(
    campaign, news, vip, vip_segment, admin_client
):
    reader(news, "anna", tags=[vip])
    reader(news, "ben")
    reader(news, "cem")
    page = lambda: admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()  # noqa: E731
    assert "without any article" not in page(), "unconditional articles reach everyone"

    campaign.articles.exclude(segment=vip_segment).update(segment=vip_segment)
    assert "2 recipients are in none of them: they would get this campaign without any article." in page()
