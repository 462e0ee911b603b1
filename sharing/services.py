"""Forwarding a campaign to friends and counting shares.

A forward sends the campaign's archive version, the page anyone may read, so nothing in it
belongs to the forwarding subscriber: no unsubscribe or preference link, no tracking, no survey
answer link, no referral token. Friends get it once because a person asked for it, under that
person's name, through the one outgoing-mail entry point and marked ``kind="forward"`` (not a
campaign delivery): no List-Unsubscribe, no open or click tracking, and their addresses are
dropped once the mail is out. Sending happens in the request, since a task would carry the
addresses through the broker.
"""

import logging
from dataclasses import replace

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from campaigns.models import Campaign, Delivery
from campaigns.previews import archive_url, compile_for_archive, neutral_recipient, signup_url
from newsletter_site import mail
from sharing import selectors
from sharing.models import Network, SharingEvent
from sharing.networks import network_url
from sharing.signals import campaign_shared
from subscribers.models import Subscriber
from subscribers.selectors import address_may_receive_mail
from tracking.services.links import individual_tracking

logger = logging.getLogger(__name__)


def forward_message_parts(*, campaign: Campaign, forwarder_name: str) -> tuple[str, str, str]:
    """Subject, text and HTML of the mail a friend gets: an introduction naming the forwarder
    and inviting to sign up, then the archive version. Share links lead straight to the
    networks, so no click of the friend passes through Kanal."""
    page = archive_url(campaign)
    title = selectors.campaign_title(campaign)
    recipient = replace(
        neutral_recipient(campaign),
        share_urls=[network_url(network, url=page, title=title) for network in Network.values],
    )
    rendered = compile_for_archive(campaign).render(recipient)
    context = {"name": forwarder_name, "signup_url": signup_url(campaign), "archive_url": page}
    with translation.override(campaign.language):
        subject = _("%(name)s recommends: %(subject)s") % {"name": forwarder_name, "subject": rendered.subject}
        intro_text = render_to_string("sharing/email/forward_intro.txt", context)
        intro_html = render_to_string("sharing/email/forward_intro.html", context)
    return subject, intro_text + "\n" + rendered.text, _after_body_tag(rendered.html, intro_html)


def _after_body_tag(html: str, fragment: str) -> str:
    start = html.find("<body")
    end = html.find(">", start) + 1 if start != -1 else 0
    return html[:end] + fragment + html[end:]


def campaign_forward(*, campaign: Campaign, delivery_id: int | None, forwarder_name: str, addresses: list[str]) -> int:
    """Send the campaign to ``addresses`` on behalf of ``forwarder_name``; returns how many mails
    went out. Addresses that bounced, complained or were blocked get nothing, silently: the page
    must not tell strangers which addresses those are."""
    if not 1 <= len(addresses) <= settings.KANAL_FORWARD_MAX_RECIPIENTS:
        raise ValueError(f"between 1 and {settings.KANAL_FORWARD_MAX_RECIPIENTS} addresses")
    subject, text, html = forward_message_parts(campaign=campaign, forwarder_name=forwarder_name)
    sender = mail.Sender.of(campaign.from_header, campaign.reply_to)
    messages = [
        mail.message(
            sender=sender,
            to=address,
            subject=subject,
            text=text,
            html=html,
            kind="forward",
            metadata={"campaign_id": str(campaign.pk)},
            tags=["forward"],
            track=False,
        )
        for address in addresses
        if address_may_receive_mail(email=address)
    ]
    sent = 0
    if messages:
        with get_connection() as connection:
            sent = connection.send_messages(messages) or 0
    delivery = Delivery.objects.filter(pk=delivery_id, campaign=campaign).select_related("subscriber").first()
    _event_record(
        campaign=campaign,
        kind=SharingEvent.Kind.FORWARD,
        recipients=sent,
        delivery_id=delivery.pk if delivery else None,
        subscriber=delivery.subscriber if delivery else None,
        machine_reason="",
    )
    logger.info("Campaign %s forwarded: %s of %s mails sent", campaign.pk, sent, len(addresses))
    return sent


def share_record(
    *, campaign: Campaign, network: str, machine_reason: str, delivery_id: int | None = None
) -> SharingEvent:
    """One hit on a share link, labelled with ``machine_reason`` ("" for a person) as tracking
    labels clicks. ``delivery_id`` is the delivery whose own share links were used (their
    per-delivery token): its subscriber is the sharer. Nothing else names anyone."""
    delivery = (
        Delivery.objects.filter(pk=delivery_id, campaign=campaign).select_related("subscriber").first()
        if delivery_id is not None
        else None
    )
    return _event_record(
        campaign=campaign,
        kind=SharingEvent.Kind.SHARE,
        network=network,
        subscriber=delivery.subscriber if delivery else None,
        machine_reason=machine_reason,
    )


def _event_record(*, subscriber: Subscriber | None, **fields) -> SharingEvent:
    """Store the event, naming its subscriber only with individual tracking allowed, and announce
    a person's event that names someone once it has committed."""
    if subscriber is not None and not individual_tracking(subscriber_tracking_consent=subscriber.tracking_consent):
        subscriber = None
    with transaction.atomic():
        event = SharingEvent.objects.create(subscriber=subscriber, **fields)
        if event.subscriber_id is not None and not event.is_machine:
            transaction.on_commit(lambda: _announce(event))
    return event


def _announce(event: SharingEvent) -> None:
    for receiver, result in campaign_shared.send_robust(sender=SharingEvent, event=event):
        if isinstance(result, Exception):
            logger.error("Sharing event %s: receiver %r failed", event.pk, receiver, exc_info=result)


def subscriber_sharing_forget(subscriber: Subscriber) -> None:
    """Unlink the subscriber's forwards and shares (``gdpr.ERASE_HOOKS`` and
    ``preferences.TRACKING_WITHDRAWN_HOOKS``); the counts stay. A forward keeps its delivery
    (it counts forwarders), which erasure leaves without a person."""
    SharingEvent.objects.filter(subscriber=subscriber).update(subscriber=None)
