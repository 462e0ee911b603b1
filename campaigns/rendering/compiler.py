"""``compile_campaign``: the MJML layout, CSS inlining, Markdown and merge tags, once per campaign."""

from collections.abc import Collection
from urllib.parse import urljoin

import css_inline
import mjml
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from brands.sandbox import BLOCK_MARKERS, layout_fill, validate_layout_source
from brands.selectors import brand_for_campaign
from campaigns import extensions, merge_tags
from campaigns.rendering.markdown import render_markdown
from campaigns.rendering.slots import (
    FEEDBACK,
    FORWARD,
    HONEYPOT,
    LINK,
    MERGE,
    PIXEL,
    PREFERENCES,
    SHARE,
    SURVEY,
    UNSUBSCRIBE,
    CompiledCampaign,
    CompiledLink,
    Slots,
    SlotTemplate,
)
from campaigns.rendering.text import html_to_text


class _ArticleLinks:
    """Registers the links of one article in document order."""

    def __init__(self, *, slots: Slots, links: list[CompiledLink], article_public_id: str):
        self.slots = slots
        self.links = links
        self.article_public_id = article_public_id
        self.position = 0

    def add(self, kind: str, url: str) -> str:
        self.links.append(
            CompiledLink(article_public_id=self.article_public_id, position=self.position, kind=kind, url=url)
        )
        self.position += 1
        return self.slots.placeholder(LINK, len(self.links) - 1)


def compile_campaign(
    campaign,
    *,
    articles=None,
    archive_url: str = "",
    visible_articles: Collection[int] | None = None,
    mark_conditional: bool = False,
    request_data: bool = False,
    subscription_links: bool = True,
) -> CompiledCampaign:
    """Do everything expensive once. Raises merge_tags.MergeTagError for invalid merge tags.

    Articles with a segment are *conditional*. ``visible_articles`` (article ids) says which of
    them the compiled templates show; None shows all. ``CompiledCampaign.variant`` gives the
    templates for any other choice. ``mark_conditional`` heads each conditional article with
    "only for subscribers in the segment …", for staff previews and test mails.

    For transactional mail (``transactional.rendering``): ``request_data`` allows the
    ``{{ data.<name> }}`` merge tags, and ``subscription_links=False`` leaves the unsubscribe and
    preference-centre links out of the footer (the mail belongs to no subscription).
    """
    if articles is None:
        related = ["library_image", "segment"] if mark_conditional else ["library_image"]
        articles = list(campaign.articles.select_related(*related))
    slots = Slots(request_data=request_data)
    links: list[CompiledLink] = []
    brand = _brand_context(brand_for_campaign(campaign))
    answer_blocks = extensions.answer_blocks()
    feedback_enabled = answer_blocks is not None and bool(getattr(campaign, "article_feedback_enabled", False))
    feedback_article_ids: list[int] = []

    article_contexts = []
    text_blocks = []
    conditional: dict[int, int] = {}
    for article in articles:
        registry = _ArticleLinks(slots=slots, links=links, article_public_id=str(article.public_id))
        headline = slots.with_merge_tags(article.headline)
        image_src = _image_src(article)
        segment_note = ""
        if getattr(article, "segment_id", None) is not None and article.pk is not None:
            conditional[article.pk] = article.segment_id
            if mark_conditional:
                with translation.override(campaign.language):
                    segment_note = _("Only for subscribers in the segment “%(name)s”") % {"name": article.segment.name}
        context = {
            "segment_note": segment_note,
            "headline": headline,
            "image_src": image_src,
            "image_alt": article.image_description,
            "image_link": registry.add("image", article.link_url) if image_src and article.link_url else "",
            "headline_link": registry.add("headline", article.link_url) if article.link_url else "",
        }

        def on_link(url, registry=registry):
            return registry.add("body", slots.restore_literal(url))

        body_html = render_markdown(slots.with_merge_tags(article.body), on_link=on_link) if article.body else ""
        context["body_html"] = body_html
        with translation.override(campaign.language):
            cta_text = article.cta_text or (_("Read more") if article.link_url else "")
        context["cta_text"] = cta_text
        context["cta_link"] = registry.add("button", article.link_url) if article.link_url else ""
        if feedback_enabled and article.pk is not None:
            index = len(feedback_article_ids)
            feedback_article_ids.append(article.pk)
            context["feedback_yes"] = slots.placeholder(FEEDBACK, 2 * index)
            context["feedback_no"] = slots.placeholder(FEEDBACK, 2 * index + 1)
        article_contexts.append(context)

        block = [f"[{segment_note}]", headline] if segment_note else [headline]
        if body_html:
            block.append(html_to_text(body_html))
        if context["cta_link"]:
            block.append(f"{cta_text}: {context['cta_link']}")
        if "feedback_yes" in context:
            with translation.override(campaign.language):
                block.append(
                    "\n".join(
                        [
                            _("Was this article useful?"),
                            _("Yes: %(url)s") % {"url": context["feedback_yes"]},
                            _("No: %(url)s") % {"url": context["feedback_no"]},
                        ]
                    )
                )
        text_blocks.append("\n\n".join(block))

    offer_context = None
    offer_blocks = extensions.offer_blocks()
    if campaign.pk is not None and offer_blocks is not None:
        with translation.override(campaign.language):
            offer = offer_blocks.offer_block_for(campaign)
        if offer is not None:
            offer_context = _offer_context(offer, slots)
            text_blocks.append(_offer_text(offer_context))

    survey, survey_context = None, None
    if campaign.pk is not None and answer_blocks is not None:
        with translation.override(campaign.language):
            survey = answer_blocks.survey_block_for(campaign)
    if survey is not None:
        survey_context = {
            "title": survey.title,
            "question": survey.question,
            "kind": survey.kind,
            "low_hint": survey.low_hint,
            "high_hint": survey.high_hint,
            "buttons": [
                {"label": button.label, "url": slots.placeholder(SURVEY, index)}
                for index, button in enumerate(survey.buttons)
            ],
        }
        text_blocks.append(_survey_text(survey_context))

    share, share_context = None, None
    share_blocks = extensions.share_blocks()
    if campaign.pk is not None and share_blocks is not None:
        with translation.override(campaign.language):
            share = share_blocks.share_block_for(campaign)
    if share is not None:
        share_context = {
            "title": share.title,
            "forward": slots.placeholder(FORWARD, (str(share.forward_label), brand["primary_color"])),
            "links": [
                {"label": link.label, "url": slots.placeholder(SHARE, index)} for index, link in enumerate(share.links)
            ],
            "page_label": share.page_label,
            "page_url": share.page_url,
        }
        text_blocks.append(_share_text(share_context))

    subject = slots.with_merge_tags(campaign.subject)
    preheader = slots.with_merge_tags(campaign.preheader)
    unsubscribe = slots.placeholder(UNSUBSCRIBE) if subscription_links else ""
    preferences = slots.placeholder(PREFERENCES) if subscription_links else ""
    layout_name = campaign.layout
    custom_source = campaign.custom_layout.mjml if layout_name == "custom" and campaign.custom_layout_id else ""
    if custom_source and validate_layout_source(custom_source):
        custom_source = ""  # saved before a rule it breaks: the checklist blocks sending it
    if layout_name == "custom" and not custom_source:
        layout_name = "articles"
    layout_context = {
        "language": campaign.language,
        "subject": subject,
        "preheader": preheader,
        "brand": brand,
        "letter": layout_name == "letter",
        "unsubscribe_url": unsubscribe,
        "preferences_url": preferences,
        "archive_url": archive_url,
        "survey": survey_context,
        "offer": offer_context,
        "share": share_context,
        "open_pixel": slots.placeholder(PIXEL),
        "honeypot_link": slots.placeholder(HONEYPOT),
    }
    with translation.override(campaign.language):
        footer_lines = [
            brand["company_address"],
            *(f"{link['label']}: {link['url']}" for link in brand["social_links"]),
            _("Imprint: %(url)s") % {"url": brand["imprint_url"]},
            _("Privacy policy: %(url)s") % {"url": brand["privacy_url"]},
        ]
        if subscription_links:
            footer_lines.append(_("Manage your subscription: %(url)s") % {"url": preferences})
            footer_lines.append(_("Unsubscribe: %(url)s") % {"url": unsubscribe})
        footer_text = "\n".join(footer_lines)
        header_text = ""
        if archive_url:
            header_text = _("View this newsletter in your browser: %(url)s") % {"url": archive_url} + "\n\n"
    survey_text = text_blocks[len(article_contexts) :]
    article_ids = [article.pk for article in articles]

    def layout(shown: frozenset[int]) -> tuple[SlotTemplate, SlotTemplate]:
        """The HTML and text templates with the conditional articles in ``shown`` and every other article.

        Each choice is laid out from the start (MJML, CSS inlining), so spacing and dividers fit
        the articles present. Every article's slots were registered above, so one recipient's
        slot values fill any choice.
        """
        kept = [i for i, pk in enumerate(article_ids) if pk not in conditional or pk in shown]
        shown_articles = [article_contexts[i] for i in kept]
        context = {**layout_context, "articles": shown_articles, "article_pairs": _pairs(shown_articles[1:])}
        with translation.override(campaign.language):
            if custom_source:
                mjml_source = _custom_layout_source(custom_source, context)
            else:
                mjml_source = render_to_string(f"campaigns/email/layouts/{layout_name}.mjml", context)
        html_output = mjml.mjml2html(mjml_source, disable_comments=True, fonts={})
        html_output = _inliner().inline(html_output)
        separator = "\n\n" + "-" * 60 + "\n\n"
        blocks = [text_blocks[i] for i in kept] + survey_text
        text_output = header_text + separator.join(blocks) + separator + footer_text + "\n"
        return slots.template(html_output), slots.template(text_output)

    shown = frozenset(conditional if visible_articles is None else conditional.keys() & set(visible_articles))
    html_template, text_template = layout(shown)
    return CompiledCampaign(
        campaign_id=campaign.pk,
        subject_parts=merge_tags.parse(campaign.subject, request_data=request_data),
        html_template=html_template,
        text_template=text_template,
        slots=slots.slots,
        links=links,
        survey=survey,
        feedback_article_ids=feedback_article_ids,
        survey_preview_urls=answer_blocks.preview_survey_urls(survey) if survey is not None else [],
        feedback_preview_urls=answer_blocks.preview_feedback_urls(feedback_article_ids) if feedback_enabled else [],
        share=share,
        share_default_urls=[link.url for link in share.links] if share is not None else [],
        conditional_articles=conditional,
        shown=shown,
        layout=layout if conditional else None,
    )


def _brand_context(brand) -> dict:
    """What the layouts read of a brand; the logo's address made absolute for mail programs."""
    logo_src = brand.logo_src
    return {
        "name": brand.name,
        "logo_src": urljoin(settings.SITE_URL + "/", logo_src) if logo_src else "",
        "logo_width": brand.logo_width,
        "primary_color": brand.primary_color,
        "accent_color": brand.accent_color,
        "background_color": brand.background_color,
        "text_color": brand.text_color,
        "font_stack": brand.font_stack,
        "company_address": brand.company_address,
        "imprint_url": brand.imprint_url,
        "privacy_url": brand.privacy_url,
        "social_links": [
            {"label": link.get_platform_display(), "url": link.url}
            for link in (brand.social_links.all() if brand.pk is not None else [])
        ],
    }


def _pairs(articles: list) -> list[list]:
    return [articles[index : index + 2] for index in range(0, len(articles), 2)]


def _custom_layout_source(source: str, context: dict) -> str:
    """A custom layout filled through the sandbox: each marker gets the standard partial's MJML."""
    blocks = {marker: render_to_string(f"campaigns/email/partials/{marker}.mjml", context) for marker in BLOCK_MARKERS}
    brand = context["brand"]
    values = {
        "subject": context["subject"],
        "preheader": context["preheader"],
        "brand.font": brand["font_stack"],
        **{
            f"brand.{name}": brand[name]
            for name in ("name", "primary_color", "accent_color", "background_color", "text_color")
        },
    }
    return layout_fill(source, blocks=blocks, values=values)


def _survey_text(survey: dict) -> str:
    """The survey block of the plain-text part: the question, then one line per answer link."""
    lines = [survey["title"], survey["question"]]
    if survey["low_hint"]:
        lines.append(f"({survey['low_hint']}, {survey['high_hint']})")
    lines.append("")
    buttons = survey["buttons"]
    if survey["kind"] == "choices":
        lines += [f"{number}. {button['label']}: {button['url']}" for number, button in enumerate(buttons, 1)]
    else:  # scores are numbers already; the single "answer the survey" link needs none
        lines += [f"{button['label']}: {button['url']}" for button in buttons]
    return "\n".join(lines)


def _offer_context(offer: extensions.OfferBlock, slots: Slots) -> dict:
    """The offer block's template context; the code and the link are merge slots with neutral defaults."""
    if offer.ended:
        return {"title": offer.title, "ended": True, "ended_text": offer.ended_text}

    def value(name: str, fallback: str) -> str:
        return slots.placeholder(MERGE, merge_tags.MergeTag(field=name, filters=(("default", fallback),)))

    return {
        "title": offer.title,
        "ended": False,
        "terms": offer.terms,
        "deadline_text": offer.deadline_text,
        "code_label": offer.code_label,
        "code": value(offer.code_value, offer.code_fallback),
        "button_label": offer.button_label,
        "url": value(offer.url_value, offer.url_fallback),
    }


def _offer_text(offer: dict) -> str:
    if offer["ended"]:
        return "\n".join([offer["title"], offer["ended_text"]])
    lines = [offer["title"], f"{offer['code_label']}: {offer['code']}", offer["deadline_text"]]
    lines.append(f"{offer['button_label']}: {offer['url']}")
    if offer["terms"]:
        lines.append(offer["terms"])
    return "\n".join(lines)


def _share_text(share: dict) -> str:
    """The share block of the plain-text part: the forward line (empty without one), then one line per link."""
    lines = [share["title"], share["forward"]]
    lines += [f"{link['label']}: {link['url']}" for link in share["links"]]
    lines.append(f"{share['page_label']}: {share['page_url']}")
    return "\n".join(lines)


def _inliner() -> css_inline.CSSInliner:
    # Media queries stay in a <style> tag (phones); everything else moves into style attributes.
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def _image_src(article) -> str:
    if article.library_image_id is not None:
        return urljoin(settings.SITE_URL + "/", article.library_image.file.url)
    if article.image:
        return urljoin(settings.SITE_URL + "/", article.image.url)
    return article.image_url
