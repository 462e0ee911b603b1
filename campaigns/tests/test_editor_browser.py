"""In Chromium: staff type in an article and watch the live preview, look at it at phone width,
and drag an article above another."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from campaigns.models import Campaign
from campaigns.tests.editor_browser import FRAME, drag_article_above, frame_text
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.testing import browser_login

pytestmark = [pytest.mark.browser]

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "artifacts"


def test_staff_edit_with_a_live_preview_and_reorder_articles(browser, live_server, transactional_db):
    campaign = CampaignFactory(name="Wochenbrief", subject="Neues aus dem Kiez", preheader="Drei Themen")
    first = ArticleFactory(campaign=campaign, position=0, headline="Erster Artikel", body="Alter Text")
    second = ArticleFactory(campaign=campaign, position=1, headline="Zweiter Artikel", body="Mehr Text")
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", "correct horse battery")
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        browser_login(page, live_server.url, username="chefin", password="correct horse battery")
        page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")

        page.wait_for_function("() => document.querySelector('#kanal-preview [data-field=subject]').textContent !== ''")
        assert page.locator("#kanal-preview [data-field=subject]").inner_text() == "Neues aus dem Kiez"
        assert page.locator("#kanal-preview [data-field=preheader]").inner_text() == "Drei Themen"
        assert "Alter Text" in frame_text(page)

        body = page.locator("textarea[name='articles-0-body']")
        body.fill("")
        body.press_sequentially("Frisch getippt")
        page.locator("textarea[name='articles-0-body']").press("Control+a")
        page.locator("#articles-0 .kanal-md-toolbar [data-md=bold]").click()
        page.frame_locator(FRAME).locator("strong", has_text="Frisch getippt").wait_for()
        assert "Alter Text" not in frame_text(page)
        body.press("End")
        page.locator("#articles-0 .kanal-md-toolbar select").select_option("{{ subscriber.first_name }}")
        assert body.input_value() == "**Frisch getippt**{{ subscriber.first_name }}"
        first.refresh_from_db()
        assert first.body == "Alter Text"  # typing saves nothing
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "editor.png"), full_page=True)

        page.locator("#kanal-preview button[data-width=phone]").click()
        frame = page.locator(FRAME)
        assert frame.evaluate("frame => frame.getBoundingClientRect().width") == 375
        assert "Frisch getippt" in frame_text(page)
        assert page.frame_locator(FRAME).locator("body").evaluate("body => body.scrollHeight") > 200
        frame.screenshot(path=str(ARTIFACTS / "mail-phone.png"))

        drag_article_above(page, moved=1, above=0)
        assert page.locator("input[name='articles-1-position']").input_value() == "0"
        assert page.locator("input[name='articles-0-position']").input_value() == "1"
        page.wait_for_function(
            "() => { const d = document.querySelector('#kanal-preview iframe').contentDocument;"
            " const t = d && d.body ? d.body.innerText : '';"
            " return t.includes('Erster Artikel') && t.indexOf('Zweiter Artikel') < t.indexOf('Erster Artikel'); }"
        )
        page.locator("input[name=_continue]").click()
        page.wait_for_load_state()
        assert list(campaign.articles.order_by("position").values_list("pk", flat=True)) == [second.pk, first.pk]
        first.refresh_from_db()
        assert first.body.startswith("**Frisch getippt**")
    finally:
        context.close()


def test_a_new_campaign_has_its_live_preview_before_the_first_save(browser, live_server, transactional_db):
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", "correct horse battery")
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        browser_login(
            page,
            live_server.url,
            username="chefin",
            password="correct horse battery",
            next_path="/admin/campaigns/campaign/add/",
        )
        page.locator("#id_subject").fill("Erste Ausgabe")
        page.locator("#articles-group .add-row a").click()
        page.locator("#id_articles-0-headline").press_sequentially("Noch nie gespeichert")
        page.frame_locator(FRAME).get_by_text("Noch nie gespeichert").wait_for()
        page.wait_for_function(
            "() => document.querySelector('#kanal-preview [data-field=subject]').textContent === 'Erste Ausgabe'"
        )
        assert not Campaign.objects.filter(is_template=False).exists()
    finally:
        context.close()


def test_the_preview_page_shows_the_mail_at_desktop_and_at_phone_width(browser, live_server, transactional_db):
    """Both frames of the preview page paint the mail (the phone frame used to stay blank)."""
    campaign = CampaignFactory(name="Wochenbrief", subject="Neues aus dem Kiez")
    ArticleFactory(campaign=campaign, position=0, headline="Markttag im Kiez", body="Alles frisch")
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", "correct horse battery")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        path = f"/admin/campaigns/campaign/{campaign.pk}/preview/"
        browser_login(page, live_server.url, username="chefin", password="correct horse battery", next_path=path)
        for width in ("700", "375"):
            frame = page.frame_locator(f".kanal-frames iframe[width='{width}']")
            frame.locator("h2", has_text="Markttag im Kiez").wait_for()
            assert frame.locator("body").evaluate("body => body.scrollHeight") > 200
        phone = page.locator(".kanal-frames iframe[width='375']")
        assert phone.evaluate("frame => frame.clientWidth") == 375
    finally:
        context.close()
