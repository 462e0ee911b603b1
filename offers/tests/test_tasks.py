import pytest

from newsletter_site.testing import wait_until
from offers import tasks
from offers.models import Offer
from offers.services import pools
from offers.services.redemption import offer_redeem
from offers.tests.factories import CouponFactory, OfferFactory
from offers.tests.test_pools import low_pool_mails

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def warned(offer) -> bool:
    return Offer.objects.get(pk=offer.pk).low_pool_warned_at is not None


def test_a_real_worker_sends_the_low_pool_mail_once_per_crossing(offer_keeper, celery_worker_thread):
    offer = OfferFactory(low_pool_threshold=3)
    first, _second, _third = (CouponFactory(offer=offer) for _ in range(3))
    OfferFactory(low_pool_threshold=0)  # never looked at
    offer_redeem(code=first.code, source="manual")  # 2 left: below 3
    tasks.check_pools.delay()  # what the beat runs
    wait_until(lambda: warned(offer), timeout=30)
    wait_until(lambda: len(low_pool_mails()) == 1, timeout=30)

    tasks.check_pools.delay()
    for _ in range(3):
        tasks.check_pool.delay(offer.pk)
    # The worker takes tasks in order (one process, solo pool): once the check queued by the refill
    # has run, the three checks queued before it have too.
    pools.pool_generate(offer=offer, pattern="XXXXXXXX", count=5)
    wait_until(lambda: not warned(offer), timeout=30)
    assert len(low_pool_mails()) == 1
