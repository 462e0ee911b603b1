"""What one batch knows about its campaign, and the per-recipient links it builds from that."""

from dataclasses import dataclass, field

from campaigns.extensions import RecipientLinks
from campaigns.mime import MessageSkeleton
from campaigns.models import Campaign
from campaigns.rendering import CompiledCampaign, RecipientContext
from campaigns.services.transports.ledger import ClaimedDelivery, DeliveryLedger
from newsletter_site.mail import Sender
from subscribers.links import MailLinks


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
    # From and Reply-To, cleaned once per batch (newsletter_site.mail).
    sender: Sender = field(init=False)

    def __post_init__(self):
        self.sender = Sender.of(self.campaign.from_header, self.campaign.reply_to)

    def recipient(self, delivery: ClaimedDelivery) -> tuple[RecipientContext, str]:
        subscriber = delivery.subscriber
        unsubscribe, preferences, list_unsubscribe = self.links.for_subscriber(subscriber)
        extra = {}
        for links_for in self.recipient_links:
            extra.update(links_for(delivery.pk, subscriber))
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
