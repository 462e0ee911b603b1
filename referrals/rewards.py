"""What a milestone can give. Another app (coupons, later) adds its kind with ``reward_register``
in its ``AppConfig.ready()``; ``Milestone.reward`` offers every registered key."""

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Reward:
    key: str
    label: object
    # grant(referrer=Subscriber, milestone=Milestone): runs once per (referrer, milestone), inside
    # the transaction that credits the referral.
    grant: Callable[..., None]


REWARDS: dict[str, Reward] = {}


def reward_register(reward: Reward) -> None:
    REWARDS[reward.key] = reward


def _tag_grant(*, referrer, milestone) -> None:
    if milestone.tag_id:
        referrer.tags.add(milestone.tag_id)


def register_builtin_rewards() -> None:
    reward_register(Reward("tag", _("a tag (chosen below)"), _tag_grant))
    reward_register(Reward("none", _("nothing but the signal (e.g. for an automation)"), lambda **kwargs: None))
