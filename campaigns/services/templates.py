"""Campaign templates: a campaign marked ``is_template`` is never sent; staff start campaigns from it.

A template carries content (subject, preheader, articles) and the mail's settings (sender,
language, archive, sharing, feedback), never an audience or figures: saving a campaign as a
template leaves its lists, tags and segments behind, and a campaign started from a template gets
them from staff.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from campaigns.services.lifecycle import CampaignStateError, articles_copy

NAME_LENGTH = Campaign._meta.get_field("name").max_length


def _content_copy(source: Campaign, *, name: str, is_template: bool) -> Campaign:
    copy = Campaign(
        name=name[:NAME_LENGTH],
        kind=source.kind,
        is_template=is_template,
        subject=source.subject,
        preheader=source.preheader,
        from_name=source.from_name,
        from_email=source.from_email,
        reply_to=source.reply_to,
        language=source.language,
        archive_enabled=source.archive_enabled,
        sharing_enabled=source.sharing_enabled,
        article_feedback_enabled=source.article_feedback_enabled,
        brand=source.brand,
        layout=source.layout,
        custom_layout=source.custom_layout,
        bypasses_frequency_cap=source.bypasses_frequency_cap,
    )
    copy.full_clean()
    copy.save()
    articles_copy(source=source, target=copy)
    return copy


@transaction.atomic
def campaign_save_as_template(*, campaign: Campaign, name: str = "") -> Campaign:
    """A template with the campaign's content and articles (any campaign, sent or not); no audience."""
    return _content_copy(campaign, name=name or _("Template: %(name)s") % {"name": campaign.name}, is_template=True)


@transaction.atomic
def campaign_from_template(*, template: Campaign, name: str = "") -> Campaign:
    """A new draft with the template's content and articles; staff choose its audience."""
    if not template.is_template:
        raise CampaignStateError(_("“%(name)s” is not a template.") % {"name": template.name})
    return _content_copy(template, name=name or template.name, is_template=False)
