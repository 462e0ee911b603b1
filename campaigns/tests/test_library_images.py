"""Articles show images picked from the media library: one image source per article, the
library's alt text unless the article gives its own."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.checklist import campaign_checklist
from campaigns.rendering import RecipientContext, compile_campaign
from campaigns.services.lifecycle import campaign_duplicate
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from campaigns.tests.test_editor_preview import change_form
from media.services import upload_image
from media.tests.images import transparent_png
from newsletter_site.testing import staff_login

pytestmark = pytest.mark.django_db

READER = RecipientContext(
    email="erika@example.org",
    first_name="Erika",
    unsubscribe_url="https://kanal.test/unsubscribe/tok/",
    preferences_url="https://kanal.test/preferences/tok/",
)


@pytest.fixture
def library_image():
    return upload_image(file=transparent_png(name="Logo Kiez.png"), alt_text="Das Kiez-Logo", uploaded_by=None)


def _images(html: str) -> list[tuple[str, str]]:
    return [
        (re.search(r'src="([^"]*)"', tag).group(1), re.search(r'alt="([^"]*)"', tag).group(1))
        for tag in re.findall(r"<img [^>]*>", html)
        if "/media/" in tag
    ]


def test_article_with_a_library_image_shows_it_with_the_library_alt_text(library_image, settings):
    campaign = CampaignFactory()
    ArticleFactory(campaign=campaign, headline="Neues Logo", library_image=library_image, image_alt="")

    html = compile_campaign(campaign).render(READER).html

    assert _images(html) == [(f"{settings.SITE_URL}/media/{library_image.file.name}", "Das Kiez-Logo")]
    assert library_image.file.name.startswith("library/") and library_image.file.name.endswith(".png")


def test_article_alt_text_overrides_the_library_one(library_image):
    campaign = CampaignFactory()
    ArticleFactory(campaign=campaign, library_image=library_image, image_alt="Logo auf rotem Grund")

    html = compile_campaign(campaign).render(READER).html

    assert [alt for _src, alt in _images(html)] == ["Logo auf rotem Grund"]


@pytest.mark.parametrize(
    "second_source",
    [
        {"image_url": "https://cdn.example.org/a.png"},
        {"image": SimpleUploadedFile("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * 32)},
    ],
    ids=["and a URL", "and an upload"],
)
def test_article_refuses_a_library_image_and_another_source(library_image, second_source):
    article = ArticleFactory.build(
        campaign=CampaignFactory(), library_image=library_image, image_alt="Bild", **second_source
    )

    with pytest.raises(ValidationError) as raised:
        article.full_clean()

    assert [error.code for error in raised.value.error_dict["__all__"]] == ["image_sources"]


def test_article_refuses_an_upload_and_a_url():
    article = ArticleFactory.build(
        campaign=CampaignFactory(),
        image=SimpleUploadedFile("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * 32),
        image_url="https://cdn.example.org/a.png",
        image_alt="Bild",
    )

    with pytest.raises(ValidationError) as raised:
        article.full_clean()

    assert [error.code for error in raised.value.error_dict["__all__"]] == ["image_sources"]


def test_duplicated_campaign_keeps_the_library_image(library_image):
    campaign = CampaignFactory()
    ArticleFactory(campaign=campaign, library_image=library_image, image_alt="")

    copy = campaign_duplicate(campaign=campaign)

    assert copy.articles.get().library_image == library_image


def test_live_preview_shows_the_library_image_picked_in_the_unsaved_form(client, library_image, settings):
    campaign = CampaignFactory()
    article = ArticleFactory(campaign=campaign, headline="Logo", image_alt="")
    staff_login(client, "campaigns.change_campaign")

    response = client.post(
        reverse("admin:campaigns_campaign_editor_preview", args=[campaign.pk]),
        change_form(campaign, articles_0_library_image=str(library_image.pk)),
    )

    assert response.status_code == 200
    assert response.json()["errors"] == []
    assert _images(response.json()["html"]) == [
        (f"{settings.SITE_URL}/media/{library_image.file.name}", "Das Kiez-Logo")
    ]
    article.refresh_from_db()
    assert article.library_image is None  # the preview saves nothing


def test_checklist_counts_a_library_image_and_reads_its_alt_text(library_image):
    campaign = CampaignFactory()
    ArticleFactory(campaign=campaign, body="Kurz.", library_image=library_image, image_alt="")

    found = {item.code for item in campaign_checklist(campaign=campaign)}

    assert "image_ratio" in found, "the library image counts as an image"
    assert "image_alt" not in found, "the library's alt text describes it"
