import math

from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from campaigns import extensions, previews
from campaigns.models import Campaign
from subscribers.extensions import signup_hidden_fields

ARCHIVE_CACHE_SECONDS = 3600


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
