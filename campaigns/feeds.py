"""RSS 2.0 and Atom feeds of a public list's archive (Django's syndication framework).

A feed shows what the archive index shows (``selectors.list_archive``): subjects and preheaders with
merge tags at their defaults, never anyone's data, and links to the public archive pages, which
carry no tracking token.
"""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from campaigns import previews, selectors
from subscribers.models import MailingList

FEED_ITEMS = 20


class ListArchiveRssFeed(Feed):
    """RSS 2.0: the newest campaigns of a public list's archive."""

    url_name = "campaigns:list_archive_rss"

    def get_object(self, request, slug):
        return get_object_or_404(MailingList, slug=slug, is_public=True)

    def title(self, mailing_list):
        return mailing_list.name

    def link(self, mailing_list):
        return settings.SITE_URL + reverse("campaigns:list_archive", kwargs={"slug": mailing_list.slug})

    def description(self, mailing_list):
        return mailing_list.public_description or _("The archive of %(name)s") % {"name": mailing_list.name}

    def feed_url(self, mailing_list):
        return settings.SITE_URL + reverse(self.url_name, kwargs={"slug": mailing_list.slug})

    def language(self, mailing_list):
        return mailing_list.language

    def items(self, mailing_list):
        return selectors.list_archive(mailing_list=mailing_list)[:FEED_ITEMS]

    def item_title(self, campaign):
        return previews.archive_subject(campaign)

    def item_description(self, campaign):
        return previews.archive_preheader(campaign)

    def item_link(self, campaign):
        return previews.archive_url(campaign)

    def item_guid(self, campaign):
        return previews.archive_url(campaign)

    def item_pubdate(self, campaign):
        return campaign.started_at

    def item_updateddate(self, campaign):
        return campaign.started_at


class ListArchiveAtomFeed(ListArchiveRssFeed):
    """Atom 1.0: the same entries."""

    feed_type = Atom1Feed
    url_name = "campaigns:list_archive_atom"

    def subtitle(self, mailing_list):
        return self.description(mailing_list)
