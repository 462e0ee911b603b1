"""A reader forwards a campaign from their mail in a real browser: the friends' mails arrive at a
real SMTP sink with the sign-up invitation and none of the reader's tokens (their own share
links' per-delivery token included); the reader's share links name them and lead to the archive
page with their referral token, the archive page's own name nobody and carry no token."""

import email
import re
from datetime import timedelta
from email import policy
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db.models import F

from campaigns.models import Delivery
from campaigns.previews import archive_url, signup_url
from campaigns.services import sending
from referrals import tokens as referral_tokens
from referrals.pages import FIELD as REFERRAL_FIELD
from sharing import tokens as sharing_tokens
from sharing.models import SharingEvent
from sharing.tests.test_forward import candidates

pytestmark = [pytest.mark.browser]

READER_BROWSER = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
)
URL = re.compile(r"""https?://[^\s"'<>]+""")
# The reader's own links: unsubscribe, preferences, forward, tracked open and click, referral token.
PERSONAL_PATHS = ("/unsubscribe/", "/preferences/", "/forward/", "/t/o/", "/t/c/", "?ref=")
NETWORK_STUB = "<!doctype html><title>network</title><p>share page</p>"


def _sink_mails(sink) -> list[tuple[list[str], bytes]]:
    with sink.lock:
        return list(sink.messages)


def _parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def _bodies(message) -> str:
    return "\n".join(unescape(part.get_content()) for part in message.walk() if part.get_content_maintype() == "text")


def _network_target(page, url: str) -> str:
    """Follow a share link in the browser: Kanal's redirect answers for real, the network's page
    is not fetched (no request leaves the machine). Returns the page LinkedIn was asked to share."""
    seen = []

    def redirect_only(route):
        response = route.fetch(max_redirects=0)
        seen.append(response.headers["location"])
        route.fulfill(status=200, content_type="text/html", body=NETWORK_STUB)

    page.route("**/share/**", redirect_only)
    try:
        page.goto(url)
    finally:
        page.unroute("**/share/**")
    (location,) = seen
    assert urlsplit(location).netloc == "www.linkedin.com"
    return parse_qs(urlsplit(location).query)["url"][0]


def test_reader_forwards_to_two_friends_who_get_no_token_and_share_links_lead_to_the_archive(
    browser, live_server, settings, smtp_sink, transactional_db, monkeypatch, in_english
):
    from campaigns.tests.factories import ArticleFactory, CampaignFactory
    from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

    settings.SITE_URL = live_server.url
    news = MailingListFactory(name="News", slug="news")
    reader = SubscriptionFactory(
        mailing_list=news,
        subscriber=SubscriberFactory(
            email="ida.reader@example.org", first_name="Ida", language="en", tracking_consent=True
        ),
    ).subscriber
    campaign = CampaignFactory(
        mailing_lists=[news], language="en", subject="Spring letter", archive_enabled=True, sharing_enabled=True
    )
    ArticleFactory(campaign=campaign, headline="Gardens in April")

    # The real sending path to the SMTP sink; the test sends the batches itself instead of Celery.
    monkeypatch.setattr(sending, "_queue_senders", lambda *, campaign_id: None)
    sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    [(recipients, raw_own)] = _sink_mails(smtp_sink)
    assert recipients == ["ida.reader@example.org"]
    own = _parsed(raw_own)
    own_urls = URL.findall(_bodies(own))
    (forward_link,) = {url for url in own_urls if "/forward/" in url}
    linkedin_share = next(url for url in own_urls if "/share/" in url and "/linkedin/" in url)
    own_share_tokens = {urlsplit(url).path.split("/")[2] for url in own_urls if "/share/" in url}
    delivery = Delivery.objects.get(subscriber=reader)
    assert {sharing_tokens.verify_own_share(token) for token in own_share_tokens} == {(delivery.pk, campaign.pk)}
    assert own["List-Unsubscribe"], "the reader's own mail names their unsubscribe link"
    own_text = _bodies(own)
    assert [path for path in PERSONAL_PATHS if path not in own_text] == [], "the reader's mail has them all"
    # The reader opens the mail a few minutes after it was sent (clicks within seconds are scanners').
    Delivery.objects.update(sent_at=F("sent_at") - timedelta(minutes=5))

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", user_agent=READER_BROWSER)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(forward_link)
        page.get_by_label("Your name").fill("Ida")
        page.get_by_label("Your friends' email addresses").fill("anna.friend@example.net\nben.friend@example.com")
        page.get_by_label("I know these people and they would want this mail from me.").check()
        page.get_by_role("button", name="Send").click()
        page.get_by_text("Thank you for recommending us!").wait_for()

        forwarded = [(to, _parsed(raw)) for to, raw in _sink_mails(smtp_sink)[1:]]
        assert sorted(address for to, _message in forwarded for address in to) == [
            "anna.friend@example.net",
            "ben.friend@example.com",
        ]
        own_pieces = {
            piece
            for url in own_urls
            if url.startswith(live_server.url)
            for piece in candidates(url)
            if len(piece) >= 16
        } - candidates(archive_url(campaign))  # the archive page is everyone's, not the reader's
        assert own_pieces, "the reader's mail has tokens to look for"
        assert own_share_tokens <= own_pieces, "their own share links' token among them"
        for _to, message in forwarded:
            raw_text = message.as_string()
            text = _bodies(message)
            assert message["List-Unsubscribe"] is None
            assert message["Subject"] == "Ida recommends: Spring letter"
            assert signup_url(campaign) in text, "the sign-up invitation"
            assert archive_url(campaign) in text
            leaked = sorted(piece for piece in own_pieces if piece in raw_text)
            assert leaked == [], "none of the reader's tokens (unsubscribe, preferences, tracking, referral, share)"
            assert not [token for token in own_share_tokens if token in raw_text]
            assert live_server.url + "/share/" not in text, "friends' share links lead straight to the networks"
            for path in PERSONAL_PATHS:
                assert path not in text, path
        forward = SharingEvent.objects.get(kind=SharingEvent.Kind.FORWARD)
        assert (forward.recipients, forward.subscriber_id, forward.machine_reason) == (2, reader.pk, "")

        # The reader's own share link: the archive page with their referral token.
        shared_page = _network_target(page, linkedin_share)
        token = parse_qs(urlsplit(shared_page).query)[REFERRAL_FIELD][0]
        assert shared_page.split("?")[0] == archive_url(campaign)
        assert parse_qs(urlsplit(shared_page).query) == {REFERRAL_FIELD: [token]}
        assert referral_tokens.read_referral_token(token).public_id == reader.public_id
        share = SharingEvent.objects.get(kind=SharingEvent.Kind.SHARE)
        assert (share.network, share.subscriber_id, share.machine_reason) == ("linkedin", reader.pk, "")

        # The archive page a friend sees: its share buttons lead to the page itself, with nobody's token.
        page.goto(shared_page)
        page.get_by_text("Gardens in April").first.wait_for()
        archive_share = page.locator("a[href*='/share/'][href*='/linkedin/']").first.get_attribute("href")
        assert "ref=" not in archive_share
        archive_token = urlsplit(archive_share).path.split("/")[2]
        assert sharing_tokens.verify_own_share(archive_token) is None
        assert sharing_tokens.verify_share(archive_token) == campaign.pk
        assert _network_target(page, archive_share) == archive_url(campaign)
        assert SharingEvent.objects.filter(kind=SharingEvent.Kind.SHARE, subscriber=None).count() == 1
    finally:
        context.close()
