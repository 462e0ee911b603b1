"""Seams through which the apps built on campaigns add to its mails; campaigns imports none of them.

Tracking, surveys and sharing register here in their ``AppConfig.ready()``, the way every app registers
its GDPR export and erase hooks in ``subscribers.services.gdpr``.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

RecipientLinks = Callable[[int, Any], Mapping[str, object]]
"""(delivery id, ``transports.Recipient``) -> fields of ``RecipientContext`` for that message."""

RECIPIENT_LINK_PROVIDERS: list[Callable[..., RecipientLinks | None]] = []
"""Called once per sending batch as ``provider(campaign=..., compiled=...)`` to do the per-campaign
work (storing tracked links, building signers); returns the per-recipient function, or None when
it adds nothing to this campaign's mails."""

RECIPIENT_VALUES: list[str] = []
"""Names other apps add to the merge tags, used as ``{{ subscriber.<name> }}`` (e.g. ``referral_url``).
A provider in RECIPIENT_LINK_PROVIDERS fills them per recipient as ``{"values": {name: text}}``; a
mail without that provider (previews, test sends) shows them empty."""


RECIPIENT_VALUE_NAMESPACES: list[str] = []
"""Names under which another app gives values with keys the mail's author chooses, used as
``{{ subscriber.<namespace>.<key> }}`` (automations: ``payload``, data sent when a subscriber was
enrolled). Filled per recipient like RECIPIENT_VALUES, as ``{"values": {"<namespace>.<key>": text}}``;
a key a recipient has no value for is empty."""


class AnswerBlocks(Protocol):
    """What a campaign's compiled mail needs from the app that owns survey answers (``surveys.mail``)."""

    def survey_block_for(self, campaign) -> object | None: ...

    def preview_survey_urls(self, block) -> list[str]: ...

    def preview_feedback_urls(self, article_ids) -> list[str]: ...

    def campaign_survey_summary(self, campaign) -> str: ...

    def campaign_feedback_summary(self, campaign) -> str: ...


ANSWER_BLOCKS: list[AnswerBlocks] = []
"""At most one entry; without it a campaign mail carries no survey and no "was this useful?" links."""


@dataclass(frozen=True)
class ShareLink:
    label: str
    url: str


@dataclass(frozen=True)
class ShareBlock:
    """The "forward to a friend" and share block of one campaign's mail and archive page.

    ``links`` hold the campaign's share URLs, the same for every reader (the archive page and
    forwarded mails show these); a recipient may get their own (``RecipientContext.share_urls``,
    same order). The forward link exists only per recipient (``RecipientContext.forward_url``);
    without one the block shows none.
    """

    title: str
    links: tuple[ShareLink, ...]
    forward_label: str
    page_label: str
    page_url: str


class ShareBlocks(Protocol):
    """What a compiled mail needs from the app that owns forwarding and sharing (``sharing.mail``)."""

    def share_block_for(self, campaign) -> ShareBlock | None: ...


SHARE_BLOCKS: list[ShareBlocks] = []
"""At most one entry; without it a campaign mail carries no forward and share block."""


@dataclass(frozen=True)
class OfferBlock:
    """The offer block of one campaign's mail: an offer with the reader's own code, or a note that it ended.

    The code and the link are per recipient: the merge-tag values ``code_value`` and ``url_value``
    (names in RECIPIENT_VALUES) that a batch preparer fills; a mail without them (the archive page,
    previews, forwarded copies) shows ``code_fallback`` and ``url_fallback``, which name nobody.
    """

    title: str
    ended: bool
    ended_text: str = ""
    terms: str = ""
    deadline_text: str = ""
    code_label: str = ""
    button_label: str = ""
    code_value: str = ""
    url_value: str = ""
    code_fallback: str = ""
    url_fallback: str = ""


class OfferBlocks(Protocol):
    """What a compiled mail needs from the app that owns offers (``offers.mail``)."""

    def offer_block_for(self, campaign) -> OfferBlock | None: ...

    def offer_block_changes_at(self, campaign):
        """When the block will change by itself (its offer ends), or None: cached pages expire then."""
        ...


OFFER_BLOCKS: list[OfferBlocks] = []
"""At most one entry; without it a campaign mail carries no offer block."""


@dataclass(frozen=True)
class PreparedBatch:
    """What a batch preparer did for one claimed batch: per-recipient values for the messages it
    lets go, and the deliveries it holds back (never sent in this batch) with the reason."""

    links: RecipientLinks | None = None
    held: frozenset[int] = frozenset()
    reason: str = ""


BATCH_PREPARERS: list[Callable[..., PreparedBatch | None]] = []
"""Called once per sending batch as ``preparer(campaign=..., delivery_ids=[...])`` inside the claim's
transaction, so what it writes commits with the claim, before any message of the batch is handed
over (the offers app assigns each delivery its coupon here). None when it has nothing to do with
this campaign. Held deliveries stay queued, and the campaign holds with the reason (a newsletter
is paused; an automation mail keeps sending and its held deliveries wait)."""


DELIVERY_SCHEDULERS: list[Callable[..., None]] = []
"""Called as ``scheduler(campaign=...)`` when a newsletter starts, inside ``campaign_start``'s
transaction right after the snapshot; may set ``Delivery.due_at`` on the campaign's queued
deliveries (the send-time app spreads them over each reader's best hour). Senders claim a
delivery only once it is due."""

CAMPAIGN_ADMIN_NOTES: list[Callable[..., str | None]] = []
"""Called as ``note(campaign)`` on a campaign's admin page: safe HTML about what another app keeps
for the campaign (its send time, with a link to change it), or None. Shown read-only, so the
campaign's form posts nothing for them."""


def deliveries_schedule(*, campaign) -> None:
    for scheduler in DELIVERY_SCHEDULERS:
        scheduler(campaign=campaign)


def batch_prepare(*, campaign, delivery_ids: list[int]) -> list[PreparedBatch]:
    prepared = (preparer(campaign=campaign, delivery_ids=delivery_ids) for preparer in BATCH_PREPARERS)
    return [result for result in prepared if result is not None]


def recipient_links_prepare(*, campaign, compiled) -> list[RecipientLinks]:
    """The per-recipient link functions of every registered provider, prepared for one batch."""
    prepared = (provider(campaign=campaign, compiled=compiled) for provider in RECIPIENT_LINK_PROVIDERS)
    return [links for links in prepared if links is not None]


def answer_blocks() -> AnswerBlocks | None:
    return ANSWER_BLOCKS[0] if ANSWER_BLOCKS else None


def share_blocks() -> ShareBlocks | None:
    return SHARE_BLOCKS[0] if SHARE_BLOCKS else None


def offer_blocks() -> OfferBlocks | None:
    return OFFER_BLOCKS[0] if OFFER_BLOCKS else None


def offer_block_changes_at(campaign):
    blocks = offer_blocks()
    return blocks.offer_block_changes_at(campaign) if blocks is not None else None


def register(registry: list, entry) -> None:
    """Append once: ``ready()`` may run more than once in tests."""
    if entry not in registry:
        registry.append(entry)


SEND_BLOCKERS: list[Callable[..., str | None]] = []
"""Called by the pre-send checklist as ``blocker(campaign=...)``: a message says why the campaign may
not be sent on its own (the experiments app: it is the base of an A/B test, whose variants send it),
and blocks every send and schedule; None lets it through."""
