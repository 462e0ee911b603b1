from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Delivery
from subscribers.models import Subscriber

CODE_MAX_LENGTH = 64


def code_key(code: str) -> str:
    """How a code is looked up: without surrounding space, case-insensitive."""
    return code.strip().upper()


class Offer(models.Model):
    """Something a mail offers: a landing page, terms, a deadline and the codes that unlock it."""

    class CodeSource(models.TextChoices):
        POOL = "pool", _("unique codes from a pool")
        SHARED = "shared", _("one shared code")

    name = models.CharField(_("name"), max_length=200)
    landing_url = models.URLField(_("landing page"), max_length=2000)
    terms = models.TextField(_("terms"), blank=True)
    expires_at = models.DateTimeField(_("ends at"))
    successor = models.ForeignKey(
        "self",
        verbose_name=_("successor offer"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="predecessors",
        help_text=_("Shown on the “offer ended” page after the deadline."),
    )
    code_source = models.CharField(_("codes"), max_length=8, choices=CodeSource.choices, default=CodeSource.POOL)
    low_pool_threshold = models.PositiveIntegerField(
        _("warn when fewer codes are left than"),
        default=0,
        help_text=_("Staff get one mail each time the pool falls below this number; 0 for never."),
    )
    # Set when the low-pool mail went out; cleared when the pool is above the threshold again, so
    # the next crossing warns again.
    low_pool_warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["-expires_at"]

    def __str__(self):
        return self.name

    def has_ended(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at


class Coupon(models.Model):
    """One code of an offer: one of a pool's unique codes, or the offer's one shared code."""

    offer = models.ForeignKey(Offer, verbose_name=_("offer"), on_delete=models.CASCADE, related_name="coupons")
    code = models.CharField(
        _("code"),
        max_length=CODE_MAX_LENGTH,
        validators=[RegexValidator(r"^[^\s,;]+$", _("A code has no spaces, commas or semicolons."))],
    )
    # code_key(code): unique per offer, and what a redemption looks codes up by.
    lookup = models.CharField(max_length=CODE_MAX_LENGTH, editable=False, db_index=True)
    created_at = models.DateTimeField(_("added at"), default=timezone.now)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        constraints = [models.UniqueConstraint(fields=["offer", "lookup"], name="offers_coupon_unique_per_offer")]

    def __str__(self):
        return self.code

    def save(self, *args, **kwargs):
        self.lookup = code_key(self.code)
        super().save(*args, **kwargs)


class CouponAssignment(models.Model):
    """A pool code given away: each code at most once. Either to one delivery (each delivery at most
    one code; written by the sending path) or, without a delivery, to one subscriber (a referral
    reward, ``offers.services.claims.coupon_claim``). The pool counts it as used."""

    coupon = models.OneToOneField(Coupon, verbose_name=_("coupon"), on_delete=models.CASCADE, related_name="assignment")
    delivery = models.OneToOneField(
        Delivery,
        verbose_name=_("delivery"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="coupon_assignment",
    )
    # Set for codes given outside a mail (a referral reward); NULL once that person is erased.
    subscriber = models.ForeignKey(
        Subscriber,
        verbose_name=_("subscriber"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="coupon_assignments",
    )
    assigned_at = models.DateTimeField(_("assigned at"), default=timezone.now)

    class Meta:
        verbose_name = _("coupon assignment")
        verbose_name_plural = _("coupon assignments")

    def __str__(self):
        return f"{self.coupon_id} → {self.delivery_id}"


class Redemption(models.Model):
    """A code used in the shop. One per unique code, one per subscriber (or order) for a shared code."""

    class Source(models.TextChoices):
        API = "api", _("shop (API)")
        CSV = "csv", _("CSV upload")
        MANUAL = "manual", _("by staff")

    offer = models.ForeignKey(Offer, verbose_name=_("offer"), on_delete=models.CASCADE, related_name="redemptions")
    coupon = models.ForeignKey(Coupon, verbose_name=_("coupon"), on_delete=models.CASCADE, related_name="redemptions")
    # The offer's code source when redeemed: the constraints below depend on it.
    shared = models.BooleanField(editable=False)
    order_ref = models.CharField(_("order"), max_length=200, blank=True)
    order_value = models.DecimalField(
        _("order value"), max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(
        _("currency"),
        max_length=3,
        blank=True,
        validators=[RegexValidator(r"^[A-Z]{3}$", _("An ISO 4217 code such as EUR."))],
    )
    source = models.CharField(_("reported by"), max_length=8, choices=Source.choices)
    redeemed_at = models.DateTimeField(_("redeemed at"), default=timezone.now, db_index=True)
    subscriber = models.ForeignKey(
        Subscriber,
        verbose_name=_("subscriber"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="redemptions",
    )
    delivery = models.ForeignKey(
        Delivery, verbose_name=_("delivery"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-redeemed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["coupon"], condition=Q(shared=False), name="offers_redemption_once_per_unique_code"
            ),
            models.UniqueConstraint(
                fields=["offer", "subscriber"],
                condition=Q(shared=True, subscriber__isnull=False),
                name="offers_redemption_shared_once_per_subscriber",
            ),
            models.UniqueConstraint(
                fields=["offer", "order_ref"],
                condition=Q(shared=True) & ~Q(order_ref=""),
                name="offers_redemption_shared_once_per_order",
            ),
        ]

    def __str__(self):
        return f"{self.coupon} ({self.redeemed_at:%Y-%m-%d})"


class CampaignOffer(models.Model):
    """The offer in a campaign or automation mail: its block, and each delivery's own code at send time.

    One per mail, not per article: a delivery gets at most one code (``CouponAssignment``).
    """

    campaign = models.OneToOneField(
        Campaign,
        verbose_name=_("campaign or automation mail"),
        on_delete=models.CASCADE,
        related_name="offer_block",
    )
    offer = models.ForeignKey(Offer, verbose_name=_("offer"), on_delete=models.PROTECT, related_name="mail_blocks")

    class Meta:
        verbose_name = _("offer in a mail")
        verbose_name_plural = _("offers in mails")

    def __str__(self):
        return f"{self.campaign} → {self.offer}"
