"""Kill real workers while part of a campaign is due later: due rows are never sent early, and every
recipient still gets the campaign exactly once (but for the final-dot window, as in
test_fault_injection), with the sweeper as the only thing that wakes the campaign after a kill."""

import random
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from campaigns.tests.test_fault_injection import sent_count, start_worker
from newsletter_site.testing import wait_until
from newsletter_site.tests.processes import logs_shown_on_failure, stop_process
from newsletter_site.tests.sinks import assert_only_final_dot_window
from subscribers.tests.factories import MailingListFactory, bulk_active_subscribers

RECIPIENTS = 1500
WAVES = (timedelta(seconds=4), timedelta(seconds=8))

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(sys.platform != "linux", reason="kills process groups the Linux way"),
]


def is_sent(campaign) -> bool:
    campaign.refresh_from_db()
    return campaign.status == Campaign.Status.SENT


def sent_early() -> int:
    return Delivery.objects.filter(status=Delivery.Status.SENT, sent_at__lt=F("due_at")).count()


def test_killing_workers_while_deliveries_wait_for_their_due_time_loses_and_duplicates_nothing(
    watching_sink, settings, tmp_path
):
    news = MailingListFactory()
    everyone = [f"r{n}@example.org" for n in range(RECIPIENTS)]
    bulk_active_subscribers(emails=everyone, mailing_list=news)
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    sending.campaign_start(campaign=campaign)  # no worker yet: nothing is claimed before the due times are set
    ids = list(Delivery.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    for index, wave in enumerate(WAVES, start=1):
        Delivery.objects.filter(pk__in=ids[index :: len(WAVES) + 1]).update(due_at=now + wave)

    rng = random.Random(1623)
    log = tmp_path / "worker.log"
    kills = 0
    with logs_shown_on_failure(log):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not is_sent(campaign) and kills < 6:
            worker = start_worker(settings.EMAIL_PORT, log)
            time.sleep(rng.uniform(0.8, 2.5))
            stop_process(worker)
            kills += 1
            sending.deliveries_sweep(stale_after=timedelta(0))  # the dead worker's claims are stale
        worker = start_worker(settings.EMAIL_PORT, log)
        try:

            def swept_and_sent():
                sending.deliveries_sweep()  # what beat runs every 30 s
                return is_sent(campaign)

            wait_until(swept_and_sent, timeout=120, interval=1.0, raise_on_timeout=False)
        finally:
            stop_process(worker)

        statuses = Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
        assert campaign.status == Campaign.Status.SENT, statuses
        assert sent_count(campaign) == RECIPIENTS
        assert sent_early() == 0
        later = Delivery.objects.filter(campaign=campaign, due_at__isnull=False)
        assert later.count() == len(ids) - len(ids[:: len(WAVES) + 1])
        missing, duplicates = assert_only_final_dot_window(
            watching_sink, set(everyone), vendor=connection.vendor, most=kills * 2
        )
        print(f"{kills} kills; messages in the final-dot window: {len(missing)} missing, {len(duplicates)} twice")
