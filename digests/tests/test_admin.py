"""The feed sources' admin: the last fetch's outcome shown plainly, and "fetch now" run by a worker."""

import pytest
from django.urls import reverse

from digests.models import FeedSource
from digests.tests.factories import FeedSourceFactory, rss
from newsletter_site.testing import staff_login, wait_until

CHANGE = ("digests.view_feedsource", "digests.change_feedsource")


@pytest.mark.django_db
def test_the_list_of_sources_shows_what_went_wrong(client, in_english):
    FeedSourceFactory(
        name="Metadaten",
        last_status=FeedSource.FetchStatus.PRIVATE_ADDRESS,
        last_error="The address leads to a private network (169.254.169.254)",
    )
    FeedSourceFactory(name="Läuft", last_status=FeedSource.FetchStatus.DRAFTED)
    staff_login(client, *CHANGE)
    html = client.get(reverse("admin:digests_feedsource_changelist")).content.decode()
    assert '<strong style="color: var(--error-fg, #ba2121)" data-fetch-status="private_address">' in html
    assert "private address refused</strong><br>The address leads to a private network (169.254.169.254)" in html
    assert '<span data-fetch-status="drafted">new items: digest drafted</span>' in html
    assert "daily at 08:00" in html


@pytest.mark.worker
def test_fetch_now_has_a_worker_fetch_the_feed(client, in_english, feed_server, loopback_allowed, celery_worker_thread):
    feed_server.serve("/feed.xml", rss({"title": "Frisch", "link": "https://blog.example.org/f", "guid": "f"}))
    source = FeedSourceFactory(url=feed_server.url("/feed.xml"))
    staff_login(client, *CHANGE)
    response = client.post(
        reverse("admin:digests_feedsource_changelist"),
        {"action": "fetch_now", "_selected_action": [source.pk]},
        follow=True,
    )
    assert "1 feed is being fetched" in response.content.decode()
    wait_until(lambda: FeedSource.objects.get(pk=source.pk).last_status == "drafted", timeout=30)
    [digest] = source.digests.all()
    assert [article.headline for article in digest.campaign.articles.all()] == ["Frisch"]
    html = client.get(reverse("admin:digests_feedsource_change", args=[source.pk])).content.decode()
    assert "Frisch" in html and reverse("admin:campaigns_campaign_change", args=[digest.campaign.pk]) in html


@pytest.mark.django_db
def test_staff_without_change_permission_cannot_fetch(
    client, feed_server, loopback_allowed, django_capture_on_commit_callbacks
):
    source = FeedSourceFactory(url=feed_server.url("/feed.xml"))
    staff_login(client, "digests.view_feedsource")
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(
            reverse("admin:digests_feedsource_changelist"), {"action": "fetch_now", "_selected_action": [source.pk]}
        )
    assert callbacks == [] and feed_server.hits == []
