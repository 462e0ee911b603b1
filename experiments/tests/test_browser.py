"""In Chromium: staff set up an A/B test, start it, and see the fallback winner sent after the test window."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from campaigns.models import Campaign
from experiments import tasks
from experiments.models import ABTest
from experiments.tests.factories import campaign_with_readers
from newsletter_site.testing import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.worker]
READERS = 600
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "artifacts"


def all_sent(ab_test: ABTest) -> bool:
    campaigns = Campaign.objects.filter(ab_variant__ab_test=ab_test)
    return campaigns.exists() and not campaigns.exclude(status=Campaign.Status.SENT).exists()


def test_staff_set_up_a_test_and_see_the_winner_sent_after_the_window(
    browser, live_server, smtp_sink, celery_worker_thread, in_english
):
    campaign = campaign_with_readers(readers=READERS)
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", "correct horse battery")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(f"{live_server.url}/admin/experiments/abtest/add/")
        page.locator("#id_username").fill("chefin")
        page.locator("#id_password").fill("correct horse battery")
        page.locator("input[type=submit]").click()
        page.locator("#id_campaign").select_option(str(campaign.pk))
        page.locator("#id_test_share").fill("50")
        page.locator("#id_minimum_sample").fill("100")
        page.locator("#id_duration").fill("01:00:00")
        page.locator("#id_fallback").select_option("variant_a")
        page.locator("#id_variants-0-letter").select_option("A")
        page.locator("#id_variants-0-subject").fill("Neu im Kiez")
        page.locator("#id_variants-1-letter").select_option("B")
        page.locator("#id_variants-1-subject").fill("Was diese Woche los ist")
        page.locator("input[name=_save]").click()
        page.wait_for_url(f"{live_server.url}/admin/experiments/abtest/")
        ab_test = ABTest.objects.get(campaign=campaign)

        page.goto(f"{live_server.url}/admin/experiments/abtest/{ab_test.pk}/results/")
        assert "Not started yet." in page.locator(".ab-status").inner_text()
        page.locator("input[name=confirm]").check()
        page.get_by_role("button", name="Start the A/B test").click()
        assert "The A/B test started" in page.locator(".messagelist").inner_text()
        wait_until(lambda: all_sent(ab_test), timeout=60, interval=0.2, message="the variants to be sent")
        page.reload()
        assert "No clear winner yet" in page.locator(".ab-status").inner_text()
        tested = len(smtp_sink.messages)

        # The hour is over: move the test's start back by its duration, and let beat's task run.
        ab_test.refresh_from_db()
        ABTest.objects.filter(pk=ab_test.pk).update(started_at=ab_test.started_at - ab_test.duration)
        tasks.evaluate.delay()
        wait_until(
            lambda: len(smtp_sink.messages) == READERS and all_sent(ab_test),
            timeout=60,
            interval=0.2,
            message="the winner to reach the rest",
        )
        page.reload()
        status = page.locator(".ab-status").inner_text()
        assert "variant A was chosen as the fallback" in status
        assert "It was sent to the rest of the audience." in status
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ab_test_results.png"), full_page=True)
        assert len(set(smtp_sink.recipients())) == READERS
        assert READERS - tested > 200
    finally:
        context.close()
