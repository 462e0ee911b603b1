"""Rotating SECRET_KEY: every signed link in mails already sent keeps working while the old key is in
SECRET_KEY_FALLBACKS, and stops working once it is removed."""

import json
import subprocess
import sys
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.test import Client

from campaigns.rendering import compile_campaign
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.tests.test_settings import REPO
from subscribers import links
from subscribers.services import optin
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from surveys import tokens as survey_tokens
from surveys.models import Question
from surveys.tests.factories import DeliveryFactory, QuestionFactory, SurveyFactory
from tracking import tokens as tracking_tokens
from tracking.services import campaign_links_register

OLD_KEY = "old-secret-key-" + "o" * 40
NEW_KEY = "new-secret-key-" + "n" * 40
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def path_of(url: str) -> str:
    split = urlsplit(url)
    return split.path + (f"?{split.query}" if split.query else "")


@pytest.fixture
def world(db):
    mailing_list = MailingListFactory()
    subscriber = SubscriberFactory(tracking_consent=True)
    pending = SubscriptionFactory(
        mailing_list=mailing_list, subscriber=SubscriberFactory(status="pending"), status="pending"
    )
    pending.confirmation_nonce = "n" * 32
    pending.save(update_fields=["confirmation_nonce"])
    campaign = CampaignFactory(article_feedback_enabled=True, status="sent")
    article = ArticleFactory(campaign=campaign, position=0, link_url="https://example.org/eins", body="")
    link_ids = campaign_links_register(campaign=campaign, compiled=compile_campaign(campaign))
    survey = SurveyFactory(campaign=campaign)
    nps = QuestionFactory(survey=survey, position=1, kind=Question.Kind.NPS, required=True)
    delivery = DeliveryFactory(campaign=campaign, subscriber=subscriber)
    return SimpleNamespace(
        subscriber=subscriber,
        pending=pending,
        campaign=campaign,
        article=article,
        link_ids=link_ids,
        survey=survey,
        nps=nps,
        delivery=delivery,
    )


def mail_links(world):
    unsubscribe, preferences, header = links.MailLinks().for_subscriber(world.subscriber)
    return SimpleNamespace(unsubscribe=unsubscribe, preferences=preferences, one_click=header.split(">")[0][1:])


# (kind, how the link is made under the current key, HTTP method, statuses that mean "it worked")
LINK_KINDS = [
    ("confirmation", lambda w: optin.confirmation_url(subscription=w.pending), "get", {200}),
    ("unsubscribe", lambda w: mail_links(w).unsubscribe, "get", {200}),
    ("one-click unsubscribe", lambda w: mail_links(w).one_click, "post", {200}),
    ("preferences", lambda w: mail_links(w).preferences, "get", {200}),
    ("unsubscribe (single)", lambda w: links.unsubscribe_url(w.subscriber), "get", {200}),
    ("preferences (single)", lambda w: links.preferences_url(w.subscriber), "get", {200}),
    ("data export link", lambda w: links.data_link_url(subscriber=w.subscriber, action="export"), "get", {200}),
    ("data erase link", lambda w: links.data_link_url(subscriber=w.subscriber, action="erase"), "get", {200}),
    ("open pixel", lambda w: tracking_tokens.open_url(delivery_id=w.delivery.pk), "get", {200}),
    ("anonymous open pixel", lambda w: tracking_tokens.anonymous_open_url(campaign_id=w.campaign.pk), "get", {200}),
    (
        "click",
        lambda w: tracking_tokens.click_urls(delivery_id=w.delivery.pk, link_ids=w.link_ids)[0],
        "get",
        {302},
    ),
    ("anonymous click", lambda w: tracking_tokens.anonymous_click_url(link_id=w.link_ids[0]), "get", {302}),
    ("honeypot", lambda w: tracking_tokens.honeypot_url(delivery_id=w.delivery.pk), "get", {204}),
    (
        "anonymous honeypot",
        lambda w: tracking_tokens.anonymous_honeypot_url(campaign_id=w.campaign.pk),
        "get",
        {204},
    ),
    (
        "survey answer button",
        lambda w: survey_tokens.signer(survey_tokens.ANSWER, [(w.nps.pk, 9)]).urls(w.delivery.pk)[0],
        "get",
        {200},
    ),
    (
        "survey open",
        lambda w: survey_tokens.open_url(delivery_id=w.delivery.pk, survey_id=w.survey.pk),
        "get",
        {200},
    ),
    (
        "article feedback",
        lambda w: survey_tokens.feedback_url(delivery_id=w.delivery.pk, article_id=w.article.pk, useful=True),
        "get",
        {200},
    ),
]


@pytest.mark.parametrize(("kind", "make", "method", "worked"), LINK_KINDS, ids=[kind[0] for kind in LINK_KINDS])
def test_links_signed_under_a_fallback_key_work_until_it_is_removed(kind, make, method, worked, world, settings):
    settings.SECRET_KEY = OLD_KEY
    settings.SECRET_KEY_FALLBACKS = []
    path = path_of(make(world))
    client = Client(HTTP_USER_AGENT=BROWSER)

    settings.SECRET_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]
    assert path_of(make(world)) != path, "new links are signed with the new key"
    assert getattr(client, method)(path).status_code in worked, f"{kind} under a fallback key"

    settings.SECRET_KEY_FALLBACKS = []
    assert getattr(client, method)(path).status_code in {400, 404}, f"{kind} after the old key is gone"


def fallbacks_under(env: dict, tmp_path) -> list:
    probe = "import json; from django.conf import settings; print(json.dumps(settings.SECRET_KEY_FALLBACKS))"
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "newsletter_site.settings"}
    base["KANAL_VAR_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=base | env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_secret_key_fallbacks_come_from_the_environment(tmp_path):
    env = {"SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": f"{OLD_KEY}, older-key ,"}
    assert fallbacks_under(env, tmp_path) == [OLD_KEY, "older-key"]
    assert fallbacks_under({"SECRET_KEY": NEW_KEY}, tmp_path) == []
