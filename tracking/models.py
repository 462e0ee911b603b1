"""What tracking stores: the links of each campaign, single open and click events, hourly counters,
and the delivery reports ESPs send back.

Events reach these tables only through the batcher (``tracking.services.events``); the endpoints
never write here while Redis answers. An event is linked to a delivery (and so to a person) only
when the installation allows individual tracking and the subscriber agreed to it.
"""

from django.db import models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campaigns.models import Article, Campaign, Delivery
from subscribers.models import Subscriber


class TrackedLink(models.Model):
    """One link of a sent campaign. Click tokens name this row, and redirects go only to its URL."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("image")
        HEADLINE = "headline", _("headline")
        BODY = "body", _("link in the text")
        BUTTON = "button", _("button")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="tracked_links"
    )
    # The article's public id is the stable key; the foreign key is for joins and may be cleared.
    article = models.ForeignKey(
        Article,
        verbose_name=_("article"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tracked_links",
    )
    article_public_id = models.UUIDField(_("article public id"))
    position = models.PositiveIntegerField(_("position in the article"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    url = models.TextField(_("target URL"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tracked link")
        verbose_name_plural = _("tracked links")
        ordering = ["campaign", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "article_public_id", "position"], name="one_tracked_link_per_campaign_slot"
            )
        ]

    def __str__(self):
        return self.url


class Event(models.Model):
    """One open, click or honeypot hit as the endpoint saw it.

    ``uid`` is made by the endpoint with the moment, so moving the same event from Redis twice
    inserts it once: ``(uid, occurred_at)`` is unique rather than ``uid`` alone, because on
    PostgreSQL the table is partitioned by month of ``occurred_at`` (``tracking.partitions``) and
    a partitioned table's unique keys must include that column. For the same reason the primary
    key there is ``(id, occurred_at)`` in SQL; Django keeps reading ``id`` as the primary key,
    which its sequence still makes unique.
    ``counted`` turns true in the same transaction that adds the event to the hourly counters.
    """

    class Kind(models.TextChoices):
        OPEN = "open", pgettext_lazy("tracking event", "open")
        CLICK = "click", pgettext_lazy("tracking event", "click")
        HONEYPOT = "honeypot", _("honeypot hit")

    class MachineReason(models.TextChoices):
        HEAD = "head", _("HEAD request")
        NO_USER_AGENT = "no_user_agent", _("no user agent")
        SCANNER_AGENT = "scanner_agent", _("user agent of a scanner or bot")
        PROXY_OPEN = "proxy_open", _("image proxy (e.g. Apple Mail Privacy Protection)")
        TOO_SOON = "too_soon", _("seconds after sending")
        HONEYPOT = "honeypot", _("hidden honeypot link")
        HONEYPOT_BURST = "honeypot_burst", _("next to a honeypot hit")
        LINK_BURST = "link_burst", _("many links at once")

    uid = models.UUIDField(editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # Empty only for an event of a transactional message (``message_id``).
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # A transactional message (tracking.extensions): an id, not a foreign key, since that app sits
    # above this one. Stored only while its recipient allows individual tracking.
    message_id = models.PositiveBigIntegerField(_("transactional mail"), null=True, blank=True)
    # A click's link in that message: its position, from 1.
    message_link = models.PositiveSmallIntegerField(_("link in the transactional mail"), null=True, blank=True)
    # Empty for anonymous events: no consent, individual tracking off, or the subscriber erased.
    delivery = models.ForeignKey(
        Delivery,
        verbose_name=_("delivery"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # covered by the (delivery, kind) index
    )
    link = models.ForeignKey(
        TrackedLink, verbose_name=_("link"), on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    # Untrusted text from the request: truncated, and escaped wherever it is shown.
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    # A keyed hash of the client address, for burst detection; cleared about a minute after the event.
    ip_hash = models.CharField(_("address hash"), max_length=16, blank=True)
    is_machine = models.BooleanField(_("machine"), default=False)
    machine_reason = models.CharField(_("why machine"), max_length=16, choices=MachineReason.choices, blank=True)
    counted = models.BooleanField(_("counted"), default=False)

    class Meta:
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            models.Index(fields=["campaign", "kind", "occurred_at"]),
            # occurred_at and is_machine too: a segment's "clicked in the last N days" walks all of a
            # subscriber's deliveries, and reads each from the index alone (docs/benchmarks.md, Segments).
            models.Index(fields=["delivery", "kind", "occurred_at", "is_machine"], name="tracking_event_delivery_read"),
            models.Index(fields=["occurred_at"], condition=models.Q(counted=False), name="tracking_event_uncounted"),
            models.Index(fields=["occurred_at"], condition=~models.Q(ip_hash=""), name="tracking_event_with_address"),
            models.Index(
                fields=["message_id", "occurred_at"],
                condition=models.Q(message_id__isnull=False),
                name="tracking_event_message",
            ),
        ]
        constraints = [
            # With occurred_at: a partitioned table's unique keys include its partition column
            # (docs/operations.md, "Retention"); the endpoint writes both into the queued line.
            models.UniqueConstraint(fields=["uid", "occurred_at"], name="one_event_per_uid"),
            models.CheckConstraint(
                condition=models.Q(campaign__isnull=False) | models.Q(message_id__isnull=False),
                name="tracking_event_of_campaign_or_message",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class DeliveryRead(models.Model):
    """What the expired events of one delivery still say once retention deleted them: one row per
    delivery, kind, link and machine label, with the latest moment. Written by ``events_expire``
    in the transaction that deletes the events; its fields are named like ``Event``'s, so a reader
    asks both with the same filter (``tracking.selectors.events_exist``). Anonymous events leave
    no trace (they name nobody), and withdrawing tracking consent deletes these rows."""

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(
        Delivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Event.Kind.choices)
    link = models.ForeignKey(
        TrackedLink, verbose_name=_("link"), on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_machine = models.BooleanField(_("machine"), default=False)
    occurred_at = models.DateTimeField(_("last occurred at"))

    class Meta:
        verbose_name = _("expired events of a delivery")
        verbose_name_plural = _("expired events of deliveries")
        constraints = [
            # Coalesce: an open has no link, and NULLs never collide in a unique index.
            models.UniqueConstraint(
                "delivery", "kind", Coalesce("link", 0), "is_machine", name="one_delivery_read_per_link"
            )
        ]
        indexes = [
            models.Index(fields=["delivery", "kind", "occurred_at", "is_machine"], name="tracking_read_delivery"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class HourStatsBase(models.Model):
    """Click counters of one hour. ``clicks`` counts people's clicks, anonymous ones included;
    ``unique_clicks`` counts deliveries whose first human click fell into this hour (identified
    deliveries only); ``anonymous_clicks`` is the anonymous part of ``clicks``."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField(_("hour"))
    clicks = models.PositiveIntegerField(_("clicks"), default=0)
    machine_clicks = models.PositiveIntegerField(_("machine clicks"), default=0)
    unique_clicks = models.PositiveIntegerField(_("unique clicks"), default=0)
    anonymous_clicks = models.PositiveIntegerField(_("anonymous clicks"), default=0)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H:00}"


class CampaignHourStats(HourStatsBase):
    opens = models.PositiveIntegerField(_("opens"), default=0)
    machine_opens = models.PositiveIntegerField(_("machine opens"), default=0)
    unique_opens = models.PositiveIntegerField(_("unique opens"), default=0)
    anonymous_opens = models.PositiveIntegerField(_("anonymous opens"), default=0)

    class Meta:
        verbose_name = _("campaign figures per hour")
        verbose_name_plural = _("campaign figures per hour")
        constraints = [models.UniqueConstraint(fields=["campaign", "hour"], name="one_campaign_stats_row_per_hour")]


class ArticleHourStats(HourStatsBase):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        verbose_name = _("article figures per hour")
        verbose_name_plural = _("article figures per hour")
        constraints = [models.UniqueConstraint(fields=["article", "hour"], name="one_article_stats_row_per_hour")]


class LinkHourStats(HourStatsBase):
    link = models.ForeignKey(TrackedLink, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        verbose_name = _("link figures per hour")
        verbose_name_plural = _("link figures per hour")
        constraints = [models.UniqueConstraint(fields=["link", "hour"], name="one_link_stats_row_per_hour")]


class DeliveryReport(models.Model):
    """An ESP's word about one campaign mail (delivered, bounced, complaint, unsubscribe), linked to
    its delivery through Anymail's metadata or the ESP message id. Delivery facts, not reading
    behaviour: kept whatever the tracking consent."""

    class Kind(models.TextChoices):
        DELIVERED = "delivered", _("delivered")
        BOUNCED = "bounced", _("bounced")
        SOFT_BOUNCED = "soft_bounced", _("soft bounce")
        REJECTED = "rejected", _("rejected by the ESP")
        COMPLAINED = "complained", _("spam complaint")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed at the ESP")

    report_key = models.CharField(max_length=255, unique=True, editable=False)
    esp_name = models.CharField(_("ESP"), max_length=50, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(
        Delivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="reports", db_index=False
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("delivery report")
        verbose_name_plural = _("delivery reports")
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            models.Index(fields=["campaign", "kind"]),
            models.Index(fields=["delivery", "kind"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d %H:%M}"


class ClientStats(models.Model):
    """Opens, clicks and honeypot hits per campaign by device, operating system, mail client and
    machine reason (blank for people). Filled by the batcher when it counts events, with the user
    agent parsed once per distinct string (ua-parser), so the campaign page reads a few rows."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Event.Kind.choices)
    machine_reason = models.CharField(_("why machine"), max_length=16, choices=Event.MachineReason.choices, blank=True)
    device = models.CharField(_("device"), max_length=16)
    os = models.CharField(_("operating system"), max_length=50)
    client = models.CharField(_("mail client or browser"), max_length=50)
    events = models.PositiveIntegerField(_("events"), default=0)

    class Meta:
        verbose_name = _("campaign figures per client")
        verbose_name_plural = _("campaign figures per client")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "kind", "machine_reason", "device", "os", "client"], name="one_client_stats_row"
            )
        ]

    def __str__(self):
        return f"{self.client} / {self.os} / {self.device}"


class DomainStats(models.Model):
    """People's opens and clicks per campaign and recipient domain (identified deliveries only:
    an anonymous event has no address). ``unique_*`` count deliveries once, like the hourly counters."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    domain = models.CharField(_("domain"), max_length=254)
    opens = models.PositiveIntegerField(_("opens"), default=0)
    unique_opens = models.PositiveIntegerField(_("unique opens"), default=0)
    clicks = models.PositiveIntegerField(_("clicks"), default=0)
    unique_clicks = models.PositiveIntegerField(_("unique clicks"), default=0)

    class Meta:
        verbose_name = _("campaign figures per domain")
        verbose_name_plural = _("campaign figures per domain")
        constraints = [models.UniqueConstraint(fields=["campaign", "domain"], name="one_domain_stats_row")]

    def __str__(self):
        return self.domain


class SubscriberEngagement(models.Model):
    """How much a subscriber who agreed to individual tracking reads (see ``tracking.engagement``).

    ``last_interaction_at`` is kept current by the batcher; ``score`` (0–100) and
    ``mails_in_window`` are recomputed by a periodic task, since the score decays with time.
    Subscribers without consent have no row: nothing is known about them individually.
    """

    subscriber = models.OneToOneField(
        Subscriber, verbose_name=_("subscriber"), on_delete=models.CASCADE, related_name="engagement"
    )
    score = models.PositiveSmallIntegerField(_("engagement score"), default=0, db_index=True)
    mails_in_window = models.PositiveIntegerField(_("mails received in the window"), default=0)
    last_interaction_at = models.DateTimeField(_("last open or click"), null=True, blank=True, db_index=True)
    scored_at = models.DateTimeField(_("scored at"), null=True, blank=True)

    class Meta:
        verbose_name = _("subscriber engagement")
        verbose_name_plural = _("subscriber engagement")

    def __str__(self):
        return f"{self.subscriber_id}: {self.score}"


class AudienceSummary(models.Model):
    """The audience page's figures for one mailing list (or all lists: no list), as the hourly
    engagement task computed them (``tracking.services.audience``).

    ``figures`` holds counts only: ``segments`` and ``scores`` (active subscribers per segment and
    score range) and ``growth`` (per month: start, sign-ups, confirmations, unsubscribes, active at
    its end). ``basis`` names the settings they were computed under; the page computes the figures
    itself when those differ or no row exists.
    """

    mailing_list = models.ForeignKey(
        "subscribers.MailingList",
        verbose_name=_("mailing list"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    computed_at = models.DateTimeField(_("computed at"))
    basis = models.JSONField(_("computed under"), default=dict)
    figures = models.JSONField(_("figures"), default=dict)

    class Meta:
        verbose_name = _("audience summary")
        verbose_name_plural = _("audience summaries")
        constraints = [
            models.UniqueConstraint(Coalesce("mailing_list", 0), name="tracking_audience_summary_one_per_list"),
        ]

    def __str__(self):
        return f"{self.mailing_list_id or 'all'}: {self.computed_at:%Y-%m-%d %H:%M}"
