"""A campaign's status machine: duplicate, schedule, cancel.

Pause, resume and send-now belong to the sending pipeline and join this module with it.
Every transition locks the campaign row, so two staff members clicking at once cannot both win.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audience.services import segment_create
from campaigns.checklist import ChecklistItem, campaign_checklist
from campaigns.models import Article, Campaign

Status = Campaign.Status

# Where each transition may start from.
SCHEDULABLE = (Status.DRAFT, Status.SCHEDULED)
CANCELLABLE = (Status.DRAFT, Status.SCHEDULED, Status.SENDING, Status.PAUSED)


class CampaignStateError(ValidationError):
    """The campaign is not in a state that allows the requested change."""


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


@transaction.atomic
def campaign_duplicate(*, campaign: Campaign) -> Campaign:
    """A new draft with the same content and audience; its articles get new public ids. A template's
    copy is a template."""
    copy = Campaign(
        name=_("Copy of %(name)s") % {"name": campaign.name},
        kind=campaign.kind,
        is_template=campaign.is_template,
        subject=campaign.subject,
        preheader=campaign.preheader,
        from_name=campaign.from_name,
        from_email=campaign.from_email,
        reply_to=campaign.reply_to,
        language=campaign.language,
        archive_enabled=campaign.archive_enabled,
        sharing_enabled=campaign.sharing_enabled,
        article_feedback_enabled=campaign.article_feedback_enabled,
        brand=campaign.brand,
        layout=campaign.layout,
        custom_layout=campaign.custom_layout,
        min_engagement_score=campaign.min_engagement_score,
        segment=campaign.segment,
        exclusion_segment=campaign.exclusion_segment,
    )
    copy.name = copy.name[: Campaign._meta.get_field("name").max_length]
    copy.full_clean()
    copy.save()
    copy.mailing_lists.set(campaign.mailing_lists.all())
    copy.include_tags.set(campaign.include_tags.all())
    copy.exclude_tags.set(campaign.exclude_tags.all())
    articles_copy(source=campaign, target=copy)
    return copy


def articles_copy(*, source: Campaign, target: Campaign) -> None:
    """Copies of the source's articles on the target, with new public ids (and the same image files)."""
    Article.objects.bulk_create(
        [
            Article(
                campaign=target,
                position=article.position,
                headline=article.headline,
                body=article.body,
                library_image_id=article.library_image_id,
                image=article.image.name if article.image else "",
                image_url=article.image_url,
                image_alt=article.image_alt,
                link_url=article.link_url,
                cta_text=article.cta_text,
                segment_id=article.segment_id,
            )
            for article in source.articles.all()
        ]
    )


class FollowUp:
    """Who a follow-up campaign goes to: recipients of the first who did not open, or did not click."""

    NOT_OPENED = "not_opened"
    NOT_CLICKED = "not_clicked"
    # Condition kinds registered by tracking (``tracking.conditions``), named here only by key.
    KINDS = {NOT_OPENED: "not_opened_campaign", NOT_CLICKED: "not_clicked_campaign"}
    CHOICES = ((NOT_OPENED, gettext_lazy("did not open it")), (NOT_CLICKED, gettext_lazy("did not click in it")))
    # Whole sentences per reaction, so translations need not glue fragments.
    SEGMENT_NAMES = {
        NOT_OPENED: gettext_lazy("Received “%(name)s” and did not open it"),
        NOT_CLICKED: gettext_lazy("Received “%(name)s” and did not click in it"),
    }
    CAMPAIGN_NAMES = {
        NOT_OPENED: gettext_lazy("%(name)s: to those who did not open it"),
        NOT_CLICKED: gettext_lazy("%(name)s: to those who did not click in it"),
    }


@transaction.atomic
def campaign_follow_up(*, campaign: Campaign, reaction: str, subject: str) -> Campaign:
    """A draft copy of a sent campaign for the recipients who did not open (or did not click) it,
    people's events only: its audience is exactly the segment "received the campaign and did not
    open / click it", within the same lists (someone who left them since gets nothing).
    Tags, score and exclusion segment are not copied: the first campaign's audience is already in
    "received"."""
    if campaign.status != Status.SENT:
        raise CampaignStateError(_("Only a sent campaign can be sent again to those who did not react."))
    if reaction not in FollowUp.KINDS:
        raise ValidationError(_("Choose who gets the follow-up."))
    segment = segment_create(
        name=str(FollowUp.SEGMENT_NAMES[reaction]) % {"name": campaign.name},
        description=_("Made for a follow-up of “%(name)s”.") % {"name": campaign.name},
        rules={
            "op": "and",
            "children": [
                {"kind": "received_campaign", "campaign": campaign.pk},
                {"kind": FollowUp.KINDS[reaction], "campaign": campaign.pk, "include_machine": False},
            ],
        },
    )
    copy = campaign_duplicate(campaign=campaign)
    copy.name = (str(FollowUp.CAMPAIGN_NAMES[reaction]) % {"name": campaign.name})[
        : Campaign._meta.get_field("name").max_length
    ]
    copy.subject = subject
    copy.segment = segment
    copy.exclusion_segment = None
    copy.min_engagement_score = None
    copy.full_clean()
    copy.save()
    copy.include_tags.clear()
    copy.exclude_tags.clear()
    return copy


class ChecklistWarnings(ValidationError):
    """The checklist has warnings that staff have not confirmed ("send anyway")."""


def campaign_check_ready(*, campaign: Campaign, warnings_confirmed: bool = True) -> list[ChecklistItem]:
    """Raise ValidationError listing what keeps the campaign from being sent (the checklist's
    blocking items); with ``warnings_confirmed=False`` raise ChecklistWarnings for its warnings too.
    Returns the checklist's items."""
    items = campaign_checklist(campaign=campaign)
    problems = []
    for item in items:
        if item.blocks:
            # Each broken segment and each bad merge tag on its own line, as staff fix them one by one.
            expand = item.code in ("segment_problem", "merge_tag_invalid") and item.details
            problems += list(item.details) if expand else [str(item)]
    if problems:
        raise ValidationError(problems)
    warnings = [str(item) for item in items if not item.blocks]
    if warnings and not warnings_confirmed:
        raise ChecklistWarnings(
            [_("The pre-send checklist has warnings; confirm them to send anyway."), *warnings], code="warnings"
        )
    return items


def refuse_automation_mail(campaign: Campaign) -> None:
    if campaign.is_automation:
        raise CampaignStateError(
            _("“%(name)s” is an automation mail: automations send it, it is never sent or scheduled as a whole.")
            % {"name": campaign.name}
        )


@transaction.atomic
def campaign_automation_use(*, campaign: Campaign) -> Campaign:
    """An automation that sends this automation mail was activated: its deliveries may go out from now on."""
    campaign = _locked(campaign)
    if not campaign.is_automation:
        raise CampaignStateError(_("Only an automation mail can be sent by an automation."))
    if campaign.status == Status.DRAFT:
        campaign.status = Status.SENDING
        campaign.started_at = campaign.started_at or timezone.now()
        campaign.save(update_fields=["status", "started_at", "updated_at"])
    return campaign


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, scheduled_at: datetime, warnings_confirmed: bool = False) -> Campaign:
    """Schedule (or reschedule) a draft for a future time; the sending pipeline starts it then.

    The pre-send checklist must pass: its blocking items refuse, its warnings refuse unless
    ``warnings_confirmed``. When the time comes, blocking items are checked again; the warnings
    confirmed here are not asked for again."""
    if timezone.is_naive(scheduled_at):
        raise ValidationError(_("The time needs a time zone."))
    if scheduled_at <= timezone.now():
        raise ValidationError(_("Choose a time in the future."))
    campaign = _locked(campaign)
    refuse_automation_mail(campaign)
    if campaign.status not in SCHEDULABLE:
        raise CampaignStateError(
            _("A campaign that is %(status)s cannot be scheduled.") % {"status": campaign.get_status_display()}
        )
    campaign_check_ready(campaign=campaign, warnings_confirmed=warnings_confirmed)
    campaign.status = Status.SCHEDULED
    campaign.scheduled_at = scheduled_at
    campaign.save(update_fields=["status", "scheduled_at", "updated_at"])
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stop a campaign for good. Workers check the status before claiming more deliveries."""
    campaign = _locked(campaign)
    if campaign.status not in CANCELLABLE:
        raise CampaignStateError(
            _("A campaign that is %(status)s cannot be cancelled.") % {"status": campaign.get_status_display()}
        )
    campaign.status = Status.CANCELLED
    campaign.finished_at = timezone.now()
    campaign.save(update_fields=["status", "finished_at", "updated_at"])
    return campaign
