"""A template as mail: campaigns' compiler, given an unsaved campaign with one article.

The campaign and article exist only in memory (never saved): they carry the template's texts,
sender, brand and layout into ``compile_campaign``, which lays out, inlines and sanitises exactly
as for newsletters. ``request_data`` lets the texts use ``{{ data.<name> }}``;
``subscription_links=False`` drops the unsubscribe footer, since the mail belongs to no list.
"""

from campaigns import merge_tags
from campaigns.models import Article, Campaign
from campaigns.rendering import CompiledCampaign, RecipientContext, RenderedMessage, compile_campaign
from campaigns.rendering.slots import MERGE
from transactional.models import TransactionalTemplate

_CACHE_SIZE = 32
_compiled: dict[tuple[int, object], CompiledCampaign] = {}


def template_as_campaign(template: TransactionalTemplate) -> tuple[Campaign, Article]:
    campaign = Campaign(
        name=template.name,
        subject=template.subject,
        preheader=template.preheader,
        from_name=template.from_name,
        from_email=template.from_email,
        reply_to=template.reply_to,
        language=template.language,
        brand_id=template.brand_id,
        layout=template.layout,
    )
    article = Article(
        headline=template.headline, body=template.body, link_url=template.link_url, cta_text=template.cta_text
    )
    return campaign, article


def template_compile(template: TransactionalTemplate) -> CompiledCampaign:
    """Compiled once per template version and worker process (raises MergeTagError)."""
    key = (template.pk, template.updated_at)
    compiled = _compiled.get(key) if template.pk is not None else None
    if compiled is None:
        campaign, article = template_as_campaign(template)
        compiled = compile_campaign(campaign, articles=[article], request_data=True, subscription_links=False)
        if template.pk is not None:
            if len(_compiled) >= _CACHE_SIZE:
                _compiled.clear()
            _compiled[key] = compiled
    return compiled


def template_preview(template: TransactionalTemplate) -> RenderedMessage:
    """The mail for staff: each ``{{ data.<name> }}`` shows as ``[name]``, subscriber fields empty."""
    compiled = template_compile(template)
    names = {tag.key for kind, tag in compiled.slots if kind == MERGE and tag.field == merge_tags.REQUEST_DATA}
    names |= {part.key for part in compiled.subject_parts if getattr(part, "field", "") == merge_tags.REQUEST_DATA}
    recipient = RecipientContext(language=template.language, data={name: f"[{name}]" for name in names})
    return compiled.render(recipient)


def template_render(
    template: TransactionalTemplate, *, email: str, subscriber=None, data: dict | None = None
) -> RenderedMessage:
    """The mail for one recipient: the subscriber's fields when there is one, and the request's data."""
    if subscriber is not None:
        recipient = RecipientContext.for_subscriber(subscriber, data=data or {})
    else:
        recipient = RecipientContext(email=email, language=template.language, data=data or {})
    return template_compile(template).render(recipient)
