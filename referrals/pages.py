"""What referrals add to pages and mails of the lower apps, through their seams (registered in
``ReferralsConfig.ready``): the sign-up form, the preference centre, and the campaign merge tag."""

from django.conf import settings
from django.template.loader import render_to_string

from campaigns.rendering.slots import MERGE
from offers.tokens import offer_url
from referrals import selectors, tokens
from referrals.links import ReferralLinks, referral_url
from referrals.services import self_window
from subscribers.extensions import PreferenceSection, SignupExtra
from subscribers.models import Subscriber, Subscription
from subscribers.tokens import InvalidToken

FIELD = "ref"
DEVICE_COOKIE = "kanal_referrer_device"
MERGE_TAG = "referral_url"
REWARD_CODE_TAG = "referral_reward_code"


def signup_details(request, value: str, mailing_list) -> dict | None:
    """The referral a sign-up form carries, for the consent record: who invited (their row id) and
    whether the form came from the referrer's own browser. A link for another list, a forged or
    revoked link names nobody."""
    try:
        link = tokens.read_referral_token(value)
    except InvalidToken:
        return None
    if link.mailing_list_id != mailing_list.pk:
        return None
    referrer_id = (
        Subscriber.objects.filter(public_id=link.public_id, token_version=link.token_version)
        .values_list("pk", flat=True)
        .first()
    )
    if referrer_id is None:
        return None
    own_device = tokens.read_device_token(request.COOKIES.get(DEVICE_COOKIE, ""), max_age=self_window())
    return {"referral": {"referrer": referrer_id, "same_device": own_device == link.public_id}}


SIGNUP_EXTRA = SignupExtra(field=FIELD, details=signup_details, script="referrals/visit.js")


def preference_section(request, subscriber) -> PreferenceSection | None:
    """The subscriber's referral link for each public list they receive, and their count. The page
    also marks this browser as theirs (a signed cookie), so their own sign-up through it earns nothing."""
    lists = [
        subscription.mailing_list
        for subscription in Subscription.objects.filter(
            subscriber=subscriber, status=Subscription.Status.ACTIVE, mailing_list__is_public=True
        ).select_related("mailing_list")
    ]
    if not lists or subscriber.status != Subscriber.Status.ACTIVE:
        return None
    html = render_to_string(
        "referrals/preference_section.html",
        {
            "links": [
                {"mailing_list": item, "url": referral_url(subscriber=subscriber, mailing_list_id=item.pk)}
                for item in lists
            ],
            "count": selectors.credited_count(referrer=subscriber),
            "rewards": [
                {"reward": reward, "url": offer_url(offer_id=reward.offer_id)}
                for reward in selectors.reward_codes(referrer=subscriber)
            ],
            "reward_pending": selectors.has_pending_reward(referrer=subscriber),
        },
        request=request,
    )
    max_age = settings.KANAL_REFERRAL_SELF_WINDOW_DAYS * 24 * 3600
    return PreferenceSection(
        html=html, cookies={DEVICE_COOKIE: (tokens.make_device_token(public_id=subscriber.public_id), max_age)}
    )


def _uses_tag(compiled, name: str) -> bool:
    def is_ours(part):
        return not isinstance(part, str) and part.field == name and not part.key

    return any(kind == MERGE and is_ours(argument) for kind, argument in compiled.slots) or any(
        is_ours(part) for part in compiled.subject_parts
    )


def campaign_referral_links(*, campaign, compiled):
    """``{{ subscriber.referral_url }}`` per recipient: their link to the campaign's first public list
    (empty without one). Nothing is signed for a campaign that does not use the tag."""
    if campaign is None or not _uses_tag(compiled, MERGE_TAG):
        return None
    public = campaign.mailing_lists.filter(is_public=True).order_by("pk")
    mailing_list_id = public.values_list("pk", flat=True).first()
    if mailing_list_id is None:
        return None
    links = ReferralLinks(mailing_list_id=mailing_list_id)

    def values(delivery_id, subscriber):
        return {"values": {MERGE_TAG: links.for_subscriber(subscriber)}}

    return values


def campaign_reward_codes(*, campaign, compiled):
    """``{{ subscriber.referral_reward_code }}`` per recipient: the code of their newest coupon reward
    (empty without one), for the thank-you mail of the "reached a referral milestone" automation.
    One query per message, and only for a mail that uses the tag."""
    if campaign is None or not _uses_tag(compiled, REWARD_CODE_TAG):
        return None

    def values(delivery_id, subscriber):
        return {"values": {REWARD_CODE_TAG: selectors.latest_reward_code(public_id=subscriber.public_id)}}

    return values
