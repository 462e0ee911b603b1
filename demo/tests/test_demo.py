"""The demo ``up`` seeds: figures on every analytics page, removable without touching real data."""

import io
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Article, Campaign, Delivery
from dashboard.selectors import nps_trend, recent_campaigns
from demo.services import DEMO_TAG, demo_campaigns, demo_remove, demo_seed, demo_subscribers
from newsletter_site.management.commands.kanal_bootstrap import Command as Bootstrap
from subscribers.models import ConsentRecord, MailingList, Subscriber, Subscription, Tag
from surveys.models import Answer, ArticleFeedback, Response
from surveys.selectors import campaign_article_feedback
from tracking import event_queue
from tracking.models import CampaignHourStats, Event, TrackedLink
from tracking.selectors import audience_figures, campaign_articles, campaign_funnel, machine_share
from tracking.services.events import events_ingest

Reason = Event.MachineReason
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def lists(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return Bootstrap().ensure_lists()


def counts() -> dict[str, int]:
    models = (Subscriber, Subscription, ConsentRecord, Campaign, Article, Delivery, TrackedLink, Event)
    found = {model.__name__: model.objects.count() for model in models}
    found |= {model.__name__: model.objects.count() for model in (Response, Answer, ArticleFeedback)}
    found["hour_rows"] = CampaignHourStats.objects.count()
    return found


def test_demo_campaigns_show_human_rates_below_the_raw_ones(lists):
    outcome = demo_seed(lists=lists, now=NOW)

    assert outcome.created and outcome.subscribers >= 300
    campaigns = list(demo_campaigns().order_by("started_at"))
    assert len(campaigns) == 2
    assert all(campaign.status == Campaign.Status.SENT for campaign in campaigns)
    for campaign in campaigns:
        people = campaign_funnel(campaign=campaign)
        raw = campaign_funnel(campaign=campaign, machines=True)
        assert people.delivered == Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count() > 50
        assert 0 < people.open_rate < raw.opens / raw.delivered
        assert 0 < people.click_rate < raw.clicks / raw.delivered
        assert 0 < people.opens < raw.opens and 0 < people.clicks < raw.clicks
        reasons = machine_share(campaign=campaign)
        assert reasons[Reason.PROXY_OPEN] > 0
        assert {Reason.SCANNER_AGENT, Reason.TOO_SOON, Reason.LINK_BURST} & set(reasons)
        articles = campaign_articles(campaign=campaign)
        assert articles[0].clicks > articles[-1].clicks > 0, "readers drop off down the mail"
        assert all(figures.total for figures in campaign_article_feedback(campaign=campaign))
    everything = Counter(Event.objects.values_list("machine_reason", flat=True))
    assert everything[Reason.HONEYPOT] and everything[Reason.HONEYPOT_BURST] and everything[Reason.HEAD]
    human = Event.objects.filter(is_machine=False).order_by("occurred_at").values_list("occurred_at", flat=True)
    assert human.last() - human.first() > timedelta(days=7), "people read over days, not at once"
    assert human.last() < NOW
    assert Event.objects.filter(is_machine=False, delivery__isnull=True).exists(), "no consent, anonymous"
    assert not Event.objects.filter(counted=False).exists()
    assert [row["nps"] is not None for row in nps_trend()] == [True]
    rates = recent_campaigns()
    assert [row.campaign for row in rates] == campaigns[::-1]
    assert all(row.open_rate and row.click_rate for row in rates)
    assert rates[1].answer_rate > 0


def test_every_analytics_page_shows_the_demo(lists, admin_client, in_english):
    demo_seed(lists=lists, now=timezone.now())
    campaign = demo_campaigns().get(language="en")

    pages = [
        reverse("tracking:analytics_campaigns"),
        reverse("tracking:analytics_campaign", args=[campaign.pk]),
        reverse("tracking:analytics_audience"),
        reverse("dashboard:dashboard"),
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        if url != pages[1]:  # the campaign page also has tables of offers and sharing, which the demo leaves out
            assert "No figures yet" not in response.content.decode(), url
    detail = admin_client.get(pages[1]).content.decode()
    assert "Honest analytics: people, not proxies" in detail


def test_seeding_twice_is_seeding_once(lists):
    first = demo_seed(lists=lists, now=NOW)
    after_first = counts()
    second = demo_seed(lists=lists, now=NOW + timedelta(hours=1))

    assert first.created and not second.created
    assert counts() == after_first
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.SIGNUP).count() == after_first["Subscription"] - 20


def test_the_same_moment_gives_the_same_figures(lists):
    def figures():
        return [
            (campaign.name, campaign_funnel(campaign=campaign, machines=True))
            for campaign in demo_campaigns().order_by("started_at")
        ]

    demo_seed(lists=lists, now=NOW)
    first = figures()
    demo_remove()
    demo_seed(lists=lists, now=NOW)

    assert figures() == first


def test_removal_takes_the_demo_and_nothing_else(lists):
    reader = Subscriber.objects.create(
        email="reader@example.com", status=Subscriber.Status.ACTIVE, tracking_consent=True
    )
    tagged = Subscriber.objects.create(email="leser@kanal.test", status=Subscriber.Status.ACTIVE)
    tagged.tags.add(Tag.objects.create(name=DEMO_TAG))
    Subscription.objects.create(subscriber=reader, mailing_list=lists["news"], status=Subscription.Status.ACTIVE)
    real = Campaign.objects.create(name="Demo of our own", subject="Hello", status=Campaign.Status.SENT)
    delivery = Delivery.objects.create(
        campaign=real, subscriber=reader, status=Delivery.Status.SENT, sent_at=NOW - timedelta(days=1)
    )
    events_ingest(
        lines=[
            event_queue.event_line(
                kind=event_queue.OPEN,
                delivery_id=delivery.pk,
                head=False,
                ip_hash="",
                user_agent="Thunderbird",
                occurred_ms=int((NOW - timedelta(hours=20)).timestamp() * 1000),
            )
        ]
    )
    demo_seed(lists=lists, now=NOW)
    assert demo_subscribers().count() >= 300
    assert sum(segment.subscribers for segment in audience_figures().segments) >= 300

    outcome = demo_remove()

    assert outcome.campaigns == 2 and outcome.subscribers >= 300
    assert not demo_campaigns().exists() and not demo_subscribers().exists()
    assert set(Subscriber.objects.values_list("email", flat=True)) == {"reader@example.com", "leser@kanal.test"}
    assert list(Campaign.objects.filter(is_template=False)) == [real]
    assert Event.objects.get().delivery == delivery
    assert Subscription.objects.get().subscriber == reader
    assert list(Tag.objects.get(name=DEMO_TAG).subscribers.all()) == [tagged]
    assert not Response.objects.exists() and not ArticleFeedback.objects.exists()
    assert set(MailingList.objects.values_list("slug", flat=True)) == {"news", "product-updates"}
    # The audience page's stored figures forget the demo people too.
    figures = audience_figures()
    assert figures.stored and sum(segment.subscribers for segment in figures.segments) == 2


def test_up_does_not_bring_back_a_removed_demo(lists):
    out = io.StringIO()
    call_command("kanal_bootstrap", stdout=out)
    assert "kanal_demo_remove" in out.getvalue()
    assert demo_campaigns().count() == 2

    call_command("kanal_demo_remove", stdout=io.StringIO())
    call_command("kanal_bootstrap", stdout=out)
    assert not demo_campaigns().exists() and not demo_subscribers().exists()

    call_command("kanal_demo_seed", stdout=io.StringIO())
    assert demo_campaigns().count() == 2
