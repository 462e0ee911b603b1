from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from offers.models import CouponAssignment, Offer
from subscribers.models import MailingList, Subscriber, Tag


def reward_choices():
    from referrals.rewards import REWARDS

    return [(key, reward.label) for key, reward in REWARDS.items()]


class Milestone(models.Model):
    """A number of credited referrals that earns a reward, once per referrer."""

    referrals = models.PositiveIntegerField(_("credited referrals"), unique=True)
    reward = models.CharField(_("reward"), max_length=32, choices=reward_choices, default="tag")
    tag = models.ForeignKey(
        Tag, verbose_name=_("tag given"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    offer = models.ForeignKey(
        Offer,
        verbose_name=_("offer whose code is given"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For the reward “a coupon from a pool”: each referrer gets one unique code of this offer."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("referral milestone")
        verbose_name_plural = _("referral milestones")
        ordering = ["referrals"]

    def __str__(self):
        return _("%(count)d referrals") % {"count": self.referrals}

    def clean(self):
        errors = {}
        if self.reward == "tag" and self.tag_id is None:
            errors["tag"] = _("Choose the tag this milestone gives.")
        if self.reward == "coupon" and (self.offer is None or self.offer.code_source != Offer.CodeSource.POOL):
            errors["offer"] = _("Choose an offer with a pool of unique codes.")
        if self.referrals == 0:
            errors["referrals"] = _("A milestone needs at least one credited referral.")
        if errors:
            raise ValidationError(errors)


class Referral(models.Model):
    """One person who signed up through someone's referral link, and what became of the credit."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending confirmation")
        CREDITED = "credited", _("credited")
        REJECTED = "rejected", _("rejected")
        REVOKED = "revoked", _("revoked")

    class Reason(models.TextChoices):
        NONE = "", _("none")
        SAME_ADDRESS = "same_address", _("self-referral: the same address (plus sign or Gmail dots)")
        SAME_IP = "same_ip", _("self-referral: the same IP address as the referrer")
        SAME_DEVICE = "same_device", _("self-referral: the referrer's own browser")
        DISPOSABLE = "disposable", _("throwaway address domain")
        KNOWN = "known", _("the invitee had subscribed before")
        DAILY_CAP = "daily_cap", _("the referrer reached the daily limit of credits")
        UNSUBSCRIBED = "unsubscribed", _("the invitee unsubscribed soon after")
        BOUNCED = "bounced", _("the invitee's address bounced or complained soon after")

    # Both sides are set to NULL when that person is erased: the rest is counts, not personal data.
    referrer = models.ForeignKey(
        Subscriber, verbose_name=_("referrer"), on_delete=models.SET_NULL, null=True, related_name="referrals_made"
    )
    invitee = models.ForeignKey(
        Subscriber, verbose_name=_("invitee"), on_delete=models.SET_NULL, null=True, related_name="referrals_received"
    )
    mailing_list = models.ForeignKey(MailingList, verbose_name=_("mailing list"), on_delete=models.CASCADE)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices, blank=True, default="")
    created_at = models.DateTimeField(_("signed up at"), auto_now_add=True, db_index=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    credited_at = models.DateTimeField(_("credited at"), null=True, blank=True, db_index=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The first referral link an invitee used for a list is the one that counts.
            models.UniqueConstraint(fields=["invitee", "mailing_list"], name="referrals_one_per_invitee_and_list"),
        ]
        indexes = [models.Index(fields=["referrer", "status"])]

    def __str__(self):
        return f"{self.get_status_display()} {self.created_at:%Y-%m-%d}"


class MilestoneReward(models.Model):
    """A milestone reached by a referrer: the row exists once, so the reward is given once.

    A reward that cannot be given yet (an empty pool) stays pending with its reason; the beat task
    ``referrals.tasks.retry_pending_rewards`` tries again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        GIVEN = "given", _("given")

    class Reason(models.TextChoices):
        NONE = "", _("none")
        POOL_EMPTY = "pool_empty", _("the offer's pool has no free code left; add codes and it is given")
        OFFER_ENDED = "offer_ended", _("the offer has ended; choose a running offer for the milestone")
        NO_OFFER = "no_offer", _("the milestone names no offer with a pool of codes")

    referrer = models.ForeignKey(
        Subscriber, verbose_name=_("referrer"), on_delete=models.CASCADE, related_name="referral_rewards"
    )
    milestone = models.ForeignKey(Milestone, verbose_name=_("milestone"), on_delete=models.PROTECT)
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(_("why pending"), max_length=16, choices=Reason.choices, blank=True, default="")
    given_at = models.DateTimeField(_("given at"), null=True, blank=True)
    # The code of a coupon reward: one column, so one code per reward; the assignment's unique
    # coupon keeps the code from anyone else.
    coupon_assignment = models.OneToOneField(
        CouponAssignment,
        verbose_name=_("coupon"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="milestone_reward",
    )

    class Meta:
        verbose_name = _("referral reward")
        verbose_name_plural = _("referral rewards")
        ordering = ["-granted_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["referrer", "milestone"], name="referrals_reward_once_per_milestone"),
        ]
        indexes = [models.Index(fields=["status"], name="referrals_reward_status")]

    def __str__(self):
        return str(self.milestone)


class ReferralVisit(models.Model):
    """How often a referrer's link led someone to the sign-up page, per day (the funnel's first step).

    Counted by a POST the sign-up page sends from the browser (``referrals/static/referrals/visit.js``),
    never by the GET: scanners and link previews do not run it.
    """

    referrer = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="+")
    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    visits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["referrer", "mailing_list", "day"], name="referrals_visit_per_day"),
        ]

    def __str__(self):
        return f"{self.day}: {self.visits}"
