"""The pre-send checklist: what blocks a campaign from being sent, and what staff should confirm.

One selector, ``campaign_checklist``, gives the items. The campaign's admin pages show them and
``lifecycle.campaign_check_ready`` enforces them wherever a send starts or is scheduled: a
``block`` item refuses, a ``warn`` item refuses until staff confirm "send anyway". The rules are
described in docs/architecture.md ("Pre-send checklist").
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audience.rules import SegmentError
from brands.sandbox import validate_layout_source
from campaigns import extensions, merge_tags, selectors
from campaigns.models import Campaign
from campaigns.rendering import RecipientContext, compile_campaign
from campaigns.rendering.markdown import body_references
from subscribers.links import MailLinks
from subscribers.models import MailingList

BLOCK, WARN = "block", "warn"

# Gmail shows "[Message clipped]" and hides the rest (the unsubscribe link too) above this many
# bytes of HTML.
GMAIL_CLIP_BYTES = 102 * 1024
# Fewer characters of article text than this per image: the mail is mostly pictures, which spam
# filters and readers with images off both hold against it.
TEXT_CHARACTERS_PER_IMAGE = 300
LINK_SCHEMES = {"http", "https"}
MERGE_TAG_PLACEHOLDER = "KANALMERGETAG"


@dataclass(frozen=True)
class ChecklistItem:
    """One finding: ``code`` names the rule, ``level`` is BLOCK or WARN, ``details`` say where."""

    code: str
    level: str
    message: str
    details: tuple[str, ...] = ()

    @property
    def blocks(self) -> bool:
        return self.level == BLOCK

    def __str__(self) -> str:
        if not self.details:
            return self.message
        return f"{self.message} ({'; '.join(self.details)})"


def campaign_checklist(*, campaign: Campaign) -> list[ChecklistItem]:
    """Every checklist item of the campaign as it is now, blocking ones first. Empty: ready to send.

    Reads only: the mail is compiled as the sending pipeline compiles it and rendered for one
    recipient of the audience, and the audience is counted, but nothing is stored.
    """
    items: list[ChecklistItem] = []
    if campaign.is_template:
        items.append(ChecklistItem("template", BLOCK, _("This is a template: start a campaign from it to send it.")))
    for blocker in extensions.SEND_BLOCKERS:
        reason = blocker(campaign=campaign)
        if reason:
            items.append(ChecklistItem("held_elsewhere", BLOCK, reason))
    if not campaign.subject.strip():
        items.append(ChecklistItem("no_subject", BLOCK, _("The campaign has no subject.")))
    articles = list(campaign.articles.select_related("library_image"))
    if not articles:
        items.append(ChecklistItem("no_articles", BLOCK, _("Add at least one article.")))
    tags, tag_problems = _merge_tags(campaign, articles)
    if tag_problems:
        items.append(ChecklistItem("merge_tag_invalid", BLOCK, _("Some merge tags cannot be filled."), tag_problems))
    items += _links_and_images(articles)
    items += _layout(campaign)
    segment_problems = selectors.campaign_article_segment_problems(campaign=campaign)
    if not campaign.is_automation:
        segment_problems = selectors.campaign_segment_problems(campaign=campaign) + segment_problems
    if segment_problems:
        items.append(
            ChecklistItem("segment_problem", BLOCK, _("A segment is broken."), tuple(str(p) for p in segment_problems))
        )
    recipient = None
    if not campaign.is_automation:
        audience_items, recipient = _audience(campaign, tags, segments_ok=not segment_problems)
        items += audience_items
    if not tag_problems:
        items += _size(campaign, articles, recipient)
    return sorted(items, key=lambda item: item.level != BLOCK)


def _layout(campaign: Campaign) -> list[ChecklistItem]:
    """A custom layout is checked when saved; this catches one chosen without a layout or saved before a rule."""
    if campaign.layout != Campaign.Layout.CUSTOM:
        return []
    if campaign.custom_layout_id is None:
        return [ChecklistItem("layout_missing", BLOCK, _("Choose the custom layout to use."))]
    problems = validate_layout_source(campaign.custom_layout.mjml)
    if problems:
        return [ChecklistItem("layout_invalid", BLOCK, _("The custom layout has errors."), tuple(problems))]
    return []


def _texts(campaign: Campaign, articles) -> list[tuple[str, str]]:
    """(where, text) of every text that may hold merge tags."""
    texts = [(_("subject"), campaign.subject), (_("preheader"), campaign.preheader)]
    for article in articles:
        where = _("article “%(headline)s”") % {"headline": article.headline}
        texts += [(where, article.headline), (where, article.body)]
    return texts


def _merge_tags(campaign: Campaign, articles) -> tuple[list[merge_tags.MergeTag], tuple[str, ...]]:
    tags: list[merge_tags.MergeTag] = []
    problems: list[str] = []
    for where, text in _texts(campaign, articles):
        try:
            parts = merge_tags.parse(text or "")
        except merge_tags.MergeTagError as error:
            problems.append(f"{where}: {error}")
        else:
            tags += [part for part in parts if isinstance(part, merge_tags.MergeTag)]
    return tags, tuple(dict.fromkeys(problems))


def _links_and_images(articles) -> list[ChecklistItem]:
    bad_links: list[str] = []
    without_alt: list[str] = []
    images = 0
    text_characters = 0
    for article in articles:
        if article.link_url and not _is_web_link(article.link_url):
            bad_links.append(article.link_url)
        if article.library_image_id or article.image or article.image_url:
            images += 1
            if not article.image_description.strip():
                without_alt.append(_("image of “%(headline)s”") % {"headline": article.headline})
        # Merge tags are filled per recipient: a link that starts with one is checked when it is sent.
        references = body_references(merge_tags.TAG_RE.sub(MERGE_TAG_PLACEHOLDER, article.body or ""))
        bad_links += [
            link for link in references.links if not link.startswith(MERGE_TAG_PLACEHOLDER) and not _is_link(link)
        ]
        for src, alt in references.images:
            images += 1
            if not src.startswith(MERGE_TAG_PLACEHOLDER) and not _is_web_link(src):
                bad_links.append(src)
            if not alt:
                without_alt.append(_("image %(src)s in “%(headline)s”") % {"src": src, "headline": article.headline})
        text_characters += len(article.headline) + len(references.text)
    items = []
    if bad_links:
        items.append(
            ChecklistItem(
                "link_scheme",
                BLOCK,
                _("Links must start with http:// or https:// (or mailto: for addresses)."),
                tuple(link or _("(empty link)") for link in dict.fromkeys(bad_links)),
            )
        )
    if without_alt:
        items.append(
            ChecklistItem(
                "image_alt",
                WARN,
                ngettext(
                    "%(count)d image has no description (alt text) for readers who cannot see it.",
                    "%(count)d images have no description (alt text) for readers who cannot see them.",
                    len(without_alt),
                )
                % {"count": len(without_alt)},
                tuple(without_alt),
            )
        )
    if images and text_characters < TEXT_CHARACTERS_PER_IMAGE * images:
        items.append(
            ChecklistItem(
                "image_ratio",
                WARN,
                _(
                    "The mail is mostly images: %(characters)d characters of text for %(images)d images. Spam "
                    "filters and readers who turn images off prefer at least %(minimum)d characters per image."
                )
                % {"characters": text_characters, "images": images, "minimum": TEXT_CHARACTERS_PER_IMAGE},
            )
        )
    return items


def _is_web_link(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in LINK_SCHEMES and bool(parts.netloc)


def _is_link(url: str) -> bool:
    parts = urlsplit(url.strip())
    if parts.scheme.lower() == "mailto":
        return bool(parts.path)
    return _is_web_link(url)


def _audience(campaign: Campaign, tags, *, segments_ok: bool) -> tuple[list[ChecklistItem], object]:
    """The audience items and one subscriber of the audience (for the size measure), or None."""
    if not campaign.mailing_lists.exists():
        return [ChecklistItem("audience_empty", BLOCK, _("Choose at least one mailing list."))], None
    if not segments_ok:
        return [], None
    try:
        audience = selectors.campaign_audience(campaign=campaign)
        first = audience.order_by("pk").first()
    except SegmentError:
        return [], None
    if first is None:
        empty = _("Nobody would get this campaign: its audience is empty.")
        return [ChecklistItem("audience_empty", BLOCK, empty)], None
    items = []
    missing = _missing_values(audience, tags)
    if missing:
        items.append(
            ChecklistItem(
                "merge_tag_missing",
                WARN,
                _("Some recipients have no value for a merge tag without a default: they would see a gap."),
                tuple(missing),
            )
        )
    if _reaches_everyone(campaign):
        items.append(
            ChecklistItem(
                "audience_everyone",
                WARN,
                _("This campaign goes to everyone: every mailing list, with no segment, tag or score restriction."),
            )
        )
    return items, first


def _missing_values(audience, tags) -> list[str]:
    """One line per merge tag without a ``default`` filter that some recipients have no value for."""
    lines = []
    seen = set()
    for tag in tags:
        if any(name == "default" for name, _arg in tag.filters) or (tag.field, tag.key) in seen:
            continue
        seen.add((tag.field, tag.key))
        if tag.key:
            # An empty custom value is never stored: no key is no value.
            empty = ~Q(fields__has_key=tag.key)
            shown = f"subscriber.fields.{tag.key}"
        elif tag.field in ("first_name", "last_name"):
            empty = Q(**{tag.field: ""})
            shown = f"subscriber.{tag.field}"
        else:  # email and language are never empty; other apps' values come with their fallbacks
            continue
        count = audience.filter(empty).count()
        if count:
            lines.append(
                ngettext(
                    "{{ %(tag)s }}: %(count)d recipient has no value",
                    "{{ %(tag)s }}: %(count)d recipients have no value",
                    count,
                )
                % {"tag": shown, "count": count}
            )
    return lines


def _reaches_everyone(campaign: Campaign) -> bool:
    """No narrowing at all, and every list there is (when there are several: with one list, every
    campaign goes to all of it, and saying so each time would teach staff to skip warnings)."""
    if (
        campaign.segment_id
        or campaign.exclusion_segment_id
        or campaign.min_engagement_score
        or campaign.include_tags.exists()
        or campaign.exclude_tags.exists()
    ):
        return False
    all_lists = MailingList.objects.count()
    return all_lists > 1 and campaign.mailing_lists.count() == all_lists


def _size(campaign: Campaign, articles, subscriber) -> list[ChecklistItem]:
    """The HTML of the mail as the pipeline compiles it (every conditional article shown, the
    largest variant), rendered for one recipient with real unsubscribe and preference links."""
    try:
        compiled = compile_campaign(campaign, articles=articles)
    except merge_tags.MergeTagError:
        return []  # reported with the merge tags
    if subscriber is not None:
        unsubscribe, preferences, _header = MailLinks().for_subscriber(subscriber)
        recipient = RecipientContext.for_subscriber(
            subscriber, unsubscribe_url=unsubscribe, preferences_url=preferences
        )
    else:
        recipient = RecipientContext(language=campaign.language)
    size = len(compiled.render(recipient).html.encode("utf-8"))
    if size <= GMAIL_CLIP_BYTES:
        return []
    return [
        ChecklistItem(
            "mail_size",
            WARN,
            _(
                "The mail's HTML is %(size)d KB: Gmail cuts mails above %(limit)d KB and hides the rest, "
                "the unsubscribe link too."
            )
            % {"size": -(-size // 1024), "limit": GMAIL_CLIP_BYTES // 1024},
        )
    ]
