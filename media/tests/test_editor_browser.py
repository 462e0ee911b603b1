"""In Chromium: staff upload an image from the campaign editor (the "+" beside the article's
media library field) or pick one from the library, and see it in the live preview."""

import pytest
from django.contrib.auth import get_user_model

from campaigns.tests.editor_browser import FRAME
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from campaigns.tests.test_editor_browser import ARTIFACTS
from media.models import MediaImage
from media.services import upload_image
from media.tests.images import photo, transparent_png
from newsletter_site.testing import browser_login

pytestmark = [pytest.mark.browser]


def test_staff_upload_an_image_in_the_editor_and_see_it_in_the_preview(browser, live_server, transactional_db):
    campaign = CampaignFactory(name="Wochenbrief", subject="Neues aus dem Kiez")
    article = ArticleFactory(campaign=campaign, position=0, headline="Markttag", body="Alles frisch", image_alt="")
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", "correct horse battery")
    upload = photo(2400, 1600, name="markt.jpg")
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        browser_login(page, live_server.url, username="chefin", password="correct horse battery")
        page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
        page.frame_locator(FRAME).locator("body", has_text="Alles frisch").wait_for()
        assert page.frame_locator(FRAME).locator("img[src*='/media/library/']").count() == 0

        with context.expect_page() as popup_opened:
            page.locator("#add_id_articles-0-library_image").click()
        popup = popup_opened.value
        popup.set_default_timeout(15_000)
        popup.locator("#id_upload").set_input_files(
            {"name": "markt.jpg", "mimeType": "image/jpeg", "buffer": upload.read()}
        )
        popup.locator("#id_alt_text").fill("Marktstände im Sonnenschein")
        with popup.expect_event("close", timeout=30_000):  # listening before the click: it may close at once
            popup.locator("input[name=_save]").click()

        image = MediaImage.objects.get()
        assert (image.width, image.height) == (1200, 800)
        picture = page.frame_locator(FRAME).locator(f"img[src$='{image.file.name}']")
        picture.wait_for()
        assert picture.get_attribute("alt") == "Marktstände im Sonnenschein"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "editor-library-image.png"), full_page=True)

        page.locator("input[name=_continue]").click()
        page.wait_for_load_state()
        article.refresh_from_db()
        assert article.library_image == image
    finally:
        context.close()


def test_staff_pick_a_library_image_for_an_article_and_see_it_in_the_preview(browser, live_server, transactional_db):
    campaign = CampaignFactory(name="Wochenbrief", subject="Neues aus dem Kiez")
    ArticleFactory(campaign=campaign, position=0, headline="Neues Logo", body="Wie gefällt es euch?", image_alt="")
    upload_image(file=transparent_png(name="anderes.png"), alt_text="Ein anderes Bild", uploaded_by=None)
    logo = upload_image(file=transparent_png(name="kiez-logo.png"), alt_text="Das Kiez-Logo", uploaded_by=None)
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", "correct horse battery")
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        browser_login(page, live_server.url, username="chefin", password="correct horse battery")
        page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
        page.frame_locator(FRAME).locator("body", has_text="Wie gefällt es euch?").wait_for()

        page.locator("#id_articles-0-library_image + .select2").click()
        page.locator(".select2-dropdown .select2-search__field").fill("logo")
        page.locator(".select2-results__option", has_text="kiez-logo.png").click()

        picture = page.frame_locator(FRAME).locator(f"img[src$='{logo.file.name}']")
        picture.wait_for()
        assert picture.get_attribute("alt") == "Das Kiez-Logo"
    finally:
        context.close()
