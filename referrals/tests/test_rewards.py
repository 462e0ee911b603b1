"""Milestone rewards with a coupon from a pool: one code per referrer and milestone, pending while
the pool is empty, on the preference page and in the thank-you mail."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.urls import reverse
from django.utils import timezone

from automations import triggers
from automations.tests.factories import active_automation, run_due
from campaigns.models import Campaign
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from offers.models import CouponAssignment, Offer
from offers.services.pools import pool_upload
from offers.tests.factories import CouponFactory, OfferFactory
from referrals import services, signals, tasks
from referrals.models import Milestone, MilestoneReward, Referral
from subscribers import links
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def offer():
    return OfferFactory(name="Dankeschön-Rabatt")


@pytest.fixture
def milestone(offer):
    return Milestone.objects.create(referrals=1, reward="coupon", offer=offer)


@pytest.fixture
def mailing_list():
    return MailingListFactory(slug="kiez", name="Kiez-Post")


@pytest.fixture
def referrer(mailing_list):
    subscriber = SubscriberFactory(email="anna.berg@example.org", language="en")
    SubscriptionFactory(subscriber=subscriber, mailing_list=mailing_list)
    return subscriber


def credit(referrer, mailing_list):
    """One more credited referral, and the milestones it reaches (as a confirmation does)."""
    Referral.objects.create(
        referrer=referrer, invitee=SubscriberFactory(), mailing_list=mailing_list, status=Referral.Status.CREDITED
    )
    with transaction.atomic():
        return services.milestones_grant(referrer=referrer)


@pytest.fixture
def reached(monkeypatch):
    """The referrers milestone_reached was sent for, in order."""
    seen = []

    def receiver(sender, referrer, milestone, reward, **kwargs):
        seen.append((referrer.pk, milestone.pk))

    signals.milestone_reached.connect(receiver, dispatch_uid="test-rewards")
    yield seen
    signals.milestone_reached.disconnect(dispatch_uid="test-rewards")


def test_a_coupon_milestone_gives_the_referrer_one_code_of_its_offer(referrer, mailing_list, milestone, offer, reached):
    CouponFactory(offer=offer, code="DANKE-AAAA")
    CouponFactory(offer=offer, code="DANKE-BBBB")
    (reward,) = credit(referrer, mailing_list)
    reward.refresh_from_db()
    assert (reward.status, reward.reason) == (MilestoneReward.Status.GIVEN, "")
    assert reward.coupon_assignment.coupon.code == "DANKE-AAAA"
    assert reward.coupon_assignment.subscriber_id == referrer.pk
    assert reward.coupon_assignment.delivery_id is None
    assert reached == [(referrer.pk, milestone.pk)]


def test_the_reward_is_given_once_when_the_grant_and_the_signal_run_again(referrer, mailing_list, milestone, offer):
    CouponFactory.create_batch(3, offer=offer)
    (reward,) = credit(referrer, mailing_list)
    assert credit(referrer, mailing_list) == [], "past the milestone: nothing new"
    assert services.milestones_grant(referrer=referrer) == []
    assert services.reward_retry(reward_id=reward.pk) is False, "a given reward is not given again"
    for _time in range(2):  # the signal sent twice (a receiver that re-sends it, say)
        signals.milestone_reached.send(sender=MilestoneReward, referrer=referrer, milestone=milestone, reward=reward)
    assert MilestoneReward.objects.count() == 1
    assert CouponAssignment.objects.count() == 1


def _at_once(count, work):
    """Run ``work`` in ``count`` threads that start together, each on its own connection."""
    barrier, errors = threading.Barrier(count), []

    def run():
        try:
            barrier.wait(10)
            work()
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_credits_give_one_reward_and_one_code(referrer, mailing_list, milestone, offer, reached):
    CouponFactory.create_batch(4, offer=offer)
    for _number in range(2):
        Referral.objects.create(
            referrer=referrer, invitee=SubscriberFactory(), mailing_list=mailing_list, status=Referral.Status.CREDITED
        )

    def grant():
        with transaction.atomic():
            services.milestones_grant(referrer=referrer)

    _at_once(4, grant)
    assert MilestoneReward.objects.filter(referrer=referrer).count() == 1
    assert CouponAssignment.objects.count() == 1
    assert reached == [(referrer.pk, milestone.pk)]


def test_an_empty_pool_leaves_the_reward_pending_with_its_reason_until_codes_arrive(
    referrer, mailing_list, milestone, offer, reached, client, monkeypatch, in_english
):
    (reward,) = credit(referrer, mailing_list)
    reward.refresh_from_db()
    assert (reward.status, reward.reason) == (MilestoneReward.Status.PENDING, MilestoneReward.Reason.POOL_EMPTY)
    assert reward.coupon_assignment is None
    assert reached == [], "the thank-you waits for the code"

    staff = get_user_model().objects.create_superuser("chefin", "chefin@example.org", "pw")
    client.force_login(staff)
    page = client.get(reverse("admin:referrals_milestonereward_changelist")).content.decode()
    assert "the offer&#x27;s pool has no free code left; add codes and it is given" in page

    monkeypatch.setattr(tasks.retry_reward, "delay", tasks.retry_reward)  # what the worker would run
    tasks.retry_pending_rewards()
    assert MilestoneReward.objects.get().status == MilestoneReward.Status.PENDING, "still no code"

    pool_upload(offer=offer, data=b"code\nSPAET-0001\n")
    tasks.retry_pending_rewards()
    reward.refresh_from_db()
    assert (reward.status, reward.reason) == (MilestoneReward.Status.GIVEN, "")
    assert reward.coupon_assignment.coupon.code == "SPAET-0001"
    assert reached == [(referrer.pk, milestone.pk)]
    tasks.retry_pending_rewards()
    assert CouponAssignment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_retries_at_once_give_a_pending_reward_one_code(referrer, mailing_list, milestone, offer):
    (reward,) = credit(referrer, mailing_list)
    CouponFactory.create_batch(3, offer=offer)
    _at_once(3, lambda: services.reward_retry(reward_id=reward.pk))
    reward.refresh_from_db()
    assert reward.status == MilestoneReward.Status.GIVEN
    assert CouponAssignment.objects.count() == 1


def test_two_referrers_never_get_the_same_code(mailing_list, milestone, offer):
    CouponFactory(offer=offer, code="LETZTER")
    first, second = SubscriberFactory(), SubscriberFactory()
    credit(first, mailing_list)
    credit(second, mailing_list)
    rewards = {reward.referrer_id: reward for reward in MilestoneReward.objects.all()}
    assert rewards[first.pk].coupon_assignment.coupon.code == "LETZTER"
    assert (rewards[second.pk].status, rewards[second.pk].reason) == ("pending", "pool_empty")


def test_an_ended_offer_leaves_the_reward_pending(referrer, mailing_list, milestone, offer):
    CouponFactory(offer=offer)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    (reward,) = credit(referrer, mailing_list)
    reward.refresh_from_db()
    assert (reward.status, reward.reason) == ("pending", "offer_ended")
    assert not CouponAssignment.objects.exists()


def test_a_coupon_milestone_needs_an_offer_with_a_pool(offer, in_english):
    with pytest.raises(ValidationError, match="pool of unique codes"):
        Milestone(referrals=2, reward="coupon").full_clean()
    shared = OfferFactory(code_source=Offer.CodeSource.SHARED)
    with pytest.raises(ValidationError, match="pool of unique codes"):
        Milestone(referrals=2, reward="coupon", offer=shared).full_clean()
    Milestone(referrals=2, reward="coupon", offer=offer).full_clean()


def test_the_referrer_sees_their_reward_code_on_the_preference_page(referrer, mailing_list, milestone, offer, client):
    preferences = reverse("subscribers:preferences", kwargs={"token": links.preferences_token(referrer)})
    credit(referrer, mailing_list)
    page = client.get(preferences).content.decode()
    assert "data-referral-reward-pending" in page
    assert "data-referral-reward-code" not in page

    CouponFactory(offer=offer, code="DANKE-7K3M")
    services.reward_retry(reward_id=MilestoneReward.objects.get().pk)
    page = client.get(preferences).content.decode()
    assert '<code class="fs-5" data-referral-reward-code>DANKE-7K3M</code>' in page
    assert "Dankeschön-Rabatt" in page
    assert "data-referral-reward-pending" not in page


def test_the_reward_mail_of_the_milestone_automation_shows_the_code(referrer, mailing_list, milestone, offer):
    CouponFactory(offer=offer, code="DANKE-9Q2P")
    thanks = CampaignFactory(
        name="Danke",
        kind=Campaign.Kind.AUTOMATION,
        mailing_lists=[],
        subject="Dein Code: {{ subscriber.referral_reward_code }}",
    )
    ArticleFactory(campaign=thanks, headline="Danke! Code {{ subscriber.referral_reward_code }}")
    active_automation(
        trigger_kind=triggers.MILESTONE_REACHED,
        trigger_params={"milestone": milestone.pk},
        steps=[{"kind": "mail", "campaign": thanks.pk}],
    )
    credit(referrer, mailing_list)
    run_due()
    while sending.delivery_batch_send(campaign_id=thanks.pk).more_to_send:
        pass
    (message,) = mail.outbox
    assert message.to == [f"{referrer.first_name} {referrer.last_name} <{referrer.email}>"]
    assert message.subject == "Dein Code: DANKE-9Q2P"
    assert "Danke! Code DANKE-9Q2P" in message.body
