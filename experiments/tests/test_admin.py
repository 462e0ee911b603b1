import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse

from experiments.models import ABTest
from experiments.tests.factories import ab_test_for, campaign_with_readers
from experiments.tests.test_services import readers_act, start

pytestmark = pytest.mark.django_db


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_results_page_shows_no_clear_winner_yet_with_intervals_and_the_csv(
    admin_client, client, in_english, django_capture_on_commit_callbacks
):
    ab_test = ab_test_for(campaign_with_readers(readers=1000))
    first, second = start(ab_test, django_capture_on_commit_callbacks)
    readers_act(client, first, 8)
    readers_act(client, second, 11)

    page = admin_client.get(reverse("admin:experiments_abtest_results", args=[ab_test.pk]))
    text = page.content.decode()
    assert "No clear winner yet (0 of 4 looks taken)." in text
    assert "Das ist neu" in text
    assert "95 % interval" in text

    rows = csv_rows(admin_client.get(reverse("admin:experiments_abtest_results_csv", args=[ab_test.pk])))
    assert rows[0][:5] == ["variant", "subject", "sent", "human opens", "human clicks"]
    by_letter = {row[0]: row for row in rows[1:]}
    assert set(by_letter) == {"A", "B"}
    assert by_letter["B"][4] == "11"
    sent = int(by_letter["B"][2])
    low, high = float(by_letter["B"][9]), float(by_letter["B"][10])
    assert low < 11 / sent < high
    probabilities = float(by_letter["A"][11]) + float(by_letter["B"][11])
    assert probabilities == pytest.approx(1.0, abs=1e-3)


def test_start_from_the_admin_refuses_too_small_groups_with_the_numbers(admin_client, in_english):
    ab_test = ab_test_for(campaign_with_readers(readers=300), minimum_sample=1000, test_share=20)
    response = admin_client.post(reverse("admin:experiments_abtest_start", args=[ab_test.pk]), follow=True)
    text = response.content.decode()
    assert "fewer than the minimum sample of 1000" in text
    assert "the audience has 300 subscribers" in text
    ab_test.refresh_from_db()
    assert ab_test.status == ABTest.Status.DRAFT


def test_opens_as_the_metric_shows_the_machine_warning(admin_client, in_english):
    ab_test = ab_test_for(campaign_with_readers(readers=5), metric=ABTest.Metric.OPENS)
    page = admin_client.get(reverse("admin:experiments_abtest_change", args=[ab_test.pk]))
    assert "Opens are a poor winner metric" in page.content.decode()
    clicks = ab_test_for(campaign_with_readers(readers=5), duration=timedelta(hours=2))
    page = admin_client.get(reverse("admin:experiments_abtest_change", args=[clicks.pk]))
    assert "Opens are a poor winner metric" not in page.content.decode()


def test_a_test_is_set_up_in_the_admin_with_its_variants(admin_client, in_english):
    campaign = campaign_with_readers(readers=5)
    response = admin_client.post(
        reverse("admin:experiments_abtest_add"),
        {
            "campaign": campaign.pk,
            "test_share": 20,
            "metric": "clicks",
            "minimum_sample": 1000,
            "threshold": "0.990",
            "duration": "04:00:00",
            "fallback": "best_so_far",
            "variants-TOTAL_FORMS": 2,
            "variants-INITIAL_FORMS": 0,
            "variants-MIN_NUM_FORMS": 0,
            "variants-MAX_NUM_FORMS": 4,
            "variants-0-letter": "A",
            "variants-0-subject": "Erste Zeile",
            "variants-1-letter": "B",
            "variants-1-subject": "Zweite Zeile",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    ab_test = ABTest.objects.get(campaign=campaign)
    assert list(ab_test.variants.values_list("letter", "subject")) == [("A", "Erste Zeile"), ("B", "Zweite Zeile")]


def test_a_threshold_below_0_99_is_a_form_error(admin_client, in_english):
    campaign = campaign_with_readers(readers=5)
    response = admin_client.post(
        reverse("admin:experiments_abtest_add"),
        {
            "campaign": campaign.pk,
            "test_share": 60,
            "metric": "clicks",
            "minimum_sample": 1000,
            "threshold": "0.950",
            "duration": "00:30:00",
            "fallback": "best_so_far",
            "variants-TOTAL_FORMS": 0,
            "variants-INITIAL_FORMS": 0,
            "variants-MIN_NUM_FORMS": 0,
            "variants-MAX_NUM_FORMS": 4,
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) >= {"threshold", "test_share", "duration"}
    assert not ABTest.objects.exists()


def test_a_started_test_is_listed_and_can_no_longer_be_changed(
    admin_client, in_english, django_capture_on_commit_callbacks
):
    ab_test = ab_test_for(campaign_with_readers(readers=1000))
    start(ab_test, django_capture_on_commit_callbacks)
    listing = admin_client.get(reverse("admin:experiments_abtest_changelist")).content.decode()
    assert "testing" in listing and reverse("admin:experiments_abtest_results", args=[ab_test.pk]) in listing
    page = admin_client.get(reverse("admin:experiments_abtest_change", args=[ab_test.pk]))
    form = page.context["adminform"].form
    assert "test_share" not in form.fields and "campaign" not in form.fields
    response = admin_client.post(reverse("admin:experiments_abtest_start", args=[ab_test.pk]), follow=True)
    assert "This A/B test has already started." in response.content.decode()
