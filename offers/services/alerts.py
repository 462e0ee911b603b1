"""The staff mail when a pool runs low: once per crossing of the offer's threshold."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from newsletter_site import mail
from newsletter_site.permissions import has_staff_permissions
from offers import selectors
from offers.models import Offer

logger = logging.getLogger(__name__)
ALERT_PERMISSION = "offers.change_offer"


def alert_recipients() -> list[str]:
    """Addresses of active staff who may change offers (and so refill a pool)."""
    users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="").order_by("pk")
    return sorted({user.email for user in users if has_staff_permissions(user, ALERT_PERMISSION)})


@transaction.atomic
def pool_low_check(*, offer_id: int) -> bool:
    """Mail staff if the pool has fallen below its threshold and they have not been told since it
    did; forget the warning once the pool is above it again. Returns whether a mail went out.

    The offer row is locked, so two checks at once send one mail; the mark is written in the same
    transaction as the send, so a failed send is tried again by the next check.
    """
    offer = Offer.objects.select_for_update().filter(pk=offer_id).first()
    if offer is None or offer.code_source != Offer.CodeSource.POOL:
        return False
    left = selectors.codes_left(offer=offer)
    low = offer.low_pool_threshold > 0 and left < offer.low_pool_threshold
    if not low:
        if offer.low_pool_warned_at is not None:
            offer.low_pool_warned_at = None
            offer.save(update_fields=["low_pool_warned_at"])
        return False
    if offer.low_pool_warned_at is not None:
        return False
    offer.low_pool_warned_at = timezone.now()
    offer.save(update_fields=["low_pool_warned_at"])
    recipients = alert_recipients()
    if not recipients:
        logger.warning("Pool of offer %s is low (%s left) and no staff user may change offers", offer.pk, left)
        return True
    context = {
        "offer": offer,
        "left": left,
        "url": settings.SITE_URL + reverse("admin:offers_offer_change", args=[offer.pk]),
    }
    subject = render_to_string("offers/email/pool_low_subject.txt", context).strip()
    text = render_to_string("offers/email/pool_low.txt", context)
    sender = mail.Sender.of(settings.DEFAULT_FROM_EMAIL)
    for address in recipients:
        mail.message(
            sender=sender, to=address, subject=subject, text=text, kind="pool-low", tags=["pool-low"], track=False
        ).send()
    return True
