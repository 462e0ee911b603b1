"""What one batch knows about its campaign, and the per-recipient links it builds from that."""

from dataclasses import dataclass, field

from campaigns.mime import MessageSkeleton
from campaigns.models import Campaign
from campaigns.rendering import CompiledCampaign, RecipientContext
from campaigns.services.transports.ledger import ClaimedDelivery, DeliveryLedger
from subscribers.links import MailLinks
from surveys.mail import AnswerLinks
from tracking.services.links import honeypot_url_for, tracking_urls_for


@dataclass
class BatchContext:
    campaign: Campaign
    compiled: CompiledCampaign
    ledger: DeliveryLedger
    links: MailLinks
    skeleton: MessageSkeleton | None = None
    # The campaign's tracked link ids (tracking.services.campaign_links_register); None: no tracking.
    link_ids: list[int] | None = None
    # Signs the survey-button and article-feedback URLs; built on first use, once per batch.
    answer_links: AnswerLinks | None = field(default=None, repr=False)

    def recipient(self, delivery: ClaimedDelivery) -> tuple[RecipientContext, str]:
        subscriber = delivery.subscriber
        unsubscribe, preferences, list_unsubscribe = self.links.for_subscriber(subscriber.public_id)
        pixel, link_urls, honeypot = "", None, ""
        if self.link_ids is not None:
            consent = subscriber.tracking_consent
            pixel, link_urls = tracking_urls_for(
                delivery_id=delivery.pk,
                campaign_id=self.campaign.pk,
                subscriber_tracking_consent=consent,
                link_ids=self.link_ids,
            )
            honeypot = honeypot_url_for(
                delivery_id=delivery.pk, campaign_id=self.campaign.pk, subscriber_tracking_consent=consent
            )
        survey_urls, feedback_urls = self._answer_urls(delivery.pk)
        context = RecipientContext(
            email=subscriber.email,
            first_name=subscriber.first_name,
            last_name=subscriber.last_name,
            language=subscriber.language,
            unsubscribe_url=unsubscribe,
            preferences_url=preferences,
            link_urls=link_urls,
            open_pixel_url=pixel,
            honeypot_url=honeypot,
            survey_urls=survey_urls,
            feedback_urls=feedback_urls,
        )
        return context, list_unsubscribe

    def _answer_urls(self, delivery_id: int) -> tuple[list[str] | None, list[str] | None]:
        """One-click survey and feedback URLs signed for this delivery (answers, not tracking: every
        recipient gets them, whatever their tracking consent)."""
        if not self.compiled.has_answer_links:
            return None, None
        if self.answer_links is None:
            self.answer_links = AnswerLinks(
                survey=self.compiled.survey, feedback_article_ids=self.compiled.feedback_article_ids
            )
        return self.answer_links.for_delivery(delivery_id)
