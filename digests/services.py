"""RSS-to-email: claim due sources, fetch a feed, remember its items, make a digest campaign of the new ones.

Safe to run twice. A scheduled run is claimed by one conditional UPDATE of ``last_slot_at``; the
items are compared and the digest created with the source row locked; ``FeedItem`` (one row per
source and guid) and ``Digest`` (one per source and set of items) are unique in the database, so
even two workers fetching the same feed at once draft one digest.
"""

import hashlib
import html
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import feedparser
import nh3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.models import Article, Campaign
from campaigns.services import sending
from digests.models import Digest, FeedItem, FeedSource
from newsletter_site import outbound

logger = logging.getLogger(__name__)

ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
EXCERPT_CHARS = 300
HEADLINE_CHARS = Article._meta.get_field("headline").max_length
LINK_CHARS = Article._meta.get_field("link_url").max_length
# Pairs that would open or close a merge tag (or a block the merge tag parser refuses).
_TAG_PAIRS = re.compile(r"\{[{%#]|[}%#]\}")
# Markdown syntax in running text; escaped so an excerpt stays text.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#%&!|~])")
_MARKDOWN_LINE_START = re.compile(r"^(\d+)([.)])|^([-+=])")


class NotAFeed(outbound.FetchError):
    code = "not_a_feed"
    message = gettext_lazy("The address does not serve an RSS or Atom feed.")


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    link: str
    summary_html: str
    published_at: datetime | None
    position: int

    @property
    def guid_hash(self) -> str:
        return hashlib.sha256(self.guid.encode()).hexdigest()


# Scheduling


def source_slot(*, source: FeedSource, now: datetime) -> datetime:
    """The latest scheduled time of ``source`` at or before ``now`` (the site's time zone)."""
    local = timezone.localtime(now)
    slot = local.replace(hour=source.time_of_day.hour, minute=source.time_of_day.minute, second=0, microsecond=0)
    if source.frequency == FeedSource.Frequency.WEEKLY:
        slot -= timedelta(days=(local.weekday() - source.weekday) % 7)
        if slot > local:
            slot -= timedelta(days=7)
    elif slot > local:
        slot -= timedelta(days=1)
    return slot


def sources_claim_due(*, now: datetime | None = None) -> list[int]:
    """Claim the current slot of every active source whose slot came since its last run (and
    since it was created: a new source waits for its first slot; "fetch now" does not).
    Returns the ids claimed here; a concurrent caller claims none of them."""
    now = now or timezone.now()
    claimed = []
    for source in FeedSource.objects.filter(is_active=True).order_by("pk"):
        slot = source_slot(source=source, now=now)
        if slot < source.created_at:
            continue
        won = (
            FeedSource.objects.filter(pk=source.pk)
            .filter(Q(last_slot_at__isnull=True) | Q(last_slot_at__lt=slot))
            .update(last_slot_at=slot)
        )
        if won:
            claimed.append(source.pk)
    return claimed


# Fetching and parsing


def feed_fetch(*, url: str) -> list[Item]:
    """The feed's items, newest first (undated ones after, in feed order); raises FetchError."""
    fetched = outbound.fetch(
        url, max_bytes=settings.KANAL_FEED_MAX_BYTES, timeout=settings.KANAL_FEED_TIMEOUT_SECONDS, accept=ACCEPT
    )
    # Bytes, not a URL: feedparser never fetches anything itself. Relative links and guids are
    # resolved against the source's own URL, which stays the same when the feed redirects elsewhere,
    # so guids seen before stay the same too.
    parsed = feedparser.parse(
        fetched.content, response_headers={"content-type": fetched.content_type, "content-location": url}
    )
    if not parsed.get("version") and not parsed.entries:
        raise NotAFeed(str(parsed.get("bozo_exception", "")))
    items = []
    for position, entry in enumerate(parsed.entries):
        link = _public_link(entry.get("link", ""))
        title = " ".join(entry.get("title", "").split())
        guid = entry.get("id") or link or title
        if not guid:
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        published_at = datetime(*stamp[:6], tzinfo=UTC) if stamp else None
        summary = entry.get("summary", "")
        items.append(Item(guid, title, link, summary, published_at, position))
    items.sort(key=lambda item: (item.published_at is None, -(item.published_at or _EPOCH).timestamp(), item.position))
    return items


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_url_validator = URLValidator(schemes=["http", "https"])


def _public_link(url: str) -> str:
    if not url or len(url) > LINK_CHARS or urlsplit(url).scheme not in ("http", "https"):
        return ""
    try:
        _url_validator(url)
    except ValidationError:
        return ""
    return url


# Article text from feed text: never merge tags, never markup


def inert_text(text: str) -> str:
    """``text`` with a space inside every pair that would open or close a merge tag, so a feed
    cannot put ``{{ subscriber.email }}`` (or a broken tag) into a campaign."""
    while True:
        spaced = _TAG_PAIRS.sub(lambda match: f"{match.group(0)[0]} {match.group(0)[1]}", text)
        if spaced == text:
            return text
        text = spaced


def excerpt_markdown(summary_html: str) -> str:
    """The item's summary as a short plain-text excerpt in Markdown: sanitised to text by nh3
    (scripts and styles dropped with their content), shortened at a word, every Markdown and
    merge-tag character escaped."""
    text = html.unescape(nh3.clean(summary_html, tags=set()))
    text = " ".join(text.split())
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS].rsplit(" ", 1)[0].rstrip(" ,.;:") + " …"
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _MARKDOWN_LINE_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1) else f"\\{m.group(3)}", text)


# Digests


def _record(source_id: int, *, status: str, error: str = "") -> None:
    FeedSource.objects.filter(pk=source_id).update(last_status=status, last_error=error, last_fetched_at=timezone.now())


def feed_source_fetch(*, source_id: int) -> Digest | None:
    """Fetch the source's feed and make a digest of its new items (drafted, or sent when the
    source says so and the campaign passes the checks). Records the outcome on the source."""
    source = FeedSource.objects.filter(pk=source_id).first()
    if source is None:
        return None  # deleted since the run was queued
    try:
        items = feed_fetch(url=source.url)
    except outbound.FetchError as error:
        detail = f" ({error.detail})" if error.detail and error.detail != str(error.message) else ""
        _record(source_id, status=error.code, error=f"{error.message}{detail}")
        return None
    try:
        digest = digest_create(source_id=source_id, items=items)
    except ValidationError as error:
        # E.g. the subject names a custom field deleted since: nothing is kept, the next run tries again.
        problems = "; ".join(error.messages)
        _record(
            source_id,
            status=FeedSource.FetchStatus.ERROR,
            error=_("The digest could not be made: %(problems)s") % {"problems": problems},
        )
        return None
    if digest is None:
        _record(source_id, status=FeedSource.FetchStatus.NO_NEW_ITEMS)
        return None
    if source.mode != FeedSource.Mode.SEND:
        _record(source_id, status=FeedSource.FetchStatus.DRAFTED)
        return digest
    try:
        sending.campaign_start(campaign=digest.campaign)
    except ValidationError as error:
        _record(source_id, status=FeedSource.FetchStatus.HELD, error="\n".join(error.messages))
    else:
        _record(source_id, status=FeedSource.FetchStatus.SENT)
    return digest


@transaction.atomic
def digest_create(*, source_id: int, items: list[Item]) -> Digest | None:
    """A draft campaign of the items not seen before (the newest ``max_items`` of them), or None.
    Every item of the feed is remembered, those left out too."""
    source = FeedSource.objects.select_for_update().select_related("mailing_list").get(pk=source_id)
    by_hash = {}
    for item in items:
        by_hash.setdefault(item.guid_hash, item)
    seen = set(FeedItem.objects.filter(source=source, guid_hash__in=list(by_hash)).values_list("guid_hash", flat=True))
    new = [item for key, item in by_hash.items() if key not in seen]
    if not new:
        return None
    chosen = new[: source.max_items]
    items_key = hashlib.sha256("\n".join(sorted(item.guid_hash for item in chosen)).encode()).hexdigest()
    try:
        with transaction.atomic():
            digest = Digest.objects.create(source=source, items_key=items_key)
    except IntegrityError:
        return None  # another run drafted these items
    digest.campaign = _campaign_create(source=source, items=chosen)
    digest.save(update_fields=["campaign"])
    chosen_hashes = {item.guid_hash for item in chosen}
    FeedItem.objects.bulk_create(
        [
            FeedItem(
                source=source,
                guid_hash=item.guid_hash,
                guid=item.guid,
                title=item.title[: FeedItem._meta.get_field("title").max_length],
                link=item.link,
                published_at=item.published_at,
                digest=digest if item.guid_hash in chosen_hashes else None,
            )
            for item in new
        ],
        ignore_conflicts=True,
    )
    return digest


def _campaign_create(*, source: FeedSource, items: list[Item]) -> Campaign:
    mailing_list = source.mailing_list
    with translation.override(mailing_list.language):
        today = formats.date_format(timezone.localdate(), "DATE_FORMAT")
        untitled = _("(untitled)")
    campaign = Campaign(
        name=f"{source.name} – {today}"[: Campaign._meta.get_field("name").max_length],
        subject=source.subject,
        language=mailing_list.language,
        archive_enabled=source.archive_enabled,
    )
    campaign.full_clean()
    campaign.save()
    campaign.mailing_lists.set([mailing_list])
    articles = []
    for position, item in enumerate(items):
        article = Article(
            campaign=campaign,
            position=position,
            headline=inert_text(item.title or untitled)[:HEADLINE_CHARS],
            body=excerpt_markdown(item.summary_html),
            link_url=item.link,
        )
        article.full_clean(exclude=["campaign"])
        articles.append(article)
    Article.objects.bulk_create(articles)
    return campaign
