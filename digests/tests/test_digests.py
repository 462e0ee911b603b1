"""RSS-to-email: new feed items become a digest campaign, once."""

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.rendering import compile_campaign
from campaigns.tests.factories import SubscriptionFactory
from digests import services
from digests.models import Digest, FeedItem, FeedSource
from digests.tests.factories import FeedSourceFactory, rss
from subscribers.tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db

MARKT = {
    "title": "Wochenmarkt zieht um",
    "link": "https://blog.example.org/markt",
    "guid": "https://blog.example.org/?p=1",
    "description": "&lt;p&gt;Ab &lt;b&gt;Mai&lt;/b&gt; auf dem Platz.&lt;script&gt;alert(1)&lt;/script&gt;&lt;/p&gt;",
    "pubDate": "Mon, 04 May 2026 08:00:00 GMT",
}
TAGS = {
    "title": "Hallo {{ subscriber.email }}",
    "link": "javascript:alert(1)",
    "guid": "tag:blog.example.org,2026:2",
    "description": "Schreib uns: {{ subscriber.email }} oder {% load x %} *wichtig* # 1. [x](y)",
    "pubDate": "Tue, 05 May 2026 08:00:00 GMT",
}
OLD = {
    "title": "Uralt",
    "link": "https://blog.example.org/alt",
    "guid": "tag:blog.example.org,2021:1",
    "pubDate": "Fri, 01 Jan 2021 08:00:00 GMT",
}


@pytest.fixture
def source(feed_server, loopback_allowed):
    feed_server.serve("/feed.xml", rss(MARKT, TAGS, OLD))
    mailing_list = MailingListFactory(slug="kiez", language="de")
    return FeedSourceFactory(url=feed_server.url("/feed.xml"), mailing_list=mailing_list, max_items=2)


def test_new_items_become_articles_of_a_draft_digest(source):
    digest = services.feed_source_fetch(source_id=source.pk)
    campaign = digest.campaign
    assert campaign.status == Campaign.Status.DRAFT
    assert list(campaign.mailing_lists.all()) == [source.mailing_list]
    assert campaign.subject == source.subject and campaign.language == "de"
    newest, markt = campaign.articles.order_by("position")
    # The newest two, newest first; the oldest is left out but remembered.
    assert markt.headline == "Wochenmarkt zieht um" and markt.link_url == "https://blog.example.org/markt"
    assert markt.body == "Ab Mai auf dem Platz."
    assert "{{" not in newest.headline and "subscriber" in newest.headline
    assert newest.link_url == "", "only http(s) links"
    assert "{{" not in newest.body and "{%" not in newest.body
    assert set(FeedItem.objects.filter(source=source).values_list("guid", flat=True)) == {
        "https://blog.example.org/?p=1",
        "tag:blog.example.org,2026:2",
        "tag:blog.example.org,2021:1",
    }
    assert FeedItem.objects.get(title="Uralt").digest is None
    source.refresh_from_db()
    assert source.last_status == FeedSource.FetchStatus.DRAFTED


def test_feed_text_shows_as_text_in_the_mail_never_as_merge_tags_or_markup(source):
    digest = services.feed_source_fetch(source_id=source.pk)
    SubscriptionFactory(mailing_list=source.mailing_list, subscriber__email="greta@example.org")
    compiled = compile_campaign(digest.campaign)
    from campaigns.previews import neutral_recipient

    html = compiled.render(neutral_recipient(digest.campaign)).html
    assert "<script" not in html and "alert(1)" not in html
    assert "Ab <b>Mai</b>" not in html and "Ab Mai auf dem Platz." in html
    assert "*wichtig* # 1. [x](y)" in html, "Markdown in a feed stays literal text"
    assert "Hallo { { subscriber.email } }" in html


def test_a_second_run_with_the_same_items_drafts_nothing(source):
    assert services.feed_source_fetch(source_id=source.pk) is not None
    assert services.feed_source_fetch(source_id=source.pk) is None
    assert Digest.objects.count() == 1 and Campaign.objects.filter(is_template=False).count() == 1
    source.refresh_from_db()
    assert source.last_status == FeedSource.FetchStatus.NO_NEW_ITEMS


def test_only_items_not_seen_before_make_the_next_digest(source, feed_server):
    services.feed_source_fetch(source_id=source.pk)
    new = {"title": "Neu", "link": "https://blog.example.org/neu", "guid": "neu"}
    feed_server.serve("/feed.xml", rss(new, MARKT, TAGS, OLD))
    digest = services.feed_source_fetch(source_id=source.pk)
    assert [article.headline for article in digest.campaign.articles.all()] == ["Neu"]


def test_the_same_items_cannot_be_drafted_twice_in_the_database(source):
    digest = services.feed_source_fetch(source_id=source.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        Digest.objects.create(source=source, items_key=digest.items_key)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_draft_one_digest(source):
    barrier, errors, results = threading.Barrier(3), [], []

    def run():
        try:
            barrier.wait(10)
            results.append(services.feed_source_fetch(source_id=source.pk))
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _number in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len([digest for digest in results if digest is not None]) == 1
    assert Digest.objects.count() == 1 and Campaign.objects.filter(is_template=False).count() == 1


def test_send_mode_sends_the_digest_through_the_pipeline(source, django_capture_on_commit_callbacks):
    SubscriptionFactory(mailing_list=source.mailing_list)
    FeedSource.objects.filter(pk=source.pk).update(mode=FeedSource.Mode.SEND)
    with django_capture_on_commit_callbacks(execute=False):
        digest = services.feed_source_fetch(source_id=source.pk)
    digest.campaign.refresh_from_db()
    assert digest.campaign.status == Campaign.Status.SENDING
    assert digest.campaign.deliveries.count() == 1
    source.refresh_from_db()
    assert source.last_status == FeedSource.FetchStatus.SENT


@pytest.mark.parametrize(
    ("subject", "first_name", "reason"),
    [
        ("Neu im Blog", None, "Nobody would get this campaign"),  # a blocking item: nobody to send to
        # A warning needs a person to confirm it; a digest sent unattended never does.
        ("Neu für {{ subscriber.first_name }}", "", "Some recipients have no value for a merge tag"),
    ],
)
def test_send_mode_leaves_a_draft_when_the_checklist_objects(source, in_english, subject, first_name, reason):
    if first_name is not None:
        SubscriptionFactory(mailing_list=source.mailing_list, subscriber__first_name=first_name)
    FeedSource.objects.filter(pk=source.pk).update(mode=FeedSource.Mode.SEND, subject=subject)
    digest = services.feed_source_fetch(source_id=source.pk)
    digest.campaign.refresh_from_db()
    assert digest.campaign.status == Campaign.Status.DRAFT
    assert not digest.campaign.deliveries.exists()
    source.refresh_from_db()
    assert source.last_status == FeedSource.FetchStatus.HELD
    assert reason in source.last_error


BERLIN = ZoneInfo("Europe/Berlin")


def at(*args):
    return datetime.datetime(*args, tzinfo=BERLIN)


def test_a_source_runs_once_per_scheduled_time(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    daily = FeedSourceFactory(time_of_day=datetime.time(8, 0))
    weekly = FeedSourceFactory(
        frequency=FeedSource.Frequency.WEEKLY, weekday=FeedSource.Weekday.WEDNESDAY, time_of_day=datetime.time(9, 30)
    )
    FeedSource.objects.update(created_at=at(2026, 5, 1, 12, 0))  # a Friday
    FeedSourceFactory(is_active=False)
    assert services.sources_claim_due(now=at(2026, 5, 2, 7, 59)) == [], "new sources wait for their first time"
    assert services.sources_claim_due(now=at(2026, 5, 2, 8, 0)) == [daily.pk]
    assert services.sources_claim_due(now=at(2026, 5, 2, 20, 0)) == []
    assert services.sources_claim_due(now=at(2026, 5, 6, 9, 29)) == [daily.pk]  # Wednesday
    assert services.sources_claim_due(now=at(2026, 5, 6, 9, 30)) == [weekly.pk]
    assert services.sources_claim_due(now=at(2026, 5, 12, 23, 0)) == [daily.pk]
    assert services.sources_claim_due(now=at(2026, 5, 13, 10, 0)) == [daily.pk, weekly.pk]
    daily.refresh_from_db()
    assert daily.last_slot_at == at(2026, 5, 13, 8, 0)


def test_a_source_created_after_todays_time_starts_tomorrow(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    source = FeedSourceFactory(time_of_day=datetime.time(8, 0))
    FeedSource.objects.update(created_at=at(2026, 5, 1, 12, 0))
    assert services.sources_claim_due(now=at(2026, 5, 1, 13, 0)) == []
    assert services.sources_claim_due(now=timezone.now()) == [source.pk]


def test_inert_text_breaks_every_tag_opening():
    for text in ("{{", "}}", "{%", "%}", "{#", "#}", "{{{ x }}}", "a {{ subscriber.email }} b"):
        spaced = services.inert_text(text)
        assert not any(pair in spaced for pair in ("{{", "}}", "{%", "%}", "{#", "#}")), spaced


def test_a_digest_that_cannot_be_made_is_reported_and_tried_again_next_time(source, in_english):
    FeedSource.objects.filter(pk=source.pk).update(subject="Neu {% if x %}")  # saved before a rule changed
    assert services.feed_source_fetch(source_id=source.pk) is None
    source.refresh_from_db()
    assert source.last_status == FeedSource.FetchStatus.ERROR
    assert source.last_error.startswith("The digest could not be made: ")
    assert not FeedItem.objects.exists() and not Campaign.objects.filter(is_template=False).exists(), "nothing kept"
    FeedSource.objects.filter(pk=source.pk).update(subject="Neu")
    assert services.feed_source_fetch(source_id=source.pk) is not None


def test_an_external_entity_in_a_feed_reads_no_file_of_the_worker(feed_server, loopback_allowed, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("GEHEIMNIS")
    feed_server.serve(
        "/xxe.xml",
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>B</title><item><title>Host: &x;</title>'
        "<link>https://blog.example.org/x</link><guid>x</guid></item></channel></rss>",
    )
    source = FeedSourceFactory(url=feed_server.url("/xxe.xml"))
    digest = services.feed_source_fetch(source_id=source.pk)
    [article] = digest.campaign.articles.all()
    assert article.link_url == "https://blog.example.org/x"
    assert "GEHEIMNIS" not in article.headline
