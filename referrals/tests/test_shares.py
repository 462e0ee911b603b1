"""Share links carry the sharer's referral token; the shared archive page passes it to its sign-up
links, and a friend who signs up there and confirms is credited to the sharer."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail

from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from referrals.models import Referral
from referrals.tests.conftest import confirm_last, sign_up
from referrals.tokens import read_referral_token
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@pytest.fixture
def sharer(mailing_list):
    subscriber = SubscriberFactory(email="ida.reader@example.org", tracking_consent=True)
    SubscriptionFactory(mailing_list=mailing_list, subscriber=subscriber)
    return subscriber


def _send(campaign, capture):
    with capture():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    (message,) = mail.outbox
    mail.outbox.clear()
    return message


def _share_url(message, network="LinkedIn"):
    return next(line.split(": ", 1)[1] for line in message.body.splitlines() if line.startswith(f"{network}: "))


def test_a_shared_archive_page_brings_friends_to_the_sharers_referral(
    client, mailing_list, sharer, django_capture_on_commit_callbacks, settings
):
    settings.KANAL_SIGNUP_MIN_FILL_SECONDS = 0
    campaign = CampaignFactory(mailing_lists=[mailing_list], archive_enabled=True, sharing_enabled=True)
    ArticleFactory(campaign=campaign)
    share = _share_url(_send(campaign, django_capture_on_commit_callbacks))
    token = parse_qs(urlsplit(share).query)["ref"][0]
    link = read_referral_token(token)
    assert (link.public_id, link.mailing_list_id) == (sharer.public_id, mailing_list.pk)

    target = client.get(f"{urlsplit(share).path}?{urlsplit(share).query}", HTTP_USER_AGENT=BROWSER)["Location"]
    shared_page = parse_qs(urlsplit(target).query)["url"][0]
    assert parse_qs(urlsplit(shared_page).query)["ref"] == [token]

    page = client.get(f"{urlsplit(shared_page).path}?{urlsplit(shared_page).query}").content.decode()
    signup = f"/subscribe/{mailing_list.slug}/?ref={token.replace(':', '%3A')}"
    assert f'{signup}"' in page, "the page's sign-up links keep the referral"
    plain = client.get(urlsplit(shared_page).path).content.decode()
    assert "?ref=" not in plain, "the cached page is the same for everyone"

    sign_up(client, mailing_list, email="freundin@example.net", ref=token)
    confirm_last(client)
    assert Referral.objects.get().referrer_id == sharer.pk
    assert Referral.objects.get().status == Referral.Status.CREDITED


def test_a_forged_referral_on_a_share_link_is_dropped(client, mailing_list, sharer, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(mailing_lists=[mailing_list], archive_enabled=True, sharing_enabled=True)
    ArticleFactory(campaign=campaign)
    share = _share_url(_send(campaign, django_capture_on_commit_callbacks))
    forged = client.get(urlsplit(share).path + "?ref=abc:def", HTTP_USER_AGENT=BROWSER)["Location"]
    assert "ref" not in parse_qs(urlsplit(parse_qs(urlsplit(forged).query)["url"][0]).query)


def test_a_campaign_to_a_private_list_puts_no_referral_on_share_links(sharer, django_capture_on_commit_callbacks):
    private = MailingListFactory(is_public=False)
    SubscriptionFactory(mailing_list=private, subscriber=sharer)
    campaign = CampaignFactory(mailing_lists=[private], archive_enabled=True, sharing_enabled=True)
    ArticleFactory(campaign=campaign)
    assert "?ref=" not in _share_url(_send(campaign, django_capture_on_commit_callbacks))
