"""RSS-to-email: a list's feed sources, the items seen in them and the digest campaigns made of them."""

from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.merge_tags import validate_merge_tags
from campaigns.models import Campaign
from subscribers.models import MailingList


class FeedSource(models.Model):
    """An RSS or Atom feed whose new items become a digest campaign of a list, on a schedule."""

    class Frequency(models.TextChoices):
        DAILY = "daily", _("daily")
        WEEKLY = "weekly", _("weekly")

    class Mode(models.TextChoices):
        DRAFT = "draft", _("draft a campaign for staff to send")
        SEND = "send", _("send the campaign if it passes the checks")

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    class FetchStatus(models.TextChoices):
        NEVER = "never", _("not fetched yet")
        DRAFTED = "drafted", _("new items: digest drafted")
        SENT = "sent", _("new items: digest sending")
        HELD = "held", _("new items: digest drafted, not sent (see the error)")
        NO_NEW_ITEMS = "no_new_items", _("no new items")
        BAD_URL = "bad_url", _("bad feed URL")
        PRIVATE_ADDRESS = "private_address", _("private address refused")
        TIMEOUT = "timeout", _("timeout")
        TOO_BIG = "too_big", _("feed too big")
        HTTP_ERROR = "http_error", _("server error")
        NOT_A_FEED = "not_a_feed", _("not an RSS or Atom feed")
        ERROR = "error", _("fetch failed")

    name = models.CharField(_("name"), max_length=200)
    mailing_list = models.ForeignKey(
        MailingList, verbose_name=_("mailing list"), on_delete=models.CASCADE, related_name="feed_sources"
    )
    url = models.URLField(
        _("feed URL"),
        max_length=2000,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("An RSS or Atom feed on a public http(s) address."),
    )
    subject = models.CharField(
        _("subject of each digest"),
        max_length=255,
        validators=[validate_merge_tags],
        help_text=_("The digest campaign's subject; merge tags work here."),
    )
    frequency = models.CharField(_("how often"), max_length=8, choices=Frequency.choices, default=Frequency.WEEKLY)
    weekday = models.PositiveSmallIntegerField(
        _("weekday"), choices=Weekday.choices, default=Weekday.MONDAY, help_text=_("For weekly digests.")
    )
    time_of_day = models.TimeField(_("at"), help_text=_("In the site's time zone."))
    mode = models.CharField(_("then"), max_length=8, choices=Mode.choices, default=Mode.DRAFT)
    max_items = models.PositiveSmallIntegerField(
        _("at most this many items"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_("The newest new items; older new ones are left out, not kept for the next digest."),
    )
    archive_enabled = models.BooleanField(
        _("public archive page"), default=False, help_text=_("Digests get a public “view in browser” page.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    # The last scheduled time a run was claimed for (claimed by one conditional UPDATE, so two
    # beat ticks or workers cannot both run one slot).
    last_slot_at = models.DateTimeField(_("last scheduled run"), null=True, blank=True, editable=False)
    last_fetched_at = models.DateTimeField(_("last fetched at"), null=True, blank=True, editable=False)
    last_status = models.CharField(
        _("last fetch"), max_length=16, choices=FetchStatus.choices, default=FetchStatus.NEVER, editable=False
    )
    last_error = models.TextField(_("last error"), blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("feed source")
        verbose_name_plural = _("feed sources")
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name


class FeedItem(models.Model):
    """An item seen in a source's feed, once per source (its guid, else its link), so an item is
    never in two digests."""

    source = models.ForeignKey(
        FeedSource, verbose_name=_("feed source"), on_delete=models.CASCADE, related_name="items"
    )
    # sha256 of the guid: guids can be long URLs, the key stays short and indexable.
    guid_hash = models.CharField(max_length=64)
    guid = models.TextField(_("guid"))
    title = models.CharField(_("title"), max_length=300, blank=True)
    link = models.URLField(_("link"), max_length=2000, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    digest = models.ForeignKey(
        "Digest", verbose_name=_("digest"), on_delete=models.SET_NULL, null=True, blank=True, related_name="items"
    )
    first_seen_at = models.DateTimeField(_("first seen at"), auto_now_add=True)

    class Meta:
        verbose_name = _("feed item")
        verbose_name_plural = _("feed items")
        ordering = ["-first_seen_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["source", "guid_hash"], name="feed_item_once_per_source")]

    def __str__(self):
        return self.title or self.guid


class Digest(models.Model):
    """A campaign made from new items of a source. ``items_key`` names the set of items: the same
    items are never drafted twice, even by two workers at once."""

    source = models.ForeignKey(
        FeedSource, verbose_name=_("feed source"), on_delete=models.CASCADE, related_name="digests"
    )
    items_key = models.CharField(max_length=64)
    campaign = models.OneToOneField(
        Campaign, verbose_name=_("campaign"), on_delete=models.SET_NULL, null=True, related_name="digest"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("digest")
        verbose_name_plural = _("digests")
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["source", "items_key"], name="digest_once_per_item_set")]

    def __str__(self):
        return str(self.campaign or self.pk)
