import uuid
from email.utils import formataddr

from django.core.validators import URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from api.models import ApiKey
from brands.models import Brand
from campaigns.merge_tags import TAG_RE, validate_request_data_merge_tags
from campaigns.models import Campaign, default_from_email, default_from_name
from subscribers.models import Language, Subscriber

MERGE_TAG_HELP = _(
    "Merge tags: {{ data.order_number }} for a value the shop sends with the mail, and the subscriber's "
    'fields as in campaigns ({{ subscriber.first_name|default:"Leserin" }}; empty for an address that is '
    "no subscriber)."
)


def validate_link_with_merge_tags(value: str) -> None:
    """An http(s) URL once its merge tags are filled (the tags themselves are checked too)."""
    validate_request_data_merge_tags(value)
    URLValidator(schemes=["http", "https"])(TAG_RE.sub("x", value))


class TransactionalTemplate(models.Model):
    """One kind of mail a shop or website asks Kanal to send to one person (order confirmation,
    password reset), authored like a campaign with one article. Templates sharing a slug are
    translations of each other (one per language)."""

    class Layout(models.TextChoices):
        ARTICLES = Campaign.Layout.ARTICLES.value, Campaign.Layout.ARTICLES.label
        LETTER = Campaign.Layout.LETTER.value, Campaign.Layout.LETTER.label

    slug = models.SlugField(
        _("slug"), max_length=100, help_text=_("What the API names the template by, e.g. order-confirmation.")
    )
    name = models.CharField(_("internal name"), max_length=200)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.GERMAN)
    subject = models.CharField(
        _("subject"), max_length=255, validators=[validate_request_data_merge_tags], help_text=MERGE_TAG_HELP
    )
    preheader = models.CharField(
        _("preheader"),
        max_length=255,
        blank=True,
        validators=[validate_request_data_merge_tags],
        help_text=_("The preview line most mail programs show after the subject."),
    )
    headline = models.CharField(_("headline"), max_length=300, validators=[validate_request_data_merge_tags])
    body = models.TextField(
        _("text"),
        blank=True,
        validators=[validate_request_data_merge_tags],
        help_text=_("Markdown, as in a campaign's article: **bold**, *italic*, [link](https://…), lists."),
    )
    link_url = models.CharField(
        _("button link"),
        max_length=2000,
        blank=True,
        validators=[validate_link_with_merge_tags],
        help_text=_("An http(s) address; merge tags fill parts of it, e.g. https://shop.example/orders/{{ data.id }}."),
    )
    cta_text = models.CharField(_("button text"), max_length=80, blank=True)
    from_name = models.CharField(_("sender name"), max_length=100, default=default_from_name)
    from_email = models.EmailField(_("sender address"), default=default_from_email)
    reply_to = models.EmailField(_("reply-to address"), blank=True)
    # PROTECT, as for campaigns: deleting a brand must not change the legal footer of mails going out.
    brand = models.ForeignKey(
        Brand,
        verbose_name=_("brand"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transactional_templates",
        help_text=_("Empty: the default brand."),
    )
    layout = models.CharField(_("layout"), max_length=16, choices=Layout.choices, default=Layout.LETTER)
    is_service_mail = models.BooleanField(
        _("legal or service mail"),
        default=False,
        help_text=_(
            "Mails the recipient needs whatever they chose about newsletters (order confirmation, password "
            "reset, legally required notices): sent to unsubscribed and erased addresses too. Never sent to "
            "addresses that bounced or complained about spam."
        ),
    )
    track_opens_clicks = models.BooleanField(
        _("track opens and clicks"),
        default=True,
        help_text=_(
            "Only for recipients who are subscribers and agreed to tracking: the mail gets an open pixel, and its "
            "links lead through Kanal. Switch it off for mails whose links carry secrets (password reset) and for "
            "legal notices."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("transactional mail template")
        verbose_name_plural = _("transactional mail templates")
        ordering = ["slug", "language"]
        constraints = [
            models.UniqueConstraint(fields=["slug", "language"], name="transactional_template_slug_language_unique")
        ]

    def __str__(self):
        return f"{self.name} ({self.slug}, {self.language})"

    @property
    def from_header(self) -> str:
        return formataddr((self.from_name, self.from_email))


class TransactionalMessage(models.Model):
    """One mail from a template to one address: the row that makes sending exactly-once.

    The API inserts it queued; a worker claims it with one conditional UPDATE (queued → sending)
    and marks it sent at the transport's commit point, so a re-delivered or retried task finds
    the row claimed or final and sends nothing.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        # Never sent: the address did not take this mail when its turn came (``error`` says why).
        SUPPRESSED = "suppressed", _("not sent (suppressed)")

    FINAL_STATUSES = (Status.SENT, Status.FAILED, Status.SUPPRESSED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # PROTECT: a template's figures and the history of what was sent stay readable.
    template = models.ForeignKey(
        TransactionalTemplate, verbose_name=_("template"), on_delete=models.PROTECT, related_name="messages"
    )
    email = models.EmailField(_("email address"), max_length=254)
    subscriber = models.ForeignKey(
        Subscriber,
        verbose_name=_("subscriber"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="transactional_messages",
    )
    # The merge values, kept only until the message is final (then emptied).
    data = models.JSONField(_("merge data"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    claim = models.CharField(max_length=32, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # After a transient failure: no sweep queues the row again before this moment.
    retry_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    esp_message_id = models.CharField(_("ESP message id"), max_length=255, blank=True, db_index=True)
    error = models.TextField(_("error"), blank=True)
    api_key = models.ForeignKey(
        ApiKey, verbose_name=_("API key"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    idempotency_key = models.CharField(_("Idempotency-Key"), max_length=255, blank=True)
    # Went out with Kanal's open pixel and click links (the template tracks, the recipient agreed).
    tracked = models.BooleanField(_("tracked"), default=False)
    # The first human open and click, set by the tracking batcher; cleared when the recipient
    # withdraws tracking consent (the template's figures keep them, without a person).
    opened_at = models.DateTimeField(_("first opened at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("first clicked at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("transactional mail")
        verbose_name_plural = _("transactional mails")
        ordering = ["-created_at"]
        constraints = [
            # Outlives the API's 24-hour Idempotency-Key store: a key names one mail for good.
            models.UniqueConstraint(
                fields=["api_key", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="transactional_message_one_per_idempotency_key",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False),
                name="transactional_message_sent_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "claimed_at"], name="transactional_status_claimed"),
            models.Index(fields=["template", "status"], name="transactional_template_status"),
        ]

    def __str__(self):
        return f"{self.template_id}/{self.pk} {self.status}"


class TransactionalLink(models.Model):
    """One link of a tracked message as it went out (merge values filled): click tokens name the
    message and ``position``, and redirects go only to this URL. Deleted with the recipient's erasure."""

    message = models.ForeignKey(
        TransactionalMessage, verbose_name=_("transactional mail"), on_delete=models.CASCADE, related_name="links"
    )
    position = models.PositiveSmallIntegerField(_("position in the mail"))
    url = models.TextField(_("target URL"))

    class Meta:
        verbose_name = _("link in a transactional mail")
        verbose_name_plural = _("links in transactional mails")
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="transactional_link_one_per_position"),
            models.CheckConstraint(condition=models.Q(position__gte=1), name="transactional_link_position_from_1"),
        ]

    def __str__(self):
        return self.url


class TransactionalTemplateFigures(models.Model):
    """People's opens and clicks of one template's mails, each message counted once (machine events
    never count). Counters, so a recipient who withdraws consent leaves the figures as they were."""

    template = models.OneToOneField(
        TransactionalTemplate,
        verbose_name=_("template"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="figures",
    )
    unique_opens = models.PositiveIntegerField(_("unique opens"), default=0)
    unique_clicks = models.PositiveIntegerField(_("unique clicks"), default=0)

    class Meta:
        verbose_name = _("transactional template figures")
        verbose_name_plural = _("transactional template figures")

    def __str__(self):
        return f"{self.template_id}: {self.unique_opens}/{self.unique_clicks}"
