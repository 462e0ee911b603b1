"""Recipients for previews, test sends and the public archive page, where no delivery exists."""

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import urlencode

from campaigns import merge_tags
from campaigns.models import Campaign
from campaigns.rendering import CompiledCampaign, RecipientContext, compile_campaign
from campaigns.selectors import articles_visible_to
from subscribers.models import Subscriber, Subscription


def preview_html_response(html: str) -> HttpResponse:
    """A mail's HTML for an admin preview frame: marketer content under the admin's origin, so no
    scripts, no forms (campaigns' and transactional templates' previews)."""
    response = HttpResponse(html)
    response["Content-Security-Policy"] = "script-src 'none'; form-action 'none'; base-uri 'none'"
    return response


def archive_url(campaign: Campaign) -> str:
    """The public "view in browser" address, or "" when the campaign has no public archive page."""
    if not campaign.archive_enabled:
        return ""
    return settings.SITE_URL + reverse("campaigns:archive", kwargs={"archive_id": campaign.archive_id})


def archive_subject(campaign: Campaign) -> str:
    """The subject as the archive's reader sees it: merge tags at their defaults, no one's data."""
    return merge_tags.render_plain(merge_tags.parse(campaign.subject), neutral_recipient(campaign))


def archive_preheader(campaign: Campaign) -> str:
    """The preheader as the archive's reader sees it (the list's feeds use it as the excerpt)."""
    return merge_tags.render_plain(merge_tags.parse(campaign.preheader), neutral_recipient(campaign))


def compile_for_display(
    campaign: Campaign, *, audience_of: Subscriber | None = None, articles: list | None = None
) -> CompiledCampaign:
    """The campaign for staff (previews, test mails). As ``audience_of`` would get it now: only the
    conditional articles of segments that subscriber is in. For nobody in particular: every
    article, each conditional one headed "only for subscribers in the segment …".

    ``articles`` (unsaved ones, from the editor's live preview) replace the saved articles; the
    live preview shows them for nobody in particular."""
    if audience_of is None:
        return compile_campaign(campaign, articles=articles, archive_url=archive_url(campaign), mark_conditional=True)
    conditional = dict(campaign.articles.filter(segment__isnull=False).values_list("pk", "segment_id"))
    visible = ()
    if conditional:
        visible = articles_visible_to(conditional=conditional, subscriber_ids=[audience_of.pk])[audience_of.pk]
    return compile_campaign(campaign, archive_url=archive_url(campaign), visible_articles=visible)


def compile_for_archive(campaign: Campaign) -> CompiledCampaign:
    """The public "view in browser" page: no conditional article, since anyone may read it.
    No "view in browser" link either, on the page that is the browser view."""
    return compile_campaign(campaign, visible_articles=())


def signup_url(campaign: Campaign) -> str:
    mailing_list = campaign.mailing_lists.order_by("pk").first() if campaign.pk else None
    if mailing_list is None:
        return settings.SITE_URL + "/"
    return settings.SITE_URL + reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug})


def with_signup_query(html: str, campaign: Campaign, query: dict[str, str]) -> str:
    """The archive page's sign-up links (its "manage" and "unsubscribe" links lead there) with
    ``query`` added, so a value that came with the page (a referral, ``SIGNUP_EXTRAS``) reaches the
    sign-up form. Done on the cached page, which stays the same for everyone."""
    if not query:
        return html
    url = signup_url(campaign)
    return html.replace(f'href="{escape(url)}"', f'href="{escape(url + "?" + urlencode(query))}"')


def neutral_recipient(campaign: Campaign) -> RecipientContext:
    """No personal data: merge tags fall back to their defaults, the unsubscribe and preference
    links lead to the sign-up page of the campaign's first list."""
    url = signup_url(campaign)
    return RecipientContext(language=campaign.language, unsubscribe_url=url, preferences_url=url)


def subscriber_recipient(campaign: Campaign, subscriber: Subscriber) -> RecipientContext:
    """A real subscriber's merge data for previews and test mails, with inert links: unsubscribe and
    preferences lead to the sign-up page, since working ones would act for that subscriber in
    whoever's hands the preview or a forwarded test mail ends up."""
    url = signup_url(campaign)
    return RecipientContext.for_subscriber(subscriber, unsubscribe_url=url, preferences_url=url)


def sample_subscriber(campaign: Campaign) -> Subscriber | None:
    """An active subscriber of the campaign's lists, to show staff what personalisation does."""
    if campaign.pk is None:
        return None
    return (
        Subscriber.objects.filter(
            status=Subscriber.Status.ACTIVE,
            subscriptions__mailing_list__in=campaign.mailing_lists.all(),
            subscriptions__status=Subscription.Status.ACTIVE,
        )
        .order_by("pk")
        .first()
    )


def chosen_subscriber(subscriber: Subscriber | None, *, email: str) -> Subscriber | None:
    """The subscriber staff asked for by address; None when a preview shows a sample subscriber
    (or nobody) instead: then conditional articles are all shown, marked."""
    if subscriber is None or not email or subscriber.email != email.strip().lower():
        return None
    return subscriber


def preview_recipient(campaign: Campaign, *, email: str = "") -> tuple[RecipientContext, Subscriber | None]:
    """The subscriber with this address, else a sample subscriber of the lists, else nobody."""
    subscriber = None
    if email:
        subscriber = Subscriber.objects.filter(email=email.strip().lower()).first()
    if subscriber is None:
        subscriber = sample_subscriber(campaign)
    if subscriber is None:
        return neutral_recipient(campaign), None
    return subscriber_recipient(campaign, subscriber), subscriber
