"""Brands: the default brand, validation, which brand a list or campaign uses, the admin."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.urls import reverse

from brands.models import Brand, Layout
from brands.selectors import brand_for_campaign, brand_for_list, default_brand
from brands.services import brand_make_default, brand_save
from brands.tests.factories import VALID_LAYOUT, BrandFactory, SocialLinkFactory
from campaigns.tests.factories import CampaignFactory, MailingListFactory
from newsletter_site.testing import staff_login

pytestmark = pytest.mark.django_db


def test_the_migration_made_a_default_brand_from_the_settings(settings):
    brand = default_brand()
    assert brand.pk is not None and Brand.objects.filter(is_default=True).count() == 1
    assert brand.company_address == settings.KANAL_COMPANY_ADDRESS
    assert (brand.imprint_url, brand.privacy_url) == (settings.KANAL_IMPRINT_URL, settings.KANAL_PRIVACY_URL)
    assert (brand.primary_color, brand.background_color, brand.text_color) == ("#1d4ed8", "#f3f4f6", "#1f2933")


def test_making_a_brand_the_default_leaves_exactly_one_default():
    old = default_brand()
    new = brand_make_default(brand=BrandFactory())
    assert list(Brand.objects.filter(is_default=True)) == [new]
    old.refresh_from_db()
    assert not old.is_default


def test_the_database_refuses_a_second_default():
    with pytest.raises(IntegrityError), transaction.atomic():
        BrandFactory(is_default=True)


def test_the_first_brand_saved_becomes_the_default():
    Brand.objects.all().delete()
    brand = brand_save(brand=BrandFactory.build())
    assert brand.is_default
    second = brand_save(brand=BrandFactory.build())
    assert not second.is_default


@pytest.mark.parametrize("colour", ["red", "#12345", "#1234567", "#ggg000", "1d4ed8"])
def test_colours_must_be_rrggbb(colour, in_english):
    brand = BrandFactory.build(primary_color=colour)
    with pytest.raises(ValidationError) as error:
        brand.full_clean()
    assert "Enter a colour as #rrggbb, for example #1d4ed8." in error.value.message_dict["primary_color"]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://files.example/x", "mailto:a@example.org"])
def test_social_links_and_legal_addresses_must_be_web_addresses(url):
    link = SocialLinkFactory.build(brand=BrandFactory(), url=url)
    with pytest.raises(ValidationError, match="url"):
        link.full_clean()
    with pytest.raises(ValidationError, match="imprint_url"):
        BrandFactory.build(imprint_url=url).full_clean()


def test_a_list_uses_its_brand_or_the_default():
    brand = BrandFactory()
    assert brand_for_list(MailingListFactory(brand=brand)) == brand
    assert brand_for_list(MailingListFactory()) == default_brand()


def test_a_campaign_uses_its_brand_then_its_lists_brand_then_the_default():
    list_brand, campaign_brand = BrandFactory(), BrandFactory()
    plain, branded = MailingListFactory(), MailingListFactory(brand=list_brand)
    assert brand_for_campaign(CampaignFactory(mailing_lists=[plain])) == default_brand()
    assert brand_for_campaign(CampaignFactory(mailing_lists=[plain, branded])) == list_brand
    assert brand_for_campaign(CampaignFactory(mailing_lists=[branded], brand=campaign_brand)) == campaign_brand


def test_a_brand_in_use_cannot_be_deleted():
    brand = BrandFactory()
    MailingListFactory(brand=brand)
    with pytest.raises(ProtectedError):
        brand.delete()


def test_staff_edit_a_brand_with_social_links_in_the_admin(client):
    staff_login(client, "brands.add_brand", "brands.change_brand", "brands.add_sociallink")
    response = client.post(
        reverse("admin:brands_brand_add"),
        {
            "name": "Beispiel",
            "logo_url": "https://cdn.example/logo.png",
            "logo_width": "120",
            "primary_color": "#aa0055",
            "accent_color": "#00aa55",
            "background_color": "#ffffff",
            "text_color": "#000000",
            "font": "verdana",
            "company_address": "Beispiel AG",
            "imprint_url": "https://beispiel.example/impressum",
            "privacy_url": "https://beispiel.example/datenschutz",
            "social_links-TOTAL_FORMS": "1",
            "social_links-INITIAL_FORMS": "0",
            "social_links-0-platform": "mastodon",
            "social_links-0-url": "https://social.example/@beispiel",
            "social_links-0-position": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    brand = Brand.objects.get(name="Beispiel")
    assert not brand.is_default and brand.font_stack.startswith("Verdana")
    assert [link.url for link in brand.social_links.all()] == ["https://social.example/@beispiel"]


def test_the_default_brand_cannot_be_deleted_in_the_admin(client):
    staff_login(client, "brands.delete_brand", "brands.view_brand")
    response = client.post(reverse("admin:brands_brand_delete", args=[default_brand().pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Brand.objects.filter(is_default=True).exists()


def test_the_layout_admin_shows_mjml_errors_with_line_numbers_and_keeps_the_text(client, in_english):
    staff_login(client, "brands.add_layout")
    broken = VALID_LAYOUT.replace("</mj-text>", "</mj-txt>", 1).replace("{{ footer }}", "{% load static %}")
    response = client.post(reverse("admin:brands_layout_add"), {"name": "Eigen", "mjml": broken})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Line 8: &lt;/mj-txt&gt; found, but &lt;mj-text&gt; from line 8 is still open." in page
    assert "Line 12: “{% load static %}” is template syntax." in page
    assert "The layout has no {{ footer }}" in page
    assert "&lt;/mj-txt&gt;" in page.split("<textarea", 1)[1]  # what was typed is still there
    assert not Layout.objects.exists()


def test_a_valid_layout_is_saved_in_the_admin(client):
    staff_login(client, "brands.add_layout")
    response = client.post(reverse("admin:brands_layout_add"), {"name": "Eigen", "mjml": VALID_LAYOUT})
    assert response.status_code == 302
    assert Layout.objects.get().mjml.replace("\r\n", "\n") == VALID_LAYOUT.strip()


def test_the_confirmation_mail_carries_the_list_brand_address():
    from subscribers.services.optin import confirmation_message_build
    from subscribers.tests.factories import SubscriptionFactory

    brand = BrandFactory(company_address="Marke GmbH · Weg 1 · 01067 Dresden")
    subscription = SubscriptionFactory(mailing_list=MailingListFactory(brand=brand))
    message = confirmation_message_build(subscription=subscription)
    assert "Marke GmbH · Weg 1 · 01067 Dresden" in message.body
    assert "Marke GmbH · Weg 1 · 01067 Dresden" in message.alternatives[0][0]


def test_a_logo_upload_must_be_an_image(in_english):
    from django.core.files.uploadedfile import SimpleUploadedFile

    brand = BrandFactory.build(logo=SimpleUploadedFile("logo.png", b"<svg onload='alert(1)'></svg>"))
    with pytest.raises(ValidationError) as error:
        brand.full_clean()
    assert error.value.message_dict["logo"] == ["The file is not a JPEG, PNG, GIF or WebP image."]
