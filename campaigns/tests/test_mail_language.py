"""A campaign's mail speaks the campaign's language in every fixed string, HTML and text alike."""

import pytest
from django.core import mail

from campaigns.rendering import RecipientContext, compile_campaign
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

GERMAN = [
    "Impressum",
    "Datenschutzerklärung",
    "Abonnement verwalten",
    "Abmelden",
    "Diesen Newsletter im Browser ansehen",
    "War dieser Artikel nützlich?",
    "Weiterlesen",
]
ENGLISH = [
    "Imprint",
    "Privacy policy",
    "Manage your subscription",
    "Unsubscribe",
    "View this newsletter in your browser",
    "Was this article useful?",
    "Read more",
]
RECIPIENT = RecipientContext(
    email="erika@example.org",
    unsubscribe_url="https://kanal.test/unsubscribe/tok/",
    preferences_url="https://kanal.test/preferences/tok/",
)


def campaign_in(language):
    campaign = CampaignFactory(language=language, article_feedback_enabled=True)
    ArticleFactory(campaign=campaign, link_url="https://example.org/a", cta_text="")
    return campaign


@pytest.mark.parametrize(("language", "wanted", "unwanted"), [("de", GERMAN, ENGLISH), ("en", ENGLISH, GERMAN)])
def test_every_fixed_string_of_the_mail_is_in_the_campaign_language(language, wanted, unwanted):
    rendered = compile_campaign(campaign_in(language), archive_url="https://kanal.test/archive/1/").render(RECIPIENT)
    for part in (rendered.html, rendered.text):
        assert [word for word in wanted if word not in part] == []
        assert [word for word in unwanted if word in part] == []


def test_a_sent_german_campaign_has_a_german_footer_in_both_parts(django_capture_on_commit_callbacks):
    news = MailingListFactory(language="de")
    campaign = CampaignFactory(language="de", mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory(language="de"))
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass

    (message,) = mail.outbox
    (html, _mimetype) = message.alternatives[0]
    for part in (message.body, html):
        assert "Impressum" in part and "Datenschutzerklärung" in part and "Abonnement verwalten" in part
        assert "Imprint" not in part and "Privacy policy" not in part and "Manage your subscription" not in part
