"""Fetching a feed from a URL staff typed in: only http(s), only public addresses, a deadline, a size limit."""

import time

import pytest

from digests.models import FeedSource
from digests.services import feed_source_fetch
from digests.tests.factories import FeedSourceFactory, rss
from newsletter_site import outbound
from subscribers.tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db

FEED = rss({"title": "Hallo", "link": "https://blog.example.org/hallo", "guid": "hallo"})


def fetch(url, **limits):
    return outbound.fetch(url, **{"max_bytes": 100_000, "timeout": 5, **limits})


def test_by_default_a_loopback_address_is_refused_before_connecting(feed_server, settings):
    assert settings.KANAL_OUTBOUND_ALLOWED_NETWORKS == [], "the default blocks"
    feed_server.serve("/feed.xml", FEED)
    for url in (feed_server.url("/feed.xml"), f"http://localhost:{feed_server.port}/feed.xml"):
        with pytest.raises(outbound.PrivateAddress):
            fetch(url)
    assert feed_server.hits == [], "nothing reached the server"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/feed",
        "http://192.168.0.1/feed",
        "http://[::1]/feed",
        "http://[::ffff:10.1.2.3]/feed",
        "http://0.0.0.0/feed",
        "http://100.64.0.1/feed",
    ],
)
def test_private_link_local_and_loopback_addresses_are_refused(url, loopback_allowed):
    with pytest.raises(outbound.PrivateAddress):
        fetch(url)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/feed", "gopher://example.org/", "http://user:pw@example.org/"]
)
def test_only_http_and_https_urls_are_fetched(url):
    with pytest.raises(outbound.BadUrl):
        fetch(url)


def test_the_test_exemption_lets_the_local_server_through(feed_server, loopback_allowed):
    feed_server.serve("/feed.xml", FEED)
    fetched = fetch(feed_server.url("/feed.xml"))
    assert fetched.content == FEED.encode() and fetched.content_type == "application/rss+xml"


def test_a_redirect_to_a_private_address_is_refused(feed_server, loopback_allowed):
    feed_server.redirect("/feed.xml", "http://169.254.169.254/latest/meta-data/")
    with pytest.raises(outbound.PrivateAddress):
        fetch(feed_server.url("/feed.xml"))
    source = FeedSourceFactory(url=feed_server.url("/feed.xml"))
    assert feed_source_fetch(source_id=source.pk) is None
    source.refresh_from_db()
    assert source.last_status == FeedSource.FetchStatus.PRIVATE_ADDRESS
    assert "169.254.169.254" in source.last_error


def test_a_redirect_to_a_public_path_is_followed(feed_server, loopback_allowed):
    feed_server.serve("/feed.xml", FEED)
    feed_server.redirect("/old", "/feed.xml", status=301)
    assert fetch(feed_server.url("/old")).url == feed_server.url("/feed.xml")
    feed_server.redirect("/loop", "/loop")
    with pytest.raises(outbound.HttpError):
        fetch(feed_server.url("/loop"))


def test_a_body_larger_than_the_limit_is_refused(feed_server, loopback_allowed, settings):
    feed_server.serve("/declared.xml", b"x" * 20_000)
    with pytest.raises(outbound.TooBig):
        fetch(feed_server.url("/declared.xml"), max_bytes=10_000)
    feed_server.endless("/endless.xml")  # no Content-Length: reading stops at the limit
    started = time.monotonic()
    with pytest.raises(outbound.TooBig):
        fetch(feed_server.url("/endless.xml"), max_bytes=200_000)
    assert time.monotonic() - started < 3
    settings.KANAL_FEED_MAX_BYTES = 10_000
    source = FeedSourceFactory(url=feed_server.url("/endless.xml"))
    feed_source_fetch(source_id=source.pk)
    source.refresh_from_db()
    assert source.last_status == FeedSource.FetchStatus.TOO_BIG


def test_a_server_that_trickles_meets_the_deadline(feed_server, loopback_allowed, settings, in_english):
    feed_server.trickle("/slow.xml", interval=0.2)
    started = time.monotonic()
    with pytest.raises(outbound.FetchTimeout):
        fetch(feed_server.url("/slow.xml"), timeout=1)
    assert time.monotonic() - started < 2.5, "one deadline for the whole fetch, not per read"
    settings.KANAL_FEED_TIMEOUT_SECONDS = 1
    source = FeedSourceFactory(url=feed_server.url("/slow.xml"))
    feed_source_fetch(source_id=source.pk)
    source.refresh_from_db()
    assert source.last_status == FeedSource.FetchStatus.TIMEOUT
    assert source.last_error == "The server did not answer in time."


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (500, "kaputt", FeedSource.FetchStatus.HTTP_ERROR),
        (200, "<html><body><p>Keine Feeds hier</p></body></html>", FeedSource.FetchStatus.NOT_A_FEED),
    ],
)
def test_errors_and_non_feeds_are_recorded_on_the_source(feed_server, loopback_allowed, status, body, outcome):
    feed_server.serve("/feed.xml", body, status=status, content_type="text/html")
    source = FeedSourceFactory(url=feed_server.url("/feed.xml"))
    assert feed_source_fetch(source_id=source.pk) is None
    source.refresh_from_db()
    assert source.last_status == outcome and source.last_fetched_at is not None
    assert not source.digests.exists()


def test_a_host_that_does_not_exist_is_a_bad_url():
    source = FeedSourceFactory(url="https://feed.invalid/rss")
    feed_source_fetch(source_id=source.pk)
    source.refresh_from_db()
    assert source.last_status == FeedSource.FetchStatus.BAD_URL


def test_the_admin_form_takes_only_http_and_https_feed_urls():
    from django.core.exceptions import ValidationError

    source = FeedSourceFactory.build(url="ftp://example.org/feed.xml", mailing_list=MailingListFactory())
    with pytest.raises(ValidationError) as error:
        source.full_clean()
    assert "url" in error.value.message_dict
