"""The media library in the admin: upload with alt text, thumbnails, permissions; uploads in the
campaign editor land in the library."""

import pytest
from django.urls import reverse

from campaigns.tests.factories import ArticleFactory, CampaignFactory
from campaigns.tests.test_admin import inline_data
from media.models import MediaImage
from media.services import upload_image
from media.tests.images import photo, transparent_png
from newsletter_site.testing import staff_login

pytestmark = pytest.mark.django_db

ADD = reverse("admin:media_mediaimage_add")
CHANGELIST = reverse("admin:media_mediaimage_changelist")


def test_staff_may_upload_an_image_with_its_alt_text(client):
    user = staff_login(client, "media.add_mediaimage", "media.view_mediaimage")

    assert client.get(ADD).status_code == 200
    response = client.post(ADD, {"upload": photo(3000, 2000), "alt_text": "Der Markt am Samstag"})

    assert response.status_code == 302
    image = MediaImage.objects.get()
    assert (image.width, image.height, image.format) == (1200, 800, "JPEG")
    assert image.alt_text == "Der Markt am Samstag"
    assert image.uploaded_by == user


def test_upload_without_alt_text_is_refused_and_stores_nothing(client):
    staff_login(client, "media.add_mediaimage", "media.view_mediaimage")

    response = client.post(ADD, {"upload": transparent_png(), "alt_text": ""})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors.keys() == {"alt_text"}
    assert not MediaImage.objects.exists()


def test_upload_of_a_damaged_file_shows_the_error_on_the_file(client):
    staff_login(client, "media.add_mediaimage", "media.view_mediaimage")
    damaged = photo(400, 300, name="kaputt.jpg")
    damaged.file.truncate(damaged.size // 2)

    response = client.post(ADD, {"upload": damaged, "alt_text": "Etwas"})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert [error.code for error in errors.as_data()["upload"]] == ["image_unreadable"]
    assert not MediaImage.objects.exists()


def test_upload_page_needs_the_add_permission(client):
    staff_login(client, "media.view_mediaimage")

    assert client.get(CHANGELIST).status_code == 200
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, {"upload": transparent_png(), "alt_text": "Logo"}).status_code == 403
    assert not MediaImage.objects.exists()


def test_library_is_closed_to_staff_without_media_permissions(client):
    staff_login(client, "campaigns.view_campaign")

    assert client.get(CHANGELIST).status_code == 403


def test_changelist_shows_thumbnails_sizes_and_names(client):
    image = upload_image(file=transparent_png(name="logo.png"), alt_text="Logo", uploaded_by=None)
    staff_login(client, "media.view_mediaimage")

    content = client.get(CHANGELIST).content.decode()

    assert f'src="{image.file.url}"' in content
    assert 'width="80" height="53"' in content
    assert "logo.png" in content
    assert "300 × 200" in content


def test_image_uploaded_in_the_campaign_editor_lands_in_the_library(client):
    campaign = CampaignFactory()
    article = ArticleFactory(campaign=campaign, headline="Markt")
    user = staff_login(
        client, "campaigns.change_campaign", "campaigns.change_article", "media.add_mediaimage", "media.view_mediaimage"
    )
    data = inline_data(
        campaign,
        [article],
        **{"articles-0-image": photo(2400, 1600, name="markt.jpg"), "articles-0-image_alt": "Marktstände"},
    )

    response = client.post(reverse("admin:campaigns_campaign_change", args=[campaign.pk]), data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    article.refresh_from_db()
    assert not article.image
    image = article.library_image
    assert (image.width, image.height, image.original_name) == (1200, 800, "markt.jpg")
    assert image.alt_text == "Marktstände"
    assert image.uploaded_by == user


def test_editor_upload_and_a_library_pick_together_are_refused(client):
    campaign = CampaignFactory()
    article = ArticleFactory(campaign=campaign)
    chosen = upload_image(file=transparent_png(), alt_text="Logo", uploaded_by=None)
    staff_login(client, "campaigns.change_campaign", "campaigns.change_article", "media.view_mediaimage")
    data = inline_data(
        campaign,
        [article],
        **{
            "articles-0-library_image": str(chosen.pk),
            "articles-0-image": photo(400, 300),
            "articles-0-image_alt": "Bild",
        },
    )

    response = client.post(reverse("admin:campaigns_campaign_change", args=[campaign.pk]), data)

    assert response.status_code == 200
    article_form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert [error.code for error in article_form.errors.as_data()["__all__"]] == ["image_sources"]
    article.refresh_from_db()
    assert article.library_image is None and not article.image
    assert MediaImage.objects.count() == 1


def test_staff_may_change_the_alt_text_but_not_the_file(client):
    image = upload_image(file=transparent_png(name="logo.png"), alt_text="Logo", uploaded_by=None)
    staff_login(client, "media.change_mediaimage")
    change = reverse("admin:media_mediaimage_change", args=[image.pk])

    page = client.get(change)
    response = client.post(change, {"alt_text": "Das rote Logo", "upload": photo(400, 300)})

    assert page.status_code == 200
    assert f'src="{image.file.url}"' in page.content.decode()
    assert response.status_code == 302
    changed = MediaImage.objects.get()
    assert changed.alt_text == "Das rote Logo"
    assert (changed.file.name, changed.format) == (image.file.name, "PNG")


def test_an_image_in_use_cannot_be_deleted(client):
    image = upload_image(file=transparent_png(), alt_text="Logo", uploaded_by=None)
    ArticleFactory(library_image=image)
    staff_login(client, "media.delete_mediaimage", "media.view_mediaimage")

    response = client.post(reverse("admin:media_mediaimage_delete", args=[image.pk]), {"post": "yes"})

    assert response.status_code == 200  # Django's "cannot delete: protected" page
    assert MediaImage.objects.filter(pk=image.pk).exists()
