"""A mail scanner fetches every link of a real campaign mail: no automation starts or moves. A person then does."""

import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail as outbox
from django.db.models import F

from automations.models import Journey, JourneyStepRun
from automations.tests.factories import active_automation
from campaigns.models import Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from surveys import tokens
from surveys.models import Question
from surveys.tests.factories import QuestionFactory, SurveyFactory
from tracking import tokens as tracking_tokens
from tracking.models import Event
from tracking.tests.conftest import BROWSER, process

pytestmark = pytest.mark.django_db

SCANNER = "Mozilla/5.0 (compatible; Proofpoint URL Defense)"
WAIT = [{"kind": "wait", "days": 1}]


@pytest.fixture
def sent_mail(django_capture_on_commit_callbacks):
    """A newsletter with two articles, a survey and "useful?" links, sent through the pipeline to one
    subscriber who agreed to tracking; returns the campaign, the delivery and every site URL in the mail."""
    news = MailingListFactory()
    campaign = CampaignFactory(mailing_lists=[news], article_feedback_enabled=True)
    first = ArticleFactory(campaign=campaign, position=0, headline="Erster", link_url="https://example.org/eins")
    ArticleFactory(
        campaign=campaign,
        position=1,
        headline="Zweiter",
        link_url="https://example.org/zwei",
        body="Mehr [hier](https://example.org/zwei-mehr).",
    )
    survey = SurveyFactory(campaign=campaign)
    nps = QuestionFactory(survey=survey, kind=Question.Kind.NPS, position=0)
    SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory(tracking_consent=True))
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    (message,) = outbox.outbox
    html = message.alternatives[0][0]
    found = [unescape(url) for url in re.findall(r'(?:href|src)="([^"]+)"', html)]
    found += [url.rstrip(".,;:") for url in re.findall(r"https?://[^\s()<>\"]+", message.body)]
    site = urlsplit(settings.SITE_URL).netloc
    urls = sorted({url for url in found if urlsplit(url).netloc == site})
    return campaign, first, nps, Delivery.objects.get(), urls


def _token(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def _fetch(client, url: str, *, method: str, user_agent: str, data=None):
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return getattr(client, method)(path, data, HTTP_USER_AGENT=user_agent, REMOTE_ADDR="198.51.100.9")


def test_a_scanner_fetching_every_link_starts_nothing_and_a_person_does(
    client, sent_mail, django_capture_on_commit_callbacks
):
    campaign, article, nps, delivery, urls = sent_mail
    clicks = [url for url in urls if "/t/c/" in url]
    answers = [url for url in urls if "/s/a/" in url]
    feedback = [url for url in urls if "/s/f/" in url]
    assert len(clicks) >= 3 and len(answers) == 11 and len(feedback) == 4
    automations = [
        active_automation(
            name="Clicked", trigger_kind="campaign_clicked", trigger_params={"campaign": campaign.pk}, steps=WAIT
        ),
        active_automation(
            name="Opened", trigger_kind="campaign_opened", trigger_params={"campaign": campaign.pk}, steps=WAIT
        ),
        active_automation(
            name="Answered",
            trigger_kind="question_answered",
            trigger_params={"question": nps.pk, "condition": "any"},
            steps=WAIT,
        ),
        *(
            active_automation(
                name=f"Useful {useful}",
                trigger_kind="article_feedback",
                trigger_params={"article": article.pk, "useful": useful},
                steps=WAIT,
            )
            for useful in (True, False)
        ),
    ]

    # Right after delivery: the gateway's agent, GET and HEAD, a browser-like fetch seconds after
    # sending, and a POST of each answer page's confirm form.
    with django_capture_on_commit_callbacks(execute=True):
        for url in urls:
            for method, agent in (("get", SCANNER), ("head", SCANNER), ("get", BROWSER)):
                _fetch(client, url, method=method, user_agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        for url in answers + feedback:
            for agent in (SCANNER, BROWSER):
                refused = _fetch(client, url, method="post", user_agent=agent, data={"step": "confirm"})
                assert refused.status_code == 403
        process()
    assert Event.objects.exclude(kind=Event.Kind.OPEN).count() == 3 * len(clicks)  # links and the honeypot
    assert not Event.objects.filter(is_machine=False).exists()
    assert not Journey.objects.exists() and not JourneyStepRun.objects.exists()

    # An hour later the reader clicks a link, answers 9 and finds the first article useful.
    Delivery.objects.filter(pk=delivery.pk).update(sent_at=delivery.sent_at - timedelta(hours=1))
    Event.objects.update(occurred_at=F("occurred_at") - timedelta(hours=1))
    link_click = next(url for url in clicks if tracking_tokens.verify_click(_token(url)) is not None)
    _fetch(client, link_click, method="get", user_agent=BROWSER)
    nine = next(url for url in answers if tokens.verify_answer(_token(url))[2] == 9)
    useful = next(url for url in feedback if tokens.verify_feedback(_token(url))[1:] == (article.pk, True))
    with django_capture_on_commit_callbacks(execute=True):
        for url in (nine, useful):
            assert _fetch(client, url, method="post", user_agent=BROWSER, data={"step": "confirm"}).status_code == 302
        process(later=timedelta(minutes=20))
    started = set(Journey.objects.filter(subscriber=delivery.subscriber).values_list("automation__name", flat=True))
    assert started == {"Clicked", "Opened", "Answered", "Useful True"}
    assert Journey.objects.count() == 4 and len(automations) == 5
