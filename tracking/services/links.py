"""The sender's side of tracking: one stored row per campaign link, and the URLs per recipient.

A recipient is tracked individually only when the installation allows it
(``KANAL_INDIVIDUAL_TRACKING``) and the subscriber agreed (``tracking_consent``). Everyone else
gets anonymous URLs that are identical for all anonymous recipients of the campaign: the opens
and clicks still add up in the campaign's figures, but no event names a delivery or a person.
"""

import uuid

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from campaigns.models import Article, Campaign
from campaigns.rendering import CompiledCampaign
from tracking import event_queue, tokens
from tracking.models import TrackedLink

_anonymous_urls: dict[tuple[int, tuple[int, ...]], tuple[str, tuple[str, ...]]] = {}
ANONYMOUS_URLS_CACHE_SIZE = 256


@receiver(setting_changed)
def _forget_anonymous_urls(*, setting, **kwargs):
    if setting in {"SECRET_KEY", "SITE_URL"}:
        _anonymous_urls.clear()


def _registered(campaign_id: int) -> dict[tuple[uuid.UUID, int], int]:
    rows = TrackedLink.objects.filter(campaign_id=campaign_id).values_list("article_public_id", "position", "pk")
    return {(article_public_id, position): pk for article_public_id, position, pk in rows}


def campaign_links_register(*, campaign: Campaign, compiled: CompiledCampaign) -> list[int]:
    """The TrackedLink ids of ``compiled.links``, in that order, creating missing rows.

    Safe to call from many workers at once: rows are unique per (campaign, article, position),
    inserted with ON CONFLICT DO NOTHING and then read back. One query once the rows exist. A row
    never changes, so links in mails already sent keep their target.
    """
    keys = [(uuid.UUID(str(link.article_public_id)), link.position) for link in compiled.links]
    if not keys:
        return []
    registered = _registered(campaign.pk)
    missing = [(key, link) for key, link in zip(keys, compiled.links, strict=True) if key not in registered]
    if missing:
        articles = dict(
            Article.objects.filter(campaign=campaign, public_id__in={key[0] for key, _link in missing}).values_list(
                "public_id", "pk"
            )
        )
        TrackedLink.objects.bulk_create(
            [
                TrackedLink(
                    campaign=campaign,
                    article_id=articles.get(key[0]),
                    article_public_id=key[0],
                    position=key[1],
                    kind=link.kind,
                    url=link.url,
                )
                for key, link in missing
            ],
            ignore_conflicts=True,
        )
        registered = _registered(campaign.pk)
        event_queue.link_targets_store(
            dict(TrackedLink.objects.filter(pk__in=registered.values()).values_list("pk", "url"))
        )
    return [registered[key] for key in keys]


def individual_tracking(*, subscriber_tracking_consent: bool) -> bool:
    return bool(settings.KANAL_INDIVIDUAL_TRACKING and subscriber_tracking_consent)


def tracking_urls_for(
    *, delivery_id: int, campaign_id: int, subscriber_tracking_consent: bool, link_ids
) -> tuple[str, list[str]]:
    """(open pixel URL, click URLs in the order of ``link_ids``) for one message.

    Without consent (or with individual tracking off) the URLs name only the campaign and the
    links, the same for every anonymous recipient, and are built once per campaign.
    """
    if individual_tracking(subscriber_tracking_consent=subscriber_tracking_consent):
        return (
            tokens.open_url(delivery_id=delivery_id),
            tokens.click_urls(delivery_id=delivery_id, link_ids=link_ids),
        )
    key = (campaign_id, tuple(link_ids))
    urls = _anonymous_urls.get(key)
    if urls is None:
        if len(_anonymous_urls) >= ANONYMOUS_URLS_CACHE_SIZE:
            _anonymous_urls.clear()
        urls = _anonymous_urls[key] = (
            tokens.anonymous_open_url(campaign_id=campaign_id),
            tuple(tokens.anonymous_click_url(link_id=link_id) for link_id in link_ids),
        )
    return urls[0], list(urls[1])


def honeypot_url_for(*, delivery_id: int, campaign_id: int, subscriber_tracking_consent: bool) -> str:
    """The hidden link that only machines follow; any click on it marks the message's nearby events as machine."""
    if individual_tracking(subscriber_tracking_consent=subscriber_tracking_consent):
        return tokens.honeypot_url(delivery_id=delivery_id)
    return tokens.anonymous_honeypot_url(campaign_id=campaign_id)


def campaign_recipient_links(*, campaign: Campaign, compiled: CompiledCampaign):
    """The sender's tracking URLs (registered in ``campaigns.extensions``): the campaign's links
    stored once per batch, then the open pixel, click and honeypot URLs per recipient."""
    if not settings.KANAL_TRACKING:
        return None
    link_ids = campaign_links_register(campaign=campaign, compiled=compiled)
    campaign_id = campaign.pk

    def for_recipient(delivery_id: int, subscriber) -> dict:
        consent = subscriber.tracking_consent
        pixel, link_urls = tracking_urls_for(
            delivery_id=delivery_id, campaign_id=campaign_id, subscriber_tracking_consent=consent, link_ids=link_ids
        )
        honeypot = honeypot_url_for(
            delivery_id=delivery_id, campaign_id=campaign_id, subscriber_tracking_consent=consent
        )
        return {"open_pixel_url": pixel, "link_urls": link_urls, "honeypot_url": honeypot}

    return for_recipient


def message_tracking(*, subscriber_tracking_consent: bool) -> bool:
    """Whether one transactional message may be tracked: only individually, for a subscriber who
    agreed. A message has one recipient and its row names them, so there is no anonymous variant."""
    return bool(settings.KANAL_TRACKING) and individual_tracking(
        subscriber_tracking_consent=subscriber_tracking_consent
    )


def message_tracking_fields(*, message_id: int, link_count: int) -> dict:
    """``RecipientContext`` fields that track one transactional message: its open pixel, a click URL
    per link (positions from 1, in mail order) and the honeypot."""
    return {
        "open_pixel_url": tokens.message_open_url(message_id=message_id),
        "link_urls": [
            tokens.message_click_url(message_id=message_id, position=position) for position in range(1, link_count + 1)
        ],
        "honeypot_url": tokens.message_honeypot_url(message_id=message_id),
    }
