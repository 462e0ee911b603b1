"""Registering a campaign's links: one stored row per link slot, ids in the compiled order, safe to repeat."""

import threading

import pytest
from django.db import connection

from campaigns.rendering import compile_campaign
from tracking import event_queue
from tracking.models import TrackedLink
from tracking.services import campaign_links_register
from tracking.tests.factories import ArticleFactory, CampaignFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    campaign = CampaignFactory()
    ArticleFactory(campaign=campaign, position=0, link_url="https://example.org/a", body="[x](https://example.org/x)")
    ArticleFactory(campaign=campaign, position=1, link_url="https://example.org/b", body="")
    return campaign


def test_each_compiled_link_gets_a_row_with_its_article_position_kind_and_target(newsletter):
    compiled = compile_campaign(newsletter)

    ids = campaign_links_register(campaign=newsletter, compiled=compiled)

    rows = TrackedLink.objects.in_bulk(ids)
    assert [(str(rows[pk].article_public_id), rows[pk].position, rows[pk].kind, rows[pk].url) for pk in ids] == [
        (link.article_public_id, link.position, link.kind, link.url) for link in compiled.links
    ]
    first, second = newsletter.articles.order_by("position")
    assert [rows[pk].article_id for pk in ids] == [first.pk] * 3 + [second.pk] * 2


def test_registering_again_returns_the_same_ids_with_one_query(newsletter, django_assert_num_queries):
    compiled = compile_campaign(newsletter)
    ids = campaign_links_register(campaign=newsletter, compiled=compiled)

    with django_assert_num_queries(1):
        assert campaign_links_register(campaign=newsletter, compiled=compiled) == ids
    assert TrackedLink.objects.count() == len(ids)


def test_links_already_there_keep_their_target_and_the_rest_are_added(newsletter):
    compiled = compile_campaign(newsletter)
    first = compiled.links[0]
    existing = TrackedLink.objects.create(
        campaign=newsletter,
        article_public_id=first.article_public_id,
        position=first.position,
        kind=first.kind,
        url=first.url,
    )

    ids = campaign_links_register(campaign=newsletter, compiled=compiled)

    assert ids[0] == existing.pk
    assert len(set(ids)) == len(compiled.links) == TrackedLink.objects.count()


def test_registration_copies_targets_to_redis_for_redirects_without_the_database(newsletter):
    ids = campaign_links_register(campaign=newsletter, compiled=compile_campaign(newsletter))
    assert event_queue.link_target_from_redis(ids[0]) == "https://example.org/a"


def test_a_campaign_without_links_registers_nothing(django_assert_num_queries):
    campaign = CampaignFactory()
    ArticleFactory(campaign=campaign, link_url="", body="Nur Text.", cta_text="")
    compiled = compile_campaign(campaign)
    with django_assert_num_queries(0):
        assert campaign_links_register(campaign=campaign, compiled=compiled) == []


@pytest.mark.django_db(transaction=True)
def test_workers_registering_at_once_agree_on_the_ids():
    campaign = CampaignFactory()
    for position in range(3):
        ArticleFactory(campaign=campaign, position=position, body="")
    compiled = compile_campaign(campaign)
    results, errors = [], []

    def register():
        try:
            results.append(campaign_links_register(campaign=campaign, compiled=compiled))
        except Exception as error:  # the assertion below shows it
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=register) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert len(results) == 4 and all(result == results[0] for result in results)
    assert TrackedLink.objects.count() == len(compiled.links)
