"""Retention: old raw events go once counted, and every figure reads the same afterwards."""

import json
import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from api.tests.conftest import call, make_key
from audience.selectors import segment_members
from audience.tests.factories import leaf
from campaigns.models import Delivery
from subscribers.services.gdpr import subscriber_export
from surveys.models import Response
from surveys.tests.factories import SurveyFactory
from tracking import selectors
from tracking.models import DeliveryRead, Event, SubscriberEngagement
from tracking.selectors.campaigns import delivery_read_by_person
from tracking.services.consent import subscriber_events_forget
from tracking.services.engagement import engagement_refresh
from tracking.services.retention import events_expire
from tracking.tests.conftest import hit, process, urls_for
from tracking.tests.factories import DeliveryFactory, SubscriberFactory
from tracking.tests.test_analytics_pages import CAMPAIGN_TABLES, csv_of
from tracking.tests.test_machines import APPLE_PROXY, store
from tracking.tests.test_user_agents import IPHONE_MAIL, OUTLOOK

pytestmark = pytest.mark.django_db


def after_retention(settings, days_later: int = 1):
    """A moment at which every event stored so far is past the retention period."""
    return timezone.now() + timedelta(days=settings.KANAL_EVENT_RETENTION_DAYS + days_later)


@pytest.fixture
def history(client, campaign):
    """A campaign read over two weeks: people, an anonymous reader, machines, a survey answer."""
    start = timezone.now() - timedelta(days=20)
    campaign.campaign.started_at = start
    campaign.campaign.save()
    people = {
        name: DeliveryFactory(
            campaign=campaign.campaign,
            subscriber=SubscriberFactory(email=f"{name}@{domain}", tracking_consent=consent),
            sent_at=start,
        )
        for name, domain, consent in (
            ("ana", "web.de", True),
            ("ben", "web.de", True),
            ("cem", "gmx.de", True),
            ("dora", "gmx.de", False),
        )
    }
    ana, ben, cem, dora = people.values()
    links = campaign.link_ids
    at = start + timedelta(hours=1)
    store("o", delivery=ana, at=at, user_agent=IPHONE_MAIL)
    store("c", delivery=ana, link=links[0], at=at + timedelta(minutes=1), user_agent=IPHONE_MAIL)
    store("o", delivery=ana, at=at + timedelta(days=2), user_agent=OUTLOOK)
    store("c", delivery=ana, link=links[0], at=at + timedelta(days=2, minutes=5), user_agent=OUTLOOK)
    store("c", delivery=ana, link=links[3], at=at + timedelta(days=9), user_agent=OUTLOOK, ip="198.51.100.21")
    store("o", delivery=ben, at=at + timedelta(hours=5), user_agent=OUTLOOK)
    store("c", delivery=ben, link=links[3], at=at + timedelta(hours=5, minutes=2), user_agent=OUTLOOK)
    store("o", delivery=cem, at=at + timedelta(minutes=3), user_agent=APPLE_PROXY)  # image proxy
    store("c", delivery=cem, link=links[1], at=at + timedelta(minutes=4), head=True)  # scanner
    store("o", delivery=dora, at=at + timedelta(days=3), user_agent=OUTLOOK)
    store("c", delivery=dora, link=links[3], at=at + timedelta(days=3, minutes=1), user_agent=OUTLOOK)
    # And some through the endpoints, now.
    hit(client, urls_for(campaign, ben)[0], user_agent=IPHONE_MAIL)
    hit(client, urls_for(campaign, cem)[1][2], user_agent=IPHONE_MAIL)
    survey = SurveyFactory(title="Wie war's?", campaign=campaign.campaign)
    Response.objects.create(survey=survey, source=Response.Source.choices[0][0], delivery_id=ana.pk)
    process()
    assert Event.objects.filter(is_machine=True).count() == 2
    return campaign, people


def figures(client, campaign, people) -> dict:
    """Every figure the analytics pages, the REST API, segments and automations read."""
    user = get_user_model().objects.get_or_create(username="analyst", defaults={"is_staff": True})[0]
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_campaign", "view_subscriber"]))
    client.force_login(user)
    pk = campaign.campaign.pk
    pages = {
        (slug, machines): csv_of(client.get(reverse("tracking:analytics_campaign_csv", args=[pk, slug]) + machines))
        for slug in CAMPAIGN_TABLES
        for machines in ("", "?machines=1")
    }
    pages["list"] = csv_of(client.get(reverse("tracking:analytics_campaigns_csv")))
    pages["audience"] = csv_of(client.get(reverse("tracking:analytics_audience_csv", args=["segments"])))
    key = make_key(["campaigns:read"])
    stats = f"/api/v1/campaigns/{pk}/stats"
    rest = [call(client, "get", stats + query, key).json() for query in ("", "?include=machine")]
    selected = {
        "funnel": [selectors.campaign_funnel(campaign=campaign.campaign, machines=m) for m in (False, True)],
        "articles": selectors.campaign_articles(campaign=campaign.campaign),
        "links": selectors.campaign_links(campaign=campaign.campaign, machines=True),
        "hours": selectors.campaign_hours(campaign=campaign.campaign, machines=True),
        "clients": selectors.campaign_clients(campaign=campaign.campaign, machines=True),
        "domains": selectors.campaign_domains(campaign=campaign.campaign),
        "machines": selectors.machine_share(campaign=campaign.campaign),
    }
    link, article = campaign.link_ids[3], campaign.campaign.articles.get(position=1).pk
    segments = {
        json.dumps(rules): sorted(segment_members(rules).values_list("email", flat=True))
        for machine in (False, True)
        for rules in (
            leaf("opened_campaign", campaign=pk, include_machine=machine),
            leaf("not_opened_campaign", campaign=pk, include_machine=machine),
            leaf("clicked_campaign", campaign=pk, include_machine=machine),
            leaf("clicked_article", article=article, include_machine=machine),
            leaf("clicked_link", link=link, include_machine=machine),
            leaf("read_recently", action="clicked", days=15, include_machine=machine),
            leaf("read_recently", action="opened", days=30, include_machine=machine),
        )
    }
    engagement_refresh()
    engagement = sorted(SubscriberEngagement.objects.values_list("subscriber__email", "score", "last_interaction_at"))
    read = {
        (name, action): delivery_read_by_person(delivery_id=delivery.pk, action=action)
        for name, delivery in people.items()
        for action in ("opened", "clicked")
    }
    return {
        "pages": pages,
        "rest": rest,
        "selectors": selected,
        "segments": segments,
        "engagement": engagement,
        "read": read,
    }


def test_analytics_stay_exact_after_retention(client, history, settings):
    campaign, people = history
    before = figures(client, campaign, people)
    funnel = before["selectors"]["funnel"][0]
    assert (funnel.unique_opens, funnel.unique_clicks, funnel.machine_opens, funnel.machine_clicks) == (2, 3, 1, 1)
    assert before["read"][("cem", "opened")], "a click counts as an open, the proxy's open does not"
    assert not before["read"][("dora", "opened")], "anonymous"
    assert before["segments"][json.dumps(leaf("clicked_link", link=campaign.link_ids[3], include_machine=False))] == [
        "ana@web.de",
        "ben@web.de",
    ]

    outcome = events_expire(now=after_retention(settings))

    assert outcome.deleted == 13 and not Event.objects.exists()
    assert figures(client, campaign, people) == before


def test_a_late_event_after_retention_is_no_first_open_or_click_again(client, history, settings):
    campaign, people = history
    funnel = selectors.campaign_funnel(campaign=campaign.campaign)
    events_expire(now=after_retention(settings))

    hit(client, urls_for(campaign, people["ana"])[0])
    hit(client, urls_for(campaign, people["ana"])[1][0])
    process()

    later = selectors.campaign_funnel(campaign=campaign.campaign)
    assert (later.opens, later.clicks) == (funnel.opens + 1, funnel.clicks + 1)
    assert (later.unique_opens, later.unique_clicks) == (funnel.unique_opens, funnel.unique_clicks)
    first_article = selectors.campaign_articles(campaign=campaign.campaign)[0]
    assert (first_article.clicks, first_article.unique_clicks) == (3, 1)


def test_uncounted_events_are_never_deleted(campaign, reader, settings):
    old = timezone.now() - timedelta(days=settings.KANAL_EVENT_RETENTION_DAYS + 30)
    store("o", delivery=reader, at=old)
    store("o", delivery=reader, at=old + timedelta(days=1))
    assert events_expire(now=timezone.now()).deleted == 0

    process()
    # A counted event next to an uncounted one stays too: labelling the uncounted one reads it.
    store("c", delivery=reader, link=campaign.link_ids[0], at=old + timedelta(days=2))
    assert events_expire(now=timezone.now()).deleted == 2
    assert list(Event.objects.values_list("counted", flat=True)) == [False]


def test_expiry_goes_in_batches_and_a_second_run_finds_nothing(campaign, reader, settings, caplog):
    old = timezone.now() - timedelta(days=settings.KANAL_EVENT_RETENTION_DAYS + 1)
    Delivery.objects.filter(pk=reader.pk).update(sent_at=old - timedelta(days=1))
    # Batches of two by primary key: the second moves the trace forward, the third must not move it back.
    for minute in (2, 4, 0, 1, 3):
        store("o", delivery=reader, at=old - timedelta(minutes=minute))
    store("o", delivery=reader, at=timezone.now() - timedelta(days=1))
    process()

    with caplog.at_level(logging.INFO, logger="tracking.services.retention"):
        outcome = events_expire(batch_size=2)

    assert (outcome.deleted, outcome.batches) == (5, 3)
    assert [record.args[0] for record in caplog.records] == [2, 4, 5]
    assert Event.objects.count() == 1
    read = DeliveryRead.objects.get()
    assert (read.delivery, read.kind, read.is_machine) == (reader, "open", False)
    assert abs(read.occurred_at - old) < timedelta(seconds=1), "the latest of the expired opens"
    assert events_expire(batch_size=2).deleted == 0
    assert DeliveryRead.objects.count() == 1


def test_zero_days_keeps_every_event(campaign, reader, settings):
    settings.KANAL_EVENT_RETENTION_DAYS = 0
    store("o", delivery=reader, at=timezone.now() - timedelta(days=3650))
    process()
    outcome = events_expire(now=timezone.now() + timedelta(days=3650))
    assert (outcome.cutoff, outcome.deleted) == (None, 0)
    assert Event.objects.count() == 1


def test_withdrawn_consent_deletes_what_expired_events_left(client, history, settings):
    _campaign, people = history
    events_expire(now=after_retention(settings))
    ana = people["ana"].subscriber
    assert subscriber_export(subscriber=ana)["tracking_expired_events"]

    subscriber_events_forget(subscriber_id=ana.pk)

    assert not DeliveryRead.objects.filter(delivery__subscriber=ana).exists()
    assert DeliveryRead.objects.filter(delivery__subscriber=people["ben"].subscriber).exists()
    assert not delivery_read_by_person(delivery_id=people["ana"].pk, action="opened")


def test_management_command_reports_what_it_deleted(campaign, reader, settings):
    store("o", delivery=reader, at=timezone.now() - timedelta(days=settings.KANAL_EVENT_RETENTION_DAYS + 1))
    process()
    out = []
    call_command("kanal_expire_events", "--batch-size", "10", stdout=type("Out", (), {"write": out.append})())
    assert "Deleted 1 events" in out[0]
    assert not Event.objects.exists() and Delivery.objects.filter(pk=reader.pk).exists()
