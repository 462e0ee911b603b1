"""What one batch knows about its campaign, and the per-recipient links it builds from that."""

from dataclasses import dataclass, field

from campaigns.extensions import RecipientLinks
from campaigns.mime import MessageSkeleton
from campaigns.models import Campaign
from campaigns.rendering import CompiledCampaign, RecipientContext
from campaigns.services.transports.ledger import ClaimedDelivery, DeliveryLedger
from newsletter_site.mail import Sender
from subscribers.links import MailLinks

NOTHING: frozenset[int] = frozenset()


@dataclass
class BatchContext:
    campaign: Campaign
    compiled: CompiledCampaign
    ledger: DeliveryLedger
    links: MailLinks
    skeleton: MessageSkeleton | None = None
    # The registered providers' per-recipient links (tracking URLs, one-click answers), prepared
    # for this batch by campaigns.extensions.recipient_links_prepare.
    recipient_links: list[RecipientLinks] = field(default_factory=list)
    # Conditional content: subscriber id -> the conditional articles that subscriber sees
    # (campaigns.selectors.articles_visible_to); None when the campaign has none.
    visible_articles: dict[int, frozenset[int]] | None = None
    # From and Reply-To, cleaned once per batch (newsletter_site.mail).
    sender: Sender = field(init=False)

    def __post_init__(self):
        self.sender = Sender.of(self.campaign.from_header, self.campaign.reply_to)

    def visible_to(self, delivery: ClaimedDelivery) -> frozenset[int]:
        return self.visible_articles.get(delivery.subscriber_id, NOTHING) if self.visible_articles else NOTHING

    def compiled_for(self, delivery: ClaimedDelivery) -> CompiledCampaign:
        """The campaign as this recipient sees it (their conditional articles)."""
        if self.visible_articles is None:
            return self.compiled
        return self.compiled.variant(self.visible_to(delivery))

    def skeleton_for(self, delivery: ClaimedDelivery) -> MessageSkeleton:
        if self.visible_articles is None:
            return self.skeleton
        return self.skeleton.variant(self.visible_to(delivery))

    def in_variant_order(self, deliveries: list[ClaimedDelivery]) -> list[ClaimedDelivery]:
        """Recipients who see the same articles next to each other, so each layout is built at
        most once per batch even when more than MAX_CACHED_VARIANTS are in use."""
        if self.visible_articles is None:
            return deliveries
        return sorted(deliveries, key=lambda delivery: sorted(self.visible_to(delivery)))

    def recipient(self, delivery: ClaimedDelivery) -> tuple[RecipientContext, str]:
        subscriber = delivery.subscriber
        unsubscribe, preferences, list_unsubscribe = self.links.for_subscriber(subscriber)
        extra = {}
        for links_for in self.recipient_links:
            given = links_for(delivery.pk, subscriber)
            if "values" in given and "values" in extra:  # several apps' merge-tag values
                given = {**given, "values": {**extra["values"], **given["values"]}}
            extra.update(given)
        context = RecipientContext(
            email=subscriber.email,
            first_name=subscriber.first_name,
            last_name=subscriber.last_name,
            language=subscriber.language,
            fields=subscriber.fields,
            unsubscribe_url=unsubscribe,
            preferences_url=preferences,
            **extra,
        )
        return context, list_unsubscribe
