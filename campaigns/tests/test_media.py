"""Uploaded article images are public in production (DEBUG off); uploaded subscriber lists never are."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.models import SubscriberImport
from subscribers.services import imports
from subscribers.tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 32


def test_uploaded_image_is_served_with_debug_off(client, settings):
    settings.DEBUG = False
    article = ArticleFactory(
        campaign=CampaignFactory(), image=SimpleUploadedFile("hero.png", PNG, content_type="image/png"), image_alt="x"
    )

    response = client.get(article.image.url)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_uploaded_subscriber_list_lives_outside_the_public_media_and_has_no_url(client, settings, tmp_path):
    settings.DEBUG = False
    subscriber_import = imports.subscriber_import_create(
        upload=SimpleUploadedFile("list.csv", b"email\nerika@example.org\n", content_type="text/csv"),
        mailing_list=MailingListFactory(),
        tags=[],
        consent_basis=SubscriberImport.ConsentBasis.DOCUMENTED,
        consent_source="Messe",
        created_by=None,
    )
    name = subscriber_import.csv_file.name
    media_root = settings.MEDIA_ROOT

    assert not (media_root / name).exists(), "the upload is not under the public media root"
    assert subscriber_import.csv_file.storage.exists(name)
    assert client.get(f"/media/{name}").status_code == 404
    # Not even when someone copies it into the public root by mistake: CSV is no public type.
    (media_root / name).parent.mkdir(parents=True, exist_ok=True)
    (media_root / name).write_bytes(b"email\nerika@example.org\n")
    assert client.get(f"/media/{name}").status_code == 404


def test_media_paths_cannot_leave_the_public_root(client, settings):
    settings.DEBUG = False
    assert client.get("/media/../secret_key.png").status_code == 404
    assert client.get("/media/%2e%2e/%2e%2e/etc/passwd.png").status_code == 404
