"""In Chromium: staff log in, land on the dashboard and watch a send's progress move."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from tracking.tests.factories import CampaignFactory, DeliveryFactory

pytestmark = [pytest.mark.browser]

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "artifacts"


def test_staff_log_in_and_watch_a_send_in_progress_on_the_dashboard(browser, live_server, transactional_db):
    campaign = CampaignFactory(name="Adventsbrief", status=Campaign.Status.SENDING, started_at=timezone.now())
    DeliveryFactory.create_batch(3, campaign=campaign)
    DeliveryFactory(campaign=campaign, status=Delivery.Status.QUEUED, sent_at=None)
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", "correct horse battery")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{live_server.url}/admin/")  # /admin/ leads to the login, then to the dashboard
        page.locator("#id_username").fill("chefin")
        page.locator("#id_password").fill("correct horse battery")
        page.locator("input[type=submit]").click()
        page.wait_for_url(f"{live_server.url}/admin/dashboard/")
        assert page.locator("#site-name").inner_text().strip() == "Kanal"
        send = page.locator("#dashboard-sends [data-progress-url]")
        assert send.locator("strong").inner_text() == "Adventsbrief"
        assert send.locator("[data-field=percent]").inner_text() == "75"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        # The last mail goes out: the page follows without a reload.
        Delivery.objects.filter(campaign=campaign, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SENT, sent_at=timezone.now()
        )
        page.wait_for_function(
            "() => document.querySelector('#dashboard-sends [data-field=percent]').textContent === '100'"
        )
        assert send.locator("progress").evaluate("bar => bar.value") == 100
    finally:
        context.close()
