from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from subscribers.models import MailingList, Subscriber

HOURS = 24
WEEKDAYS = 7


def _zero_hours() -> list[float]:
    return [0.0] * HOURS


def _zero_weekdays() -> list[float]:
    return [0.0] * WEEKDAYS


class SendRules(models.Model):
    """Quiet hours and the weekend rule: a due time inside them moves to the next allowed moment,
    in the reader's time zone. Abstract: a campaign's own rules, and a list's defaults for them."""

    quiet_from = models.TimeField(
        _("quiet hours from"), null=True, blank=True, help_text=_("For example 21:00. Empty: no quiet hours.")
    )
    quiet_until = models.TimeField(_("quiet hours until"), null=True, blank=True, help_text=_("For example 08:00."))
    no_weekend = models.BooleanField(_("not on Saturdays and Sundays"), default=False)

    class Meta:
        abstract = True

    def clean(self):
        if (self.quiet_from is None) != (self.quiet_until is None):
            raise ValidationError({"quiet_until": _("Give both ends of the quiet hours, or neither.")})
        if self.quiet_from is not None and self.quiet_from == self.quiet_until:
            raise ValidationError({"quiet_until": _("Quiet hours must not start and end at the same time.")})

    @property
    def has_rules(self) -> bool:
        return self.quiet_from is not None or self.no_weekend


class CampaignSendTime(SendRules):
    """When each reader of a newsletter gets it: all at once (no row, or mode "at once"), at their
    best hour within a window, or at a fixed local time in their own time zone."""

    class Mode(models.TextChoices):
        AT_ONCE = "at_once", _("everyone as soon as sending starts")
        BEST_TIME = "best_time", _("each reader at their best time within the window")
        LIST_BEST_TIME = "list_best_time", _("everyone at the list's best time within the window")
        LOCAL_TIME = "local_time", _("at a fixed time in each reader's time zone")

    campaign = models.OneToOneField(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="send_time"
    )
    mode = models.CharField(_("send time"), max_length=16, choices=Mode.choices, default=Mode.AT_ONCE)
    window_hours = models.PositiveSmallIntegerField(
        _("window in hours"),
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(168)],
        help_text=_("Best time: each reader gets the mail within this many hours after the window starts."),
    )
    window_starts_at = models.DateTimeField(
        _("window starts at"), null=True, blank=True, help_text=_("Empty: when sending starts.")
    )
    local_time = models.TimeField(
        _("local time"),
        null=True,
        blank=True,
        help_text=_(
            "Fixed local time: for example 09:00 in each reader's time zone. Best time: the time for readers "
            "whose best time is not known yet (empty: as soon as the window starts)."
        ),
    )
    # Set when the campaign starts and its deliveries get their due times.
    scheduled_at = models.DateTimeField(_("due times assigned at"), null=True, blank=True, editable=False)
    zone_fallbacks = models.PositiveIntegerField(_("readers with an unknown time zone"), default=0, editable=False)
    own_profiles = models.PositiveIntegerField(_("readers at their own best time"), default=0, editable=False)
    list_profiles = models.PositiveIntegerField(_("readers at the list's best time"), default=0, editable=False)
    campaign_times = models.PositiveIntegerField(_("readers at the campaign's time"), default=0, editable=False)

    class Meta:
        verbose_name = _("send time")
        verbose_name_plural = _("send times")
        constraints = [
            models.CheckConstraint(condition=models.Q(window_hours__gte=1), name="send_time_window_at_least_an_hour")
        ]

    def __str__(self):
        return str(self.get_mode_display())

    def clean(self):
        super().clean()
        if self.window_hours is not None and self.window_hours < 1:
            raise ValidationError({"window_hours": _("The window must be at least one hour long.")})
        if self.mode == self.Mode.LOCAL_TIME and self.local_time is None:
            raise ValidationError({"local_time": _("Give the local time to send at, for example 09:00.")})
        if self.mode in (self.Mode.BEST_TIME, self.Mode.LIST_BEST_TIME) and self.window_starts_at and self.window_hours:
            ends_at = self.window_starts_at + timedelta(hours=self.window_hours)
            if ends_at <= timezone.now():
                raise ValidationError(
                    {"window_starts_at": _("This window ended already; move its start or make it longer.")}
                )


class ListSendRules(SendRules):
    """A list's default quiet hours and weekend rule, for campaigns that set none of their own."""

    mailing_list = models.OneToOneField(
        MailingList, verbose_name=_("mailing list"), on_delete=models.CASCADE, related_name="send_rules"
    )

    class Meta:
        verbose_name = _("default quiet hours")
        verbose_name_plural = _("default quiet hours")

    def __str__(self):
        return str(self.mailing_list)


class SendTimeProfile(models.Model):
    """When a reader reads: recency-weighted counts of their human opens, clicks and answers by
    local hour and weekday, as of ``updated_at`` (older weight halves every half-life)."""

    subscriber = models.OneToOneField(
        Subscriber,
        verbose_name=_("subscriber"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="send_time_profile",
    )
    hour_weights = models.JSONField(_("weight per local hour"), default=_zero_hours)
    weekday_weights = models.JSONField(_("weight per weekday"), default=_zero_weekdays)
    total_weight = models.FloatField(_("total weight"), default=0.0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("send-time profile")
        verbose_name_plural = _("send-time profiles")

    def __str__(self):
        return str(self.subscriber_id)
