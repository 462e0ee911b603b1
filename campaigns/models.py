import uuid
from datetime import timedelta
from email.utils import formataddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audience.models import Segment
from brands.models import Brand
from brands.models import Layout as CustomLayout
from campaigns.merge_tags import validate_merge_tags
from media.models import MediaImage
from newsletter_site.media import public_storage, validate_image_file
from subscribers.models import Language, MailingList, Subscriber, Tag


def default_from_email() -> str:
    """The address part of DEFAULT_FROM_EMAIL, read when a campaign is created, not at import."""
    from email.utils import parseaddr

    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def default_from_name() -> str:
    from email.utils import parseaddr

    return parseaddr(settings.DEFAULT_FROM_EMAIL)[0]


class Campaign(models.Model):
    class Layout(models.TextChoices):
        ARTICLES = "articles", _("articles in one column")
        TWO_COLUMN = "two_column", _("two-column teasers")
        LETTER = "letter", _("plain personal letter")
        CUSTOM = "custom", _("custom MJML layout")

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SCHEDULED = "scheduled", _("scheduled")
        SENDING = "sending", _("sending")
        PAUSED = "paused", _("paused")
        SENT = "sent", _("sent")
        CANCELLED = "cancelled", _("cancelled")

    class Kind(models.TextChoices):
        NEWSLETTER = "newsletter", _("newsletter")
        AUTOMATION = "automation", _("automation mail")

    # Content and audience may change only before the first mail leaves.
    EDITABLE_STATUSES = (Status.DRAFT, Status.SCHEDULED)
    # A public archive page exists only for campaigns that went out.
    ARCHIVED_STATUSES = (Status.SENDING, Status.SENT)

    name = models.CharField(_("internal name"), max_length=200)
    kind = models.CharField(
        _("kind"),
        max_length=16,
        choices=Kind.choices,
        default=Kind.NEWSLETTER,
        help_text=_("An automation mail has no audience of its own: automations send it, one subscriber at a time."),
    )
    # A template is never sent: staff start campaigns from it (campaigns.services.templates).
    is_template = models.BooleanField(_("template"), default=False, editable=False, db_index=True)
    subject = models.CharField(
        _("subject"),
        max_length=255,
        validators=[validate_merge_tags],
        help_text=_(
            'Merge tags: {{ subscriber.first_name|default:"Leserin" }}; fields first_name, last_name, email, '
            "language; filters default, upper, lower, title, capfirst."
        ),
    )
    preheader = models.CharField(
        _("preheader"),
        max_length=255,
        blank=True,
        validators=[validate_merge_tags],
        help_text=_("The preview line most mail programs show after the subject."),
    )
    from_name = models.CharField(_("sender name"), max_length=100, default=default_from_name)
    from_email = models.EmailField(_("sender address"), default=default_from_email)
    reply_to = models.EmailField(_("reply-to address"), blank=True)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.GERMAN)
    mailing_lists = models.ManyToManyField(
        MailingList, verbose_name=_("mailing lists"), related_name="campaigns", blank=True
    )
    include_tags = models.ManyToManyField(
        Tag,
        verbose_name=_("only subscribers with any of these tags"),
        related_name="campaigns_including",
        blank=True,
    )
    exclude_tags = models.ManyToManyField(
        Tag,
        verbose_name=_("leave out subscribers with any of these tags"),
        related_name="campaigns_excluding",
        blank=True,
    )
    min_engagement_score = models.PositiveSmallIntegerField(
        _("only subscribers with an engagement score of at least"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text=_(
            "0–100: the recency-weighted share of recent mails a subscriber opened and clicked. Empty: everyone. "
            "Subscribers who did not agree to tracking have no score and are left out when this is set."
        ),
    )
    # PROTECT: deleting a segment in use must not silently widen (or narrow) an audience.
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("only subscribers in this segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
    )
    exclusion_segment = models.ForeignKey(
        Segment,
        verbose_name=_("leave out subscribers in this segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns_excluding",
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    archive_enabled = models.BooleanField(
        _("public archive page"),
        default=False,
        help_text=_("Show this campaign on a public “view in browser” page once it is sent."),
    )
    archive_id = models.UUIDField(_("archive id"), default=uuid.uuid4, unique=True, editable=False)
    article_feedback_enabled = models.BooleanField(
        _("“Was this useful?” under each article"),
        default=False,
        help_text=_("Readers answer yes or no with one click; the answers appear per article."),
    )
    sharing_enabled = models.BooleanField(
        _("“Forward to a friend” and share links"),
        default=False,
        help_text=_(
            "Adds a block to the mail and the archive page: a page that forwards the web version to "
            "friends, and share links to the archive page. Needs the public archive page."
        ),
    )
    bypasses_frequency_cap = models.BooleanField(
        _("bypasses the frequency cap"),
        default=False,
        help_text=_(
            "For service announcements: sent to everyone regardless of the frequency cap, and not counted "
            "toward it. Otherwise subscribers who reached the cap are skipped."
        ),
    )
    # Why sending holds, set by the pipeline (e.g. an offer's pool ran out): a newsletter is paused
    # with it, an automation mail's deliveries wait. Cleared on resume and once a batch goes out whole.
    hold_reason = models.TextField(_("why sending holds"), blank=True, editable=False)
    # PROTECT (brand and custom layout): deleting either must not change how a sent campaign's
    # archive page looks, nor the legal footer of mails still going out.
    brand = models.ForeignKey(
        Brand,
        verbose_name=_("brand"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text=_("Empty: the brand of the first list that has one, else the default brand."),
    )
    layout = models.CharField(_("layout"), max_length=16, choices=Layout.choices, default=Layout.ARTICLES)
    custom_layout = models.ForeignKey(
        CustomLayout,
        verbose_name=_("custom layout"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text=_("Used with the layout “custom MJML layout”."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="scheduled") | models.Q(scheduled_at__isnull=False),
                name="scheduled_campaign_has_time",
            )
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.layout == self.Layout.CUSTOM and self.custom_layout_id is None:
            raise ValidationError({"custom_layout": _("Choose the custom layout to use.")})
        if self.sharing_enabled and not self.archive_enabled:
            raise ValidationError(
                {"sharing_enabled": _("Forwarding and sharing send people to the public archive page: turn it on too.")}
            )

    @property
    def is_automation(self) -> bool:
        return self.kind == self.Kind.AUTOMATION

    @property
    def is_editable(self) -> bool:
        # An automation mail stays editable while automations send it: each send compiles the current text.
        if self.is_automation:
            return self.status in (self.Status.DRAFT, self.Status.SENDING)
        return self.status in self.EDITABLE_STATUSES

    @property
    def from_header(self) -> str:
        return formataddr((self.from_name, self.from_email))


class Article(models.Model):
    """One story of a campaign. Its public id never changes, so per-article analytics can key on it."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="articles"
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    headline = models.CharField(_("headline"), max_length=300, validators=[validate_merge_tags])
    body = models.TextField(
        _("text"),
        blank=True,
        validators=[validate_merge_tags],
        help_text=_(
            "Markdown: **bold**, *italic*, [link](https://…), lists, > quotes. Other HTML is removed. "
            'Merge tags work here too, e.g. {{ subscriber.first_name|default:"Leserin" }}.'
        ),
    )
    # PROTECT: mails already sent show the library image by its URL.
    library_image = models.ForeignKey(
        MediaImage,
        verbose_name=_("image from the media library"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="articles",
    )
    # Uploads through the admin land in the media library instead (CampaignAdmin.save_formset);
    # the field stays for articles made before the library and for services that set it.
    image = models.FileField(
        _("or upload an image"),
        upload_to="campaigns/images/%Y/%m/",
        storage=public_storage,
        blank=True,
        validators=[validate_image_file],
        help_text=_("Resized and compressed for mail and added to the media library."),
    )
    image_url = models.URLField(
        _("or image URL"),
        max_length=1000,
        blank=True,
        help_text=_("An image elsewhere on the web, instead of one from the media library."),
    )
    image_alt = models.CharField(
        _("image description (alt text)"),
        max_length=300,
        blank=True,
        help_text=_("Empty with an image from the media library: the library's description."),
    )
    link_url = models.URLField(_("link"), max_length=2000, blank=True)
    cta_text = models.CharField(_("button text"), max_length=80, blank=True)
    # PROTECT, as for the campaign's segments: deleting the segment must not show the block to everyone.
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("show only to subscribers in this segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="articles",
        help_text=_(
            "Empty: everyone gets this article. Otherwise only members of the segment when the mail is sent; "
            "the others get the mail without it. The public archive page never shows it."
        ),
    )

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["position", "pk"]

    def __str__(self):
        return self.headline

    @property
    def image_description(self) -> str:
        """The alt text the mail shows: the article's own, else its library image's."""
        if self.image_alt or self.library_image_id is None:
            return self.image_alt
        return self.library_image.alt_text

    def clean(self):
        sources = [bool(self.library_image_id), bool(self.image), bool(self.image_url)]
        if sum(sources) > 1:
            raise ValidationError(
                _("Choose one image: from the media library, an upload or a URL, not several."), code="image_sources"
            )
        if self.cta_text and not self.link_url:
            raise ValidationError({"link_url": _("A button needs a link.")})
        if (self.image or self.image_url) and not self.image_alt:
            raise ValidationError({"image_alt": _("Describe the image for readers who cannot see it.")})


class Delivery(models.Model):
    """One campaign to one subscriber (once per occurrence): the row that makes sending exactly-once and resumable."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        # Never sent: the subscriber had reached the frequency cap when the delivery was made.
        SKIPPED = "skipped", _("skipped (frequency cap)")
        # Never sent: the subscriber was no longer active, or the address suppressed, when the
        # delivery's turn came (``error`` says which).
        WITHDRAWN = "withdrawn", _("not sent (consent withdrawn)")

    FREQUENCY_CAP_ERROR = "frequency cap"

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="deliveries"
    )
    # Erasing a subscriber keeps the (anonymous) row, so campaign figures stay right.
    # Indexed by (subscriber, sent_at, id) below, which also serves every lookup by subscriber.
    subscriber = models.ForeignKey(
        Subscriber,
        verbose_name=_("subscriber"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="deliveries",
        db_index=False,
    )
    # 0 for a newsletter; for an automation mail, the journey that sends it, so a subscriber who enters
    # again gets it again, once per journey. A plain number: campaigns know nothing of automations.
    occurrence = models.PositiveBigIntegerField(_("occurrence"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    claim = models.CharField(max_length=32, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Empty: send as soon as a sender gets to it. Otherwise no sender claims the row before this
    # moment (the send-time app sets it per reader when the campaign starts).
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    esp_message_id = models.CharField(_("ESP message id"), max_length=255, blank=True, db_index=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "subscriber", "occurrence"], name="one_delivery_per_campaign_subscriber_occurrence"
            )
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "due_at"], name="delivery_campaign_status_due"),
            models.Index(fields=["status", "claimed_at"]),
            # With the id, "read any campaign" segment conditions find a subscriber's deliveries from
            # the index alone (docs/benchmarks.md, Segments).
            models.Index(fields=["subscriber", "sent_at", "id"], name="delivery_subscriber_sent_id"),
        ]

    def __str__(self):
        return f"{self.campaign_id}/{self.subscriber_id} {self.status}"


class FrequencyCap(models.Model):
    """At most ``max_mails`` mails per subscriber in a rolling day or week, newsletters and
    automation mails together. No row for a period: no cap for it."""

    class Period(models.TextChoices):
        DAY = "day", _("per day (rolling 24 hours)")
        WEEK = "week", _("per week (rolling 7 days)")

    WINDOWS = {Period.DAY: timedelta(days=1), Period.WEEK: timedelta(days=7)}

    period = models.CharField(_("period"), max_length=8, choices=Period.choices, unique=True)
    max_mails = models.PositiveSmallIntegerField(_("at most this many mails"), validators=[MinValueValidator(1)])

    class Meta:
        verbose_name = _("frequency cap")
        verbose_name_plural = _("frequency caps")
        ordering = ["period"]
        constraints = [models.CheckConstraint(condition=models.Q(max_mails__gte=1), name="frequency_cap_at_least_one")]

    def __str__(self):
        text = ngettext("at most %(count)d mail %(period)s", "at most %(count)d mails %(period)s", self.max_mails)
        return text % {"count": self.max_mails, "period": self.get_period_display()}

    @property
    def window(self) -> timedelta:
        return self.WINDOWS[self.period]

    def clean(self):
        if not self.max_mails:
            return
        others = FrequencyCap.objects.exclude(pk=self.pk)
        if self.period == self.Period.DAY:
            week = others.filter(period=self.Period.WEEK).first()
            if week and self.max_mails > week.max_mails:
                raise ValidationError(
                    {
                        "max_mails": _("The daily cap cannot be higher than the weekly cap (%(week)d).")
                        % {"week": week.max_mails}
                    }
                )
        elif self.period == self.Period.WEEK:
            day = others.filter(period=self.Period.DAY).first()
            if day and self.max_mails < day.max_mails:
                raise ValidationError(
                    {
                        "max_mails": _("The weekly cap cannot be lower than the daily cap (%(day)d).")
                        % {"day": day.max_mails}
                    }
                )
