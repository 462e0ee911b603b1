"""Merge tags other apps register (campaigns.extensions.RECIPIENT_VALUES), e.g. referrals' link."""

from email.utils import parseaddr
from urllib.parse import urlsplit

import pytest
from django.core import mail

from campaigns.merge_tags import MergeTagError, parse
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from referrals.tokens import read_referral_token
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_each_mail_carries_the_recipients_own_referral_link(django_capture_on_commit_callbacks):
    news = MailingListFactory()
    campaign = CampaignFactory(subject="Hallo", mailing_lists=[news])
    ArticleFactory(campaign=campaign, body="Empfehlen Sie uns: {{ subscriber.referral_url }}")
    readers = [SubscriberFactory(email=f"leser{number}@example.org") for number in range(2)]
    for reader in readers:
        SubscriptionFactory(mailing_list=news, subscriber=reader)
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    by_address = {parseaddr(message.to[0])[1]: message for message in mail.outbox}
    for reader in readers:
        body = by_address[reader.email].body
        (url,) = [word for word in body.split() if "/r/" in word]
        link = read_referral_token(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
        assert (link.public_id, link.mailing_list_id) == (reader.public_id, news.pk)


def test_unregistered_names_are_still_refused():
    with pytest.raises(MergeTagError):
        parse("{{ subscriber.password_url }}")
    assert parse("{{ subscriber.referral_url }}")[0].field == "referral_url"


def test_a_campaign_without_a_public_list_carries_no_referral_link(django_capture_on_commit_callbacks):
    private = MailingListFactory(is_public=False)
    campaign = CampaignFactory(subject="Hallo", mailing_lists=[private])
    ArticleFactory(campaign=campaign, body="Link: [{{ subscriber.referral_url }}]")
    SubscriptionFactory(mailing_list=private, subscriber=SubscriberFactory(email="intern@example.org"))
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    (message,) = mail.outbox
    assert "Link: []" in message.body
