"""A template as mail: campaigns' compiler, given an unsaved campaign with one article.

The campaign and article exist only in memory (never saved): they carry the template's texts,
sender, brand and layout into ``compile_campaign``, which lays out, inlines and sanitises exactly
as for newsletters. ``request_data`` lets the texts use ``{{ data.<name> }}``;
``subscription_links=False`` drops the unsubscribe footer, since the mail belongs to no list.

Links: campaigns keep merge tags in link URLs as written; here they are filled, each value
percent-encoded, so ``https://shop.example/reset?token={{ data.token }}`` works while the
scheme stays the author's. A link that is nothing but a tag has no scheme and is dropped
by the Markdown sanitiser, as in campaigns.

Tracking: ``template_render``'s ``track`` gets the filled link URLs and returns the recipient
fields that replace them (the tracking app's pixel, click and honeypot URLs); without it the
mail keeps its links and has no pixel.
"""

from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import quote

from campaigns import merge_tags
from campaigns.models import Article, Campaign
from campaigns.rendering import CompiledCampaign, RecipientContext, RenderedMessage, compile_campaign
from campaigns.rendering.slots import MERGE
from transactional.models import TransactionalTemplate

_CACHE_SIZE = 32
_compiled: dict[tuple[int, object], tuple[CompiledCampaign, list]] = {}


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


def template_compile(template: TransactionalTemplate) -> tuple[CompiledCampaign, list]:
    """Compiled once per template version and worker process (raises MergeTagError), with each
    link's URL parsed for merge tags."""
    key = (template.pk, template.updated_at)
    cached = _compiled.get(key) if template.pk is not None else None
    if cached is None:
        campaign, article = template_as_campaign(template)
        compiled = compile_campaign(campaign, articles=[article], request_data=True, subscription_links=False)
        cached = (compiled, [merge_tags.parse(link.url, request_data=True) for link in compiled.links])
        if template.pk is not None:
            if len(_compiled) >= _CACHE_SIZE:
                _compiled.clear()
            _compiled[key] = cached
    return cached


Track = Callable[[list[str]], Mapping[str, object]]


def _render(
    template: TransactionalTemplate, recipient: RecipientContext, track: Track | None = None
) -> RenderedMessage:
    compiled, link_parts = template_compile(template)
    urls = [
        "".join(part if isinstance(part, str) else quote(part.value(recipient), safe="") for part in parts)
        for parts in link_parts
    ]
    fields = track(urls) if track is not None else {"link_urls": urls}
    return compiled.render(replace(recipient, **fields))


def template_preview(template: TransactionalTemplate) -> RenderedMessage:
    """The mail for staff: each ``{{ data.<name> }}`` shows as ``[name]``, subscriber fields empty."""
    compiled, link_parts = template_compile(template)
    tags = [argument for kind, argument in compiled.slots if kind == MERGE]
    tags += [part for parts in (compiled.subject_parts, *link_parts) for part in parts if not isinstance(part, str)]
    names = {tag.key for tag in tags if tag.field == merge_tags.REQUEST_DATA}
    return _render(template, RecipientContext(language=template.language, data={name: f"[{name}]" for name in names}))


def template_render(
    template: TransactionalTemplate,
    *,
    email: str,
    subscriber=None,
    data: dict | None = None,
    track: Track | None = None,
) -> RenderedMessage:
    """The mail for one recipient: the subscriber's fields when there is one, and the request's data.
    ``track`` (see the module's docstring) makes it a tracked mail."""
    if subscriber is not None:
        recipient = RecipientContext.for_subscriber(subscriber, data=data or {})
    else:
        recipient = RecipientContext(email=email, language=template.language, data=data or {})
    return _render(template, recipient, track)
