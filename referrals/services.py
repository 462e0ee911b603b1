"""Writes of the referral programme: a referral at sign-up, its credit at confirmation, revocation,
milestone rewards, visit counts and erasure."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from referrals import rules, signals
from referrals.models import Milestone, MilestoneReward, Referral, ReferralVisit
from referrals.rewards import REWARDS
from subscribers.models import ConsentRecord, MailingList, Subscriber, Subscription

logger = logging.getLogger(__name__)

# A consent record of these actions within KANAL_REFERRAL_REVOKE_DAYS of the credit takes it back.
LEAVING = {
    ConsentRecord.Action.UNSUBSCRIBE: Referral.Reason.UNSUBSCRIBED,
    ConsentRecord.Action.BOUNCE: Referral.Reason.BOUNCED,
    ConsentRecord.Action.COMPLAINT: Referral.Reason.BOUNCED,
}


def self_window() -> timedelta:
    return timedelta(days=settings.KANAL_REFERRAL_SELF_WINDOW_DAYS)


def _referrer_ips(referrer: Subscriber, *, now) -> set[str]:
    """The addresses the referrer's own consent records came from within the window."""
    return set(
        ConsentRecord.objects.filter(subscriber=referrer, occurred_at__gte=now - self_window())
        .exclude(ip_address=None)
        .values_list("ip_address", flat=True)
    )


def _signup_reason(*, referrer: Subscriber, invitee: Subscriber, ip_address, same_device: bool, now) -> str:
    """Why a sign-up through a referral link earns nothing, or "" when it may earn a credit."""
    if referrer.pk == invitee.pk or rules.address_family(referrer.email) == rules.address_family(invitee.email):
        return Referral.Reason.SAME_ADDRESS
    if same_device:
        return Referral.Reason.SAME_DEVICE
    if ip_address and ip_address in _referrer_ips(referrer, now=now):
        return Referral.Reason.SAME_IP
    if rules.is_disposable(invitee.email):
        return Referral.Reason.DISPOSABLE
    known = ConsentRecord.objects.filter(
        subscriber=invitee, action__in=[ConsentRecord.Action.CONFIRM, ConsentRecord.Action.IMPORT]
    )
    if known.exists():
        return Referral.Reason.KNOWN
    return Referral.Reason.NONE


def referral_record(*, subscription: Subscription, consent_record: ConsentRecord) -> Referral | None:
    """A sign-up whose consent record names a referral (``referrals.pages.signup_details``) becomes a
    pending Referral, or a rejected one with its reason. Runs inside the sign-up's transaction.

    The first referral of an invitee for a list stays: a second link used later changes nothing.
    """
    data = (consent_record.details or {}).get("referral")
    if not isinstance(data, dict):
        return None
    referrer = Subscriber.objects.filter(pk=data.get("referrer")).first()
    if referrer is None:
        return None
    invitee = subscription.subscriber
    existing = Referral.objects.filter(invitee=invitee, mailing_list_id=subscription.mailing_list_id).first()
    if existing is not None:
        return existing
    reason = _signup_reason(
        referrer=referrer,
        invitee=invitee,
        ip_address=consent_record.ip_address,
        same_device=data.get("same_device") is True,
        now=timezone.now(),
    )
    return Referral.objects.create(
        referrer=referrer,
        invitee=invitee,
        mailing_list_id=subscription.mailing_list_id,
        status=Referral.Status.REJECTED if reason else Referral.Status.PENDING,
        reason=reason,
    )


def referral_credit(*, subscription: Subscription) -> Referral | None:
    """Credit the pending referral of a subscription that was just confirmed (double opt-in done),
    unless the confirmation came from the referrer's IP address or the referrer had the day's
    share of credits. Runs inside the confirmation's transaction; the referrer's row is locked, so
    two confirmations at once cannot both pass the daily limit."""
    referral = (
        Referral.objects.select_for_update()
        .filter(
            invitee_id=subscription.subscriber_id,
            mailing_list_id=subscription.mailing_list_id,
            confirmed_at=None,
            status__in=[Referral.Status.PENDING, Referral.Status.REJECTED],
        )
        .first()
    )
    if referral is None:
        return None
    now = timezone.now()
    referral.confirmed_at = now
    if referral.status == Referral.Status.REJECTED:  # rejected at sign-up; the funnel still counts it
        referral.save(update_fields=["confirmed_at"])
        return referral
    referrer = Subscriber.objects.select_for_update().filter(pk=referral.referrer_id).first()
    if referrer is None:  # erased meanwhile: nobody to credit
        referral.status = Referral.Status.REJECTED
        referral.save(update_fields=["confirmed_at", "status"])
        return referral
    confirm_ip = (
        ConsentRecord.objects.filter(
            subscriber_id=subscription.subscriber_id,
            mailing_list_id=subscription.mailing_list_id,
            action=ConsentRecord.Action.CONFIRM,
        )
        .order_by("-pk")
        .values_list("ip_address", flat=True)
        .first()
    )
    credited_today = Referral.objects.filter(referrer=referrer, credited_at__gte=now - timedelta(days=1)).count()
    if confirm_ip and confirm_ip in _referrer_ips(referrer, now=now):
        referral.status, referral.reason = Referral.Status.REJECTED, Referral.Reason.SAME_IP
    elif credited_today >= settings.KANAL_REFERRAL_CREDITS_PER_DAY:
        referral.status, referral.reason = Referral.Status.REJECTED, Referral.Reason.DAILY_CAP
    else:
        referral.status, referral.credited_at = Referral.Status.CREDITED, now
    referral.save(update_fields=["confirmed_at", "status", "reason", "credited_at"])
    if referral.status == Referral.Status.CREDITED:
        milestones_grant(referrer=referrer)
    return referral


def milestones_grant(*, referrer: Subscriber) -> list[MilestoneReward]:
    """Give every active milestone the referrer's credited referrals have reached and that they have
    not had yet. The unique (referrer, milestone) row makes each reward happen once, also when two
    credits race or a revoked credit is earned again. A reward that cannot be given yet (an empty
    pool) stays pending; ``reward_retry`` gives it later. Returns the rows created."""
    count = Referral.objects.filter(referrer=referrer, status=Referral.Status.CREDITED).count()
    reached = []
    due = Milestone.objects.filter(is_active=True, referrals__lte=count).exclude(
        pk__in=MilestoneReward.objects.filter(referrer=referrer).values("milestone_id")
    )
    for milestone in due.select_related("offer").order_by("referrals"):
        try:
            with transaction.atomic():
                reward = MilestoneReward.objects.create(referrer=referrer, milestone=milestone)
        except IntegrityError:
            continue
        _reward_give(reward, referrer=referrer, milestone=milestone)
        reached.append(reward)
    return reached


def _reward_give(reward: MilestoneReward, *, referrer: Subscriber, milestone: Milestone) -> bool:
    """Run the milestone's reward once more for a pending row; when it is given, mark the row and
    send ``milestone_reached`` (so a thank-you mail can show what was given). Returns whether given."""
    handler = REWARDS.get(milestone.reward)
    if handler is None:
        logger.warning("Milestone %s names an unknown reward %r", milestone.pk, milestone.reward)
        reason = ""
    else:
        reason = handler.grant(referrer=referrer, milestone=milestone, reward=reward)
    if reason:
        if reward.reason != reason:
            reward.reason = reason
            reward.save(update_fields=["reason"])
        return False
    reward.status, reward.reason, reward.given_at = MilestoneReward.Status.GIVEN, "", timezone.now()
    reward.save(update_fields=["status", "reason", "given_at"])
    signals.milestone_reached.send(sender=MilestoneReward, referrer=referrer, milestone=milestone, reward=reward)
    return True


def reward_retry(*, reward_id: int) -> bool:
    """Try a pending reward again (codes may have arrived); the row is locked, so two tries at once
    give it once. Returns whether it is given now."""
    with transaction.atomic():
        reward = MilestoneReward.objects.select_for_update().filter(pk=reward_id).first()
        if reward is None or reward.status != MilestoneReward.Status.PENDING:
            return False
        milestone = Milestone.objects.select_related("offer").get(pk=reward.milestone_id)
        return _reward_give(reward, referrer=reward.referrer, milestone=milestone)


def referrals_revoke(*, consent_record: ConsentRecord) -> int:
    """Take back the credits of an invitee who unsubscribed, bounced or complained within
    KANAL_REFERRAL_REVOKE_DAYS of the credit; returns how many. Rewards already given stay given."""
    reason = LEAVING.get(consent_record.action)
    if reason is None or consent_record.subscriber_id is None:
        return 0
    now = timezone.now()
    credited = Referral.objects.filter(
        invitee_id=consent_record.subscriber_id,
        status=Referral.Status.CREDITED,
        credited_at__gte=now - timedelta(days=settings.KANAL_REFERRAL_REVOKE_DAYS),
    )
    if consent_record.mailing_list_id is not None:
        credited = credited.filter(mailing_list_id=consent_record.mailing_list_id)
    return credited.update(status=Referral.Status.REVOKED, reason=reason, revoked_at=now)


def referral_visit_count(*, referrer: Subscriber, mailing_list: MailingList) -> None:
    """One more visit of the referrer's link today."""
    day = timezone.localdate()
    with transaction.atomic():
        updated = ReferralVisit.objects.filter(referrer=referrer, mailing_list=mailing_list, day=day).update(
            visits=F("visits") + 1
        )
        if updated:
            return
        try:
            with transaction.atomic():
                ReferralVisit.objects.create(referrer=referrer, mailing_list=mailing_list, day=day, visits=1)
        except IntegrityError:  # created by a request at the same moment
            ReferralVisit.objects.filter(referrer=referrer, mailing_list=mailing_list, day=day).update(
                visits=F("visits") + 1
            )


def subscriber_referrals_erase(subscriber: Subscriber) -> None:
    """GDPR erase hook: the referrals stay as anonymous counts; the person's side of each is cut,
    their visit counts and rewards go."""
    Referral.objects.filter(referrer=subscriber).update(referrer=None)
    Referral.objects.filter(invitee=subscriber).update(invitee=None)
    ReferralVisit.objects.filter(referrer=subscriber).delete()
    MilestoneReward.objects.filter(referrer=subscriber).delete()
