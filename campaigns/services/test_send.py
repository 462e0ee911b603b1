"""Test sends: the campaign as subscribers would get it, to a few staff addresses."""

from django.core.mail import get_connection
from django.utils import translation
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from campaigns.previews import compile_for_display
from campaigns.rendering import RecipientContext
from newsletter_site import mail
from subscribers.models import Subscriber

MAX_TEST_RECIPIENTS = 5


def campaign_send_test(
    *,
    campaign: Campaign,
    addresses: list[str],
    recipient: RecipientContext,
    audience_of: Subscriber | None = None,
) -> int:
    """Send one "[Test]" message per address through the configured Anymail backend, on one
    connection, rendered for ``recipient``, with the conditional articles ``audience_of`` would
    see (all of them, marked, without a chosen subscriber). Returns the number of messages sent."""
    if not 1 <= len(addresses) <= MAX_TEST_RECIPIENTS:
        raise ValueError(f"between 1 and {MAX_TEST_RECIPIENTS} addresses")
    rendered = compile_for_display(campaign, audience_of=audience_of).render(recipient)
    with translation.override(campaign.language):
        subject = _("[Test] %(subject)s") % {"subject": rendered.subject}
    sender = mail.Sender.of(campaign.from_header, campaign.reply_to)
    messages = [
        mail.message(
            sender=sender,
            to=address,
            subject=subject,
            text=rendered.text,
            html=rendered.html,
            kind="campaign-test",
            metadata={"campaign_id": str(campaign.pk)},
            tags=["campaign-test"],
            track=False,
        )
        for address in addresses
    ]
    with get_connection() as connection:
        return connection.send_messages(messages) or 0
