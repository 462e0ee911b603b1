"""A public list's archive index and its RSS and Atom feeds."""

import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def archive(settings):
    """A public list with one campaign in its archive and every kind that must stay out of it."""
    settings.SITE_URL = "https://news.example.org"
    kiez = MailingListFactory(name="Kiezbrief", slug="kiez", public_description="Was im Kiez los ist.")
    other = MailingListFactory(name="Bücher", slug="buecher")
    SubscriptionFactory(mailing_list=kiez, subscriber__first_name="Greta", subscriber__email="greta@example.org")
    public = CampaignFactory(
        subject='Hallo {{ subscriber.first_name|default:"Nachbarin" }}, der Kiez im Mai',
        preheader='Was {{ subscriber.first_name|default:"du" }} wissen musst',
        status=Campaign.Status.SENT,
        started_at=timezone.now() - timedelta(days=1),
        archive_enabled=True,
        mailing_lists=[kiez],
    )
    ArticleFactory(campaign=public, link_url="https://example.org/markt")
    hidden = [
        CampaignFactory(subject="Noch ein Entwurf", archive_enabled=True, mailing_lists=[kiez]),
        CampaignFactory(subject="Nicht öffentlich", status=Campaign.Status.SENT, mailing_lists=[kiez]),
        CampaignFactory(
            subject="Andere Liste", status=Campaign.Status.SENT, archive_enabled=True, mailing_lists=[other]
        ),
        CampaignFactory(
            subject="Abgebrochen", status=Campaign.Status.CANCELLED, archive_enabled=True, mailing_lists=[kiez]
        ),
        CampaignFactory(
            subject="Willkommensmail",
            kind=Campaign.Kind.AUTOMATION,
            status=Campaign.Status.SENDING,
            archive_enabled=True,
            mailing_lists=[kiez],
        ),
    ]
    return kiez, public, hidden


def index_url(slug="kiez"):
    return reverse("campaigns:list_archive", kwargs={"slug": slug})


def test_the_archive_index_shows_only_the_lists_public_campaigns(client, archive, in_english):
    _kiez, public, hidden = archive
    response = client.get(index_url())
    html = response.content.decode()
    assert response.status_code == 200
    archive_page = reverse("campaigns:archive", kwargs={"archive_id": public.archive_id})
    assert re.search(rf'<a href="{archive_page}">Hallo Nachbarin, der Kiez im Mai</a>', html)
    for campaign in hidden:
        assert str(campaign.archive_id) not in html and campaign.subject not in html
    assert "Greta" not in html


def test_the_archive_index_links_its_feeds_for_feed_readers(client, archive, in_english):
    html = client.get(index_url()).content.decode()
    rss = reverse("campaigns:list_archive_rss", kwargs={"slug": "kiez"})
    atom = reverse("campaigns:list_archive_atom", kwargs={"slug": "kiez"})
    assert re.search(rf'<link rel="alternate" type="application/rss\+xml" title="[^"]*" href="{rss}">', html)
    assert re.search(rf'<link rel="alternate" type="application/atom\+xml" title="[^"]*" href="{atom}">', html)


def test_a_list_that_is_not_public_has_no_archive_index_and_no_feeds(client):
    MailingListFactory(slug="intern", is_public=False)
    for name in ("list_archive", "list_archive_rss", "list_archive_atom"):
        assert client.get(reverse(f"campaigns:{name}", kwargs={"slug": "intern"})).status_code == 404
    assert client.get(index_url("gibt-es-nicht")).status_code == 404


def test_the_archive_index_is_paginated_newest_first(client, in_english):
    kiez = MailingListFactory(slug="kiez")
    start = timezone.now() - timedelta(days=100)
    for day in range(23):
        CampaignFactory(
            subject=f"Ausgabe {day:02d}",
            status=Campaign.Status.SENT,
            started_at=start + timedelta(days=day),
            archive_enabled=True,
            mailing_lists=[kiez],
        )
    first = client.get(index_url()).content.decode()
    subjects = re.findall(r"Ausgabe \d\d", first)
    assert subjects == [f"Ausgabe {day:02d}" for day in range(22, 2, -1)]
    assert 'href="?page=2" rel="next"' in first and "Page 1 of 2" in first
    second = client.get(index_url(), {"page": 2}).content.decode()
    assert re.findall(r"Ausgabe \d\d", second) == ["Ausgabe 02", "Ausgabe 01", "Ausgabe 00"]
    assert 'href="?page=1" rel="prev"' in second
    assert re.findall(r"Ausgabe \d\d", client.get(index_url(), {"page": "x"}).content.decode()) == subjects


def test_the_front_page_links_each_lists_archive_index_and_feeds(client, archive, in_english):
    html = client.get("/").content.decode()
    assert f'<a href="{index_url()}">All issues in the archive</a>' in html
    assert f'href="{reverse("campaigns:list_archive_rss", kwargs={"slug": "kiez"})}"' in html
    assert 'type="application/atom+xml"' in html


def _no_personal_data_or_tokens(body: str, archive_url: str):
    assert "Greta" not in body and "greta@example.org" not in body
    assert "/t/c/" not in body and "/t/o/" not in body
    urls = set(re.findall(r"https?://[^\s\"<>]+", body))
    allowed_prefixes = ("https://news.example.org/lists/kiez/archive/", archive_url)
    assert {url for url in urls if not url.startswith(allowed_prefixes)} <= {
        "http://www.w3.org/2005/Atom",
    }, "a feed links only the archive (no tracking, no personal links)"


def test_the_rss_feed_is_valid_xml_with_the_public_campaigns(client, archive):
    _kiez, public, hidden = archive
    response = client.get(reverse("campaigns:list_archive_rss", kwargs={"slug": "kiez"}))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/rss+xml")
    body = response.content.decode()
    channel = ElementTree.fromstring(response.content).find("channel")  # noqa: S314 (our own output)
    assert channel.findtext("title") == "Kiezbrief"
    assert channel.findtext("link") == "https://news.example.org" + index_url()
    archive_url = f"https://news.example.org/archive/{public.archive_id}/"
    [item] = channel.findall("item")
    assert item.findtext("title") == "Hallo Nachbarin, der Kiez im Mai"
    assert item.findtext("description") == "Was du wissen musst"
    assert item.findtext("link") == archive_url
    assert item.findtext("guid") == archive_url
    for campaign in hidden:
        assert campaign.subject not in body
    _no_personal_data_or_tokens(body, archive_url)


def test_the_atom_feed_is_valid_xml_with_the_public_campaigns(client, archive):
    _kiez, public, _hidden = archive
    response = client.get(reverse("campaigns:list_archive_atom", kwargs={"slug": "kiez"}))
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = ElementTree.fromstring(response.content)  # noqa: S314 (our own output)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}subtitle") == "Was im Kiez los ist."
    archive_url = f"https://news.example.org/archive/{public.archive_id}/"
    [entry] = feed.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "Hallo Nachbarin, der Kiez im Mai"
    assert entry.find(f"{ATOM}link").get("href") == archive_url
    assert entry.findtext(f"{ATOM}id") == archive_url
    _no_personal_data_or_tokens(response.content.decode(), archive_url)
