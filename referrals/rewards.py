"""What a milestone can give. Another app adds its kind with ``reward_register`` in its
``AppConfig.ready()``; ``Milestone.reward`` offers every registered key."""

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from offers.models import Offer
from offers.services.claims import coupon_claim
from referrals.models import MilestoneReward


@dataclass(frozen=True)
class Reward:
    key: str
    label: object
    # grant(referrer=Subscriber, milestone=Milestone, reward=MilestoneReward) -> str: runs inside
    # the transaction that credits the referral (or retries a pending reward) with the reward row
    # locked. Returns "" when the reward is given, or a ``MilestoneReward.Reason`` to leave it
    # pending and be called again later (so it must be safe to call again).
    grant: Callable[..., str]


REWARDS: dict[str, Reward] = {}


def reward_register(reward: Reward) -> None:
    REWARDS[reward.key] = reward


def _tag_grant(*, referrer, milestone, reward) -> str:
    if milestone.tag_id:
        referrer.tags.add(milestone.tag_id)
    return ""


def _nothing_grant(**kwargs) -> str:
    return ""


def _coupon_grant(*, referrer, milestone, reward) -> str:
    """One unique code of the milestone's offer, claimed once: a reward that has one keeps it."""
    if reward.coupon_assignment_id is not None:
        return ""
    offer = milestone.offer
    if offer is None or offer.code_source != Offer.CodeSource.POOL:
        return MilestoneReward.Reason.NO_OFFER
    if offer.has_ended():
        return MilestoneReward.Reason.OFFER_ENDED
    assignment = coupon_claim(offer=offer, subscriber=referrer)
    if assignment is None:
        return MilestoneReward.Reason.POOL_EMPTY
    reward.coupon_assignment = assignment
    reward.save(update_fields=["coupon_assignment"])
    return ""


def register_builtin_rewards() -> None:
    reward_register(Reward("tag", _("a tag (chosen below)"), _tag_grant))
    reward_register(Reward("coupon", _("a coupon from a pool (the offer chosen below)"), _coupon_grant))
    reward_register(Reward("none", _("nothing but the signal (e.g. for an automation)"), _nothing_grant))
