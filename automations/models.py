"""Automations: a trigger, an entry rule and a list of steps that each subscriber walks as a journey.

See docs/architecture.md, Automations.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audience.models import Segment
from campaigns.models import Delivery
from subscribers.models import Subscriber


class Automation(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")
        ARCHIVED = "archived", _("archived")

    class Reentry(models.TextChoices):
        NEVER = "never", _("never")
        AFTER_FINISHED = "after_finished", _("after a journey that reached the end")
        WHEN_NOT_IN_IT = "when_not_in_it", _("whenever not in it")

    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    trigger_kind = models.CharField(_("trigger"), max_length=50)
    trigger_params = models.JSONField(_("trigger parameters"), default=dict, blank=True)
    entry_segment = models.ForeignKey(
        Segment,
        verbose_name=_("entry segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Only members of this segment enter."),
    )
    reentry = models.CharField(_("re-entry"), max_length=16, choices=Reentry.choices, default=Reentry.NEVER)
    # The steps being edited; activation freezes them into an AutomationVersion.
    steps = models.JSONField(_("steps"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("automation")
        verbose_name_plural = _("automations")
        ordering = ["name"]

    def __str__(self):
        return self.name


class AutomationVersion(models.Model):
    """The steps as they were when activated; journeys keep the version they entered."""

    automation = models.ForeignKey(
        Automation, verbose_name=_("automation"), on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("number"))
    steps = models.JSONField(_("steps"), default=list)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("automation version")
        verbose_name_plural = _("automation versions")
        ordering = ["automation", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["automation", "number"], name="one_automation_version_per_number")
        ]

    def __str__(self):
        return f"{self.automation} v{self.number}"


class Journey(models.Model):
    """One subscriber's way through one version of an automation."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        FINISHED = "finished", _("finished")
        EXITED = "exited", _("exited")

    automation = models.ForeignKey(
        Automation, verbose_name=_("automation"), on_delete=models.CASCADE, related_name="journeys"
    )
    # CASCADE, not PROTECT: versions go only with their automation, which takes its journeys too.
    version = models.ForeignKey(
        AutomationVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="journeys"
    )
    # Indexed by (subscriber, automation) below, which also serves every lookup by subscriber.
    subscriber = models.ForeignKey(
        Subscriber, verbose_name=_("subscriber"), on_delete=models.CASCADE, related_name="journeys", db_index=False
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    step_index = models.PositiveIntegerField(_("current step"), default=0)
    due_at = models.DateTimeField(_("due at"))
    attempts = models.PositiveIntegerField(_("failed attempts at the current step"), default=0)
    entered_at = models.DateTimeField(_("entered at"), auto_now_add=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    exited_reason = models.CharField(_("exit reason"), max_length=100, blank=True)
    # What the REST API sent with an enrolment, for the mails' {{ subscriber.payload.<key> }}.
    payload = models.JSONField(_("payload"), default=dict, db_default=models.Value({}, models.JSONField()), blank=True)

    class Meta:
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")
        ordering = ["-entered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["automation", "subscriber"],
                condition=models.Q(status="active"),
                name="one_active_journey_per_subscriber",
            )
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            # The entry's re-entry check, one probe per candidate: with only single-column indexes
            # PostgreSQL ANDed two bitmaps of every journey of the automation per candidate.
            models.Index(fields=["subscriber", "automation"], name="journey_subscriber_automation"),
        ]

    def __str__(self):
        return f"{self.subscriber} in {self.automation}"


class JourneyStepRun(models.Model):
    """That a journey ran one step: written in the same transaction as the step's effect, once."""

    class Status(models.TextChoices):
        DONE = "done", _("done")
        SKIPPED = "skipped", _("skipped")

    journey = models.ForeignKey(Journey, verbose_name=_("journey"), on_delete=models.CASCADE, related_name="step_runs")
    # A journey moved to a newer version runs that version's steps afresh (services.journeys_move).
    version = models.ForeignKey(
        AutomationVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="step_runs"
    )
    step_index = models.PositiveIntegerField(_("step"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DONE)
    ran_at = models.DateTimeField(_("ran at"), auto_now_add=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    # The mail a mail step queued; its opens, clicks and answers are the step's figures.
    delivery = models.OneToOneField(
        Delivery, verbose_name=_("delivery"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("step run")
        verbose_name_plural = _("step runs")
        ordering = ["journey", "step_index"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "version", "step_index"], name="one_run_per_journey_step"),
        ]

    def __str__(self):
        return f"{self.journey} #{self.step_index}"


class SegmentTriggerMember(models.Model):
    """That a subscriber was in the trigger segment of a "joined a segment" automation at its last
    evaluation; a member now who has no row has joined since (``services.segment_triggers_evaluate``)."""

    automation = models.ForeignKey(
        Automation, verbose_name=_("automation"), on_delete=models.CASCADE, related_name="segment_members"
    )
    subscriber = models.ForeignKey(Subscriber, verbose_name=_("subscriber"), on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)

    class Meta:
        verbose_name = _("segment trigger member")
        verbose_name_plural = _("segment trigger members")
        constraints = [
            models.UniqueConstraint(fields=["automation", "subscriber"], name="one_segment_member_per_automation")
        ]

    def __str__(self):
        return f"{self.subscriber} in {self.automation}"
