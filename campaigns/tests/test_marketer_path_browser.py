"""In Chromium, a marketer's whole path, in German and in English: log in → dashboard → a new
campaign from a template → type an article and watch the preview change → upload an image →
reorder → checklist → test send → send → the dashboard's progress as a real worker sends.

Screenshots of the dashboard, the editor and the mail at phone width land in var/artifacts/."""

import email
import struct
import zlib
from email import policy
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.translation import gettext

from campaigns.models import Campaign, Delivery
from campaigns.tests.editor_browser import FRAME, drag_article_above, frame_text
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.celery import app
from newsletter_site.testing import browser_login, wait_until
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker]

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "artifacts"
PASSWORD = "correct horse battery"
READERS = ["anna@example.org", "ben@example.org", "cem@example.org"]


def png(width: int, height: int) -> bytes:
    """A real PNG file: a single-colour RGB image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x1d\x4e\xd8" * width for _row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def sink_subjects(sink) -> list[tuple[list[str], str]]:
    with sink.lock:
        messages = list(sink.messages)
    return [
        (recipients, email.message_from_bytes(content, policy=policy.default)["Subject"])
        for recipients, content in messages
    ]


@pytest.mark.parametrize("locale", ["de-DE", "en-US"])
def test_a_marketer_writes_tests_and_sends_a_campaign(browser, live_server, transactional_db, smtp_sink, locale):
    language = locale[:2]
    news = MailingListFactory(name="Kanal News", slug="kanal-news")
    for address in READERS:
        SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory(email=address, tracking_consent=True))
    template = CampaignFactory(
        name="Vorlage: Wochenbrief",
        is_template=True,
        mailing_lists=[],
        subject='Neues für {{ subscriber.first_name|default:"Sie" }}',
        language=language,
    )
    ArticleFactory(campaign=template, position=0, headline="Das Wichtigste zuerst", body="Platzhalter")
    ArticleFactory(campaign=template, position=1, headline="Zweites Thema", body="Noch ein Platzhalter")
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", PASSWORD)
    image = ARTIFACTS / f"upload-{language}.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.write_bytes(png(2400, 600))
    with translation.override(language):
        checklist_heading = gettext("Pre-send checklist")
        nothing_sending = gettext("Nothing is sending right now.")

    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        # Log in: the first page is the dashboard, in the browser's language.
        browser_login(page, live_server.url, username="chefin", password=PASSWORD)
        assert page.locator("html").get_attribute("lang") == language
        assert page.locator("#dashboard-sends .kanal-empty").inner_text() == nothing_sending
        page.screenshot(path=str(ARTIFACTS / f"path-{language}-dashboard-before.png"), full_page=True)

        # A new campaign from the template.
        page.goto(f"{live_server.url}/admin/campaigns/campaign/?type=templates")
        page.locator("#result_list a", has_text="Vorlage: Wochenbrief").click()
        page.locator("button[form=campaign-use-template]").click()
        page.wait_for_url(lambda url: f"/{template.pk}/change/" not in url and url.endswith("/change/"))
        campaign = Campaign.objects.get(is_template=False)
        assert not campaign.is_template
        assert [article.headline for article in campaign.articles.order_by("position")] == [
            "Das Wichtigste zuerst",
            "Zweites Thema",
        ]

        # Name, audience, and an article typed while the preview follows.
        page.locator("#id_name").fill("Adventsbrief")
        page.locator("#id_mailing_lists").locator("xpath=..").locator(".select2-selection").click()
        page.locator(".select2-search__field[aria-controls='select2-id_mailing_lists-results']").fill("Kanal")
        page.locator(".select2-results__option", has_text="Kanal News").click()
        page.wait_for_function("() => document.querySelector('#kanal-preview [data-field=subject]').textContent !== ''")
        assert "Platzhalter" in frame_text(page)
        headline = page.locator("#id_articles-0-headline")
        headline.fill("")
        headline.press_sequentially("Der Markt öffnet")
        body = page.locator("#id_articles-0-body")
        body.fill("")
        body.press_sequentially("Ab Samstag mit Glühwein")
        page.frame_locator(FRAME).get_by_text("Ab Samstag mit Glühwein").wait_for()
        assert "Der Markt öffnet" in frame_text(page)
        assert "Platzhalter\n" not in frame_text(page).replace("Noch ein Platzhalter", "")

        # An image for the second article, with its description; twice too wide for the layout.
        page.locator("#id_articles-1-image").set_input_files(str(image))
        page.locator("#id_articles-1-image_alt").fill("Blaue Fläche")

        # Reorder: the second article above the first.
        drag_article_above(page, moved=1, above=0)
        assert page.locator("input[name='articles-1-position']").input_value() == "0"
        page.wait_for_function(
            "() => { const d = document.querySelector('#kanal-preview iframe').contentDocument;"
            " const t = d && d.body ? d.body.innerText : '';"
            " return t.indexOf('Zweites Thema') >= 0 && t.indexOf('Zweites Thema') < t.indexOf('Der Markt öffnet'); }"
        )
        page.screenshot(path=str(ARTIFACTS / f"path-{language}-editor.png"), full_page=True)
        page.locator("input[name=_continue]").click()
        page.wait_for_load_state()

        campaign.refresh_from_db()
        assert campaign.name == "Adventsbrief"
        assert list(campaign.mailing_lists.all()) == [news]
        first, second = campaign.articles.order_by("position")
        assert (first.headline, first.image_description, bool(first.image)) == ("Zweites Thema", "Blaue Fläche", False)
        library_image = first.library_image  # an upload on the campaign page lands in the media library
        assert (library_image.width, library_image.height, library_image.format) == (1200, 300, "JPEG")
        assert (second.headline, second.body) == ("Der Markt öffnet", "Ab Samstag mit Glühwein")

        # After saving, the preview shows the uploaded image; at phone width too.
        image_url = library_image.file.url
        page.frame_locator(FRAME).locator(f"img[src$='{image_url}']").wait_for()
        page.locator("#kanal-preview button[data-width=phone]").click()
        assert page.locator(FRAME).evaluate("frame => frame.getBoundingClientRect().width") == 375
        page.locator(FRAME).screenshot(path=str(ARTIFACTS / f"path-{language}-mail-phone.png"))

        # The checklist: nothing blocks; warnings, if any, are confirmed on purpose.
        checklist = page.locator("#pre-send-checklist")
        assert checklist.locator("h2").inner_text().startswith(checklist_heading)
        assert checklist.locator("li.error").count() == 0, checklist.inner_text()
        if page.locator("#confirm-warnings").count():
            page.locator("#confirm-warnings").check()
        confirm_label = checklist.inner_text()

        # A test send reaches the sink at once; no subscriber gets anything.
        page.locator("a[href$='/send-test/']").click()
        page.locator("textarea[name=addresses]").fill("pruefer@example.org")
        page.locator("input[type=submit]").click()
        page.wait_for_url(lambda url: url.endswith(f"/{campaign.pk}/change/"))
        wait_until(lambda: smtp_sink.recipients() == ["pruefer@example.org"], timeout=10, message="the test mail")
        [(_recipients, test_subject)] = sink_subjects(smtp_sink)
        assert "Neues für" in test_subject and test_subject != "Neues für Sie"

        # Send: with no worker running yet the dashboard shows it waiting at 0 %.
        if page.locator("#confirm-warnings").count():
            page.locator("#confirm-warnings").check()
        page.locator("button[form=campaign-send-now]").click()
        page.wait_for_load_state()
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.SENDING, confirm_label
        page.goto(f"{live_server.url}/admin/dashboard/")
        send = page.locator("#dashboard-sends [data-progress-url]")
        assert send.locator("strong").inner_text() == "Adventsbrief"
        assert send.locator("[data-field=percent]").inner_text() == "0"

        # A worker starts; the dashboard follows it to 100 % without a reload.
        with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING", shutdown_timeout=10):
            page.wait_for_function(
                "() => document.querySelector('#dashboard-sends [data-field=percent]').textContent === '100'",
                timeout=60_000,
            )
            assert send.locator("[data-field=sent]").inner_text() == "3"
            page.screenshot(path=str(ARTIFACTS / f"path-{language}-dashboard.png"), full_page=True)
            wait_until(lambda: len(smtp_sink.recipients()) == 4, timeout=20, message="three mails at the sink")
        assert sorted(smtp_sink.recipients()[1:]) == READERS
        assert Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count() == 3
    finally:
        context.close()
