"""One-time links to a subscriber's data, mailed to their own address, and revoking all of one
person's links. The links in newsletters only ask for such a mail; they never export or erase."""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation

from brands.selectors import default_brand
from newsletter_site import mail
from subscribers import links, selectors, tokens
from subscribers.models import Subscriber
from subscribers.services import gdpr

logger = logging.getLogger(__name__)


def data_link_request(*, subscriber: Subscriber, action: str) -> None:
    """Queue a mail with a one-time ``action`` link ("export" or "erase") to the subscriber's address."""
    if action not in tokens.DATA_LINK_ACTIONS:
        raise ValueError(f"Unknown data link action {action!r}.")
    from subscribers.tasks import send_data_link_mail

    send_data_link_mail.delay_on_commit(subscriber.pk, action)


def data_link_mail_send(*, subscriber_id: int, action: str) -> None:
    """Send the mail with a fresh link. A subscriber erased meanwhile, or an address that bounced,
    complained or was suppressed, gets nothing."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or not selectors.address_may_receive_mail(email=subscriber.email):
        logger.info("No data link mail for subscriber %s", subscriber_id)
        return
    context = {
        "subscriber": subscriber,
        "action": action,
        "url": links.data_link_url(subscriber=subscriber, action=action),
        "company_address": default_brand().company_address,
    }
    with translation.override(subscriber.language):
        subject = render_to_string("subscribers/email/data_link_subject.txt", context).strip()
        text = render_to_string("subscribers/email/data_link.txt", context)
    mail.message(
        sender=mail.Sender.of(settings.DEFAULT_FROM_EMAIL),
        to=subscriber.email,
        subject=subject,
        text=text,
        kind="data-link",
        metadata={"action": action},
        tags=["data-link"],
        track=False,
    ).send()


def _subscriber_for_link(*, public_id, action: str, token: str) -> Subscriber:
    """The subscriber a data link names, locked, or InvalidToken when the link is forged, spent or old."""
    subscriber = Subscriber.objects.select_for_update().filter(public_id=public_id).first()
    if subscriber is None or not tokens.check_data_link_token(subscriber=subscriber, action=action, token=token):
        raise tokens.InvalidToken("not a live data link")
    return subscriber


@transaction.atomic
def data_link_export(*, public_id, token: str) -> dict:
    """Everything about the subscriber, once per link: using it spends this and every other data link."""
    subscriber = _subscriber_for_link(public_id=public_id, action="export", token=token)
    subscriber.data_link_used_at = timezone.now()
    subscriber.save(update_fields=["data_link_used_at"])
    return gdpr.subscriber_export(subscriber=subscriber)


@transaction.atomic
def data_link_erase(*, public_id, token: str) -> None:
    gdpr.subscriber_erase(subscriber=_subscriber_for_link(public_id=public_id, action="erase", token=token))


def subscriber_links_revoke(*, subscriber: Subscriber) -> None:
    """Make every link sent to this subscriber so far stop working: unsubscribe, preferences and data
    links. Mails sent from now on carry new ones."""
    Subscriber.objects.filter(pk=subscriber.pk).update(token_version=F("token_version") + 1)
    logger.info("Links of subscriber %s revoked", subscriber.pk)
