from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from experiments import stats
from subscribers.models import Subscriber

LETTERS = ("A", "B", "C", "D")


class ABTest(models.Model):
    """A test of 2–4 variants of a campaign on a share of its audience; the winner goes to the rest.

    The base campaign itself is never sent: each variant sends as its own copy of it (``Variant.campaign``).
    """

    class Metric(models.TextChoices):
        CLICKS = "clicks", _("human unique clicks")
        ANSWERS = "answers", _("survey answers")
        REDEMPTIONS = "redemptions", _("offer redemptions")
        OPENS = "opens", _("human opens (inflated by machines, see warning)")

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        TESTING = "testing", _("testing")
        DECIDED = "decided", _("decided")
        WINNER_SENT = "winner_sent", _("winner sent to the rest")

    class Fallback(models.TextChoices):
        BEST_SO_FAR = stats.Fallback.BEST_SO_FAR.value, _("the best variant so far")
        VARIANT_A = stats.Fallback.VARIANT_A.value, _("variant A")

    campaign = models.OneToOneField(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.PROTECT,
        related_name="ab_test",
        help_text=_("The campaign to test: its audience, content and settings; the variants change parts of it."),
    )
    test_share = models.PositiveSmallIntegerField(
        _("test share (%)"),
        default=20,
        validators=[MinValueValidator(5), MaxValueValidator(50)],
        help_text=_("The share of the audience that gets a variant, split evenly; the rest gets the winner."),
    )
    metric = models.CharField(_("winner metric"), max_length=16, choices=Metric.choices, default=Metric.CLICKS)
    minimum_sample = models.PositiveIntegerField(
        _("minimum sample per variant"),
        default=stats.DEFAULT_MINIMUM_SAMPLE,
        validators=[MinValueValidator(100)],
        help_text=_("No winner is named before every variant was sent to at least this many subscribers."),
    )
    threshold = models.DecimalField(
        _("probability to be best needed"),
        max_digits=4,
        decimal_places=3,
        default=Decimal(str(stats.DEFAULT_THRESHOLD)),
        validators=[MinValueValidator(Decimal("0.99")), MaxValueValidator(Decimal("0.999"))],
        help_text=_("At least 0.99: with lower values, looking at the figures several times names false winners."),
    )
    duration = models.DurationField(
        _("test duration"),
        default=timedelta(hours=4),
        help_text=_("After this long from the start, the fallback is sent when there is still no clear winner."),
    )
    fallback = models.CharField(
        _("after the deadline send"), max_length=16, choices=Fallback.choices, default=Fallback.BEST_SO_FAR
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True, editable=False)
    # How many of the planned looks (stats: PLANNED_LOOKS) the evaluation has taken.
    looks_taken = models.PositiveSmallIntegerField(_("looks taken"), default=0, editable=False)
    decided_variant = models.ForeignKey(
        "Variant",
        verbose_name=_("winner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True, editable=False)
    decided_by_fallback = models.BooleanField(_("chosen by the fallback"), default=False, editable=False)
    winner_sent_at = models.DateTimeField(_("winner sent at"), null=True, blank=True, editable=False)
    # Each variant's figures at the decision, by letter: once the winner goes to the rest, its
    # campaign's figures include the rest's, so the results page shows the test as it was decided.
    decision_figures = models.JSONField(_("figures at the decision"), default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("A/B test")
        verbose_name_plural = _("A/B tests")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(test_share__gte=5, test_share__lte=50), name="ab_test_share_5_to_50"
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["decided", "winner_sent"]) | models.Q(decided_variant__isnull=False),
                name="ab_test_decided_has_winner",
            ),
        ]

    def __str__(self):
        return str(self.campaign)

    @property
    def deadline(self):
        return self.started_at + self.duration if self.started_at else None

    def clean(self):
        if self.duration is not None and self.duration < timedelta(hours=1):
            raise ValidationError({"duration": _("A test needs at least an hour for people to read and click.")})


class Variant(models.Model):
    """One version of the test's mail. Empty fields keep the campaign's; ``content_from`` takes the
    articles of another campaign. Sent as its own copy of the campaign, made when the test starts."""

    ab_test = models.ForeignKey(ABTest, verbose_name=_("A/B test"), on_delete=models.CASCADE, related_name="variants")
    letter = models.CharField(_("variant"), max_length=1, choices=[(letter, letter) for letter in LETTERS])
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    preheader = models.CharField(_("preheader"), max_length=255, blank=True)
    from_name = models.CharField(_("sender name"), max_length=100, blank=True)
    content_from = models.ForeignKey(
        Campaign,
        verbose_name=_("articles from"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Whole-content variant: the articles of this campaign or template instead of the tested one's."),
    )
    campaign = models.OneToOneField(
        Campaign,
        verbose_name=_("sent as"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="ab_variant",
    )

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["ab_test", "letter"]
        constraints = [models.UniqueConstraint(fields=["ab_test", "letter"], name="one_variant_per_letter")]

    def __str__(self):
        return _("Variant %(letter)s") % {"letter": self.letter}


class GroupMember(models.Model):
    """A subscriber the split put into a variant's test group (the rest has no rows)."""

    ab_test = models.ForeignKey(ABTest, on_delete=models.CASCADE, related_name="members")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="members")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ab_test", "subscriber"], name="one_test_group_per_subscriber")]

    def __str__(self):
        return f"{self.ab_test_id}/{self.variant_id}/{self.subscriber_id}"
