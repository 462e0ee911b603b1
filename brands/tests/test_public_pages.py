"""Public pages of a list wear the list's brand: its logo and its primary colour."""

import pytest
from django.urls import reverse

from brands.tests.factories import BrandFactory
from subscribers.tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def branded_list():
    brand = BrandFactory(name="Beispiel", logo_url="https://cdn.beispiel.example/logo.png", primary_color="#aa0055")
    return MailingListFactory(brand=brand, is_public=True)


@pytest.mark.parametrize("page", ["subscribers:subscribe", "campaigns:list_archive"])
def test_a_list_page_shows_the_list_brand(client, branded_list, page):
    response = client.get(reverse(page, kwargs={"slug": branded_list.slug}))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<img src="https://cdn.beispiel.example/logo.png" alt="Beispiel"' in html
    assert "--kanal-primary: #aa0055;" in html and 'class="bg-light branded"' in html
    assert "/static/brands/brand.css" in html
    # What the page adds stays within its Content-Security-Policy.
    policy = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "img-src 'self' data: https:" in policy


def test_a_list_without_a_brand_shows_the_default_brand_without_a_logo(client):
    mailing_list = MailingListFactory(is_public=True)
    html = client.get(reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug})).content.decode()
    assert "--kanal-primary: #1d4ed8;" in html and "data-brand-logo" not in html


def test_a_page_of_no_list_stays_plain(client):
    html = client.get("/").content.decode()
    assert "--kanal-primary" not in html and "branded" not in html
