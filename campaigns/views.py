import math

from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone, translation
from django.views.decorators.http import require_GET

from campaigns import extensions, previews, selectors
from campaigns.models import Campaign
from subscribers import selectors as subscriber_selectors
from subscribers.extensions import signup_hidden_fields
from subscribers.models import MailingList
from subscribers.views.signup import signup_form, signup_form_context

ARCHIVE_CACHE_SECONDS = 3600
# Archived campaigns linked per list on the front page.
HOME_ARCHIVE_ENTRIES = 5
# Campaigns per page of a list's archive index.
ARCHIVE_INDEX_PAGE_SIZE = 20


@require_GET
def home(request):
    """The public front page: every public list with its sign-up form (the form of the list's
    sign-up page, posting there) and its newest campaigns in the public archive."""
    language = translation.get_language()
    consent_text = subscriber_selectors.consent_text_current(language=language)
    entries = []
    for mailing_list in MailingList.objects.filter(is_public=True).order_by("name", "pk"):
        form = signup_form(
            mailing_list=mailing_list,
            language=language or mailing_list.language,
            consent_text=consent_text,
            auto_id=f"id_{mailing_list.slug}_%s",  # several forms on one page
        )
        archived = selectors.list_archive(mailing_list=mailing_list)[:HOME_ARCHIVE_ENTRIES]
        entries.append(
            {
                **signup_form_context(request, mailing_list=mailing_list, form=form),
                "archived": [(campaign, previews.archive_subject(campaign)) for campaign in archived],
            }
        )
    return render(request, "campaigns/home.html", {"entries": entries, "page_width": "48rem"})


@require_GET
def list_archive(request, slug):
    """A public list's archive index: its public campaigns, newest first, a page at a time, with
    links to the list's RSS and Atom feeds."""
    mailing_list = get_object_or_404(MailingList, slug=slug, is_public=True)
    page = Paginator(selectors.list_archive(mailing_list=mailing_list), ARCHIVE_INDEX_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "campaigns/list_archive.html",
        {
            "mailing_list": mailing_list,
            "page": page,
            "archived": [(campaign, previews.archive_subject(campaign)) for campaign in page],
        },
    )


@require_GET
def archive(request, archive_id):
    """The public "view in browser" page: the campaign as sent, without anyone's personal data
    and without the articles shown only to a segment.

    A campaign that is sending or sent can no longer change, so its page is rendered once and
    cached; compiling on every hit would let anyone burn CPU with a public URL. Values the sign-up
    form carries (``subscribers.extensions.SIGNUP_EXTRAS``, e.g. ``?ref=`` from a shared link) are
    passed on to the page's sign-up links.
    """
    campaign = get_object_or_404(
        Campaign, archive_id=archive_id, archive_enabled=True, status__in=Campaign.ARCHIVED_STATUSES
    )
    key = f"campaigns:archive:{campaign.pk}:{campaign.updated_at.timestamp()}"
    html = cache.get(key)
    if html is None:
        html = previews.compile_for_archive(campaign).render(previews.neutral_recipient(campaign)).html
        cache.set(key, html, _cache_seconds(campaign))
    carried = {name: value for name, value, _script in signup_hidden_fields(request.GET, first_view=False)}
    return HttpResponse(previews.with_signup_query(html, campaign, carried))


def _cache_seconds(campaign) -> int:
    """An offer block changes once more by itself, when its offer ends: the page is cached until then."""
    seconds = ARCHIVE_CACHE_SECONDS
    changes_at = extensions.offer_block_changes_at(campaign)
    if changes_at is not None:
        left = math.ceil((changes_at - timezone.now()).total_seconds())
        if left > 0:
            seconds = min(seconds, left)
    return seconds
