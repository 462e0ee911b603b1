"""The forward and share block in campaign mails (``campaigns.extensions.SHARE_BLOCKS``) and its
per-recipient links (``RECIPIENT_LINK_PROVIDERS``): the forward page of the delivery, and share
links with the subscriber's referral token when a referral source gives one."""

from django.utils.translation import gettext as _

from campaigns.extensions import ShareBlock, ShareLink
from campaigns.previews import archive_url
from sharing import referrals, tokens
from sharing.models import Network
from sharing.networks import with_parameter


def campaign_shares(campaign) -> bool:
    """Sharing needs the public archive page: it is what the friends and share links see."""
    return bool(campaign.sharing_enabled and campaign.archive_enabled)


def share_block_for(campaign) -> ShareBlock | None:
    if not campaign_shares(campaign):
        return None
    return ShareBlock(
        title=_("Share this newsletter"),
        links=tuple(
            ShareLink(label=str(label), url=tokens.share_url(campaign_id=campaign.pk, network=network))
            for network, label in Network.choices
        ),
        forward_label=_("Forward to a friend"),
        page_label=_("Link to this newsletter"),
        page_url=archive_url(campaign),
    )


def campaign_share_links(*, campaign, compiled):
    """Per delivery: the forward URL, and share URLs with a referral token if the subscriber has one."""
    if compiled.share is None:
        return None
    signer = tokens.forward_signer(campaign_id=campaign.pk)
    source = referrals.referral_source()
    token_for = source.tokens_for(campaign) if source is not None else None
    defaults = compiled.share_default_urls

    def links(delivery_id: int, recipient) -> dict:
        found = {"forward_url": signer.urls(delivery_id)[0] + "/"}
        token = token_for(recipient) if token_for is not None else None
        if token:
            found["share_urls"] = [with_parameter(url, referrals.SHARE_PARAMETER, token) for url in defaults]
        return found

    return links
