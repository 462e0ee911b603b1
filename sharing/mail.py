"""The forward and share block in campaign mails (``campaigns.extensions.SHARE_BLOCKS``) and its
per-recipient links (``RECIPIENT_LINK_PROVIDERS``): the forward page of the delivery, and the
delivery's own share links (an ``own_share`` token naming the delivery, so a share made from them
names its reader), with the subscriber's referral token when a referral source gives one. The
campaign's share links (the archive page's) name nobody."""

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
    """Per delivery: the forward URL, and the delivery's own share URLs (the block's networks, in
    its order), with a referral token if the subscriber has one."""
    if compiled.share is None:
        return None
    forward_signer = tokens.forward_signer(campaign_id=campaign.pk)
    share_signer = tokens.own_share_signer(campaign_id=campaign.pk)
    networks = Network.values  # the order of ``share_block_for``'s links
    source = referrals.referral_source()
    token_for = source.tokens_for(campaign) if source is not None else None

    def links(delivery_id: int, recipient) -> dict:
        stem = share_signer.urls(delivery_id)[0]
        share_urls = [f"{stem}/{network}/" for network in networks]
        token = token_for(recipient) if token_for is not None else None
        if token:
            share_urls = [with_parameter(url, referrals.SHARE_PARAMETER, token) for url in share_urls]
        return {"forward_url": forward_signer.urls(delivery_id)[0] + "/", "share_urls": share_urls}

    return links
