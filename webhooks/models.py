import base64
import secrets
import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


def secret_generate() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def message_id_generate() -> str:
    return f"msg_{uuid.uuid4().hex}"


class Endpoint(models.Model):
    """A URL that is told about the events it chose, signed with its own secret."""

    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("events"), default=list, blank=True)
    secret = models.CharField(_("signing secret"), max_length=100, default=secret_generate, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    consecutive_failures = models.PositiveIntegerField(_("deliveries given up in a row"), default=0, editable=False)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True, editable=False)
    disabled_reason = models.CharField(_("why disabled"), max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["pk"]

    def __str__(self):
        return self.description or self.url


class Message(models.Model):
    """One event, stored once with a stable id that every endpoint receives it under."""

    message_id = models.CharField(_("message id"), max_length=40, unique=True, default=message_id_generate)
    event_type = models.CharField(_("event type"), max_length=40)
    payload = models.JSONField(_("payload"))
    # Not a foreign key: the message outlives the subscriber, and an erasure must still find it.
    subscriber_id = models.BigIntegerField(null=True, blank=True, db_index=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook message")
        verbose_name_plural = _("webhook messages")

    def __str__(self):
        return f"{self.event_type} {self.message_id}"


class Delivery(models.Model):
    """The attempts to bring one message to one endpoint."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed, will be tried again")
        EXHAUSTED = "exhausted", _("given up")

    message = models.ForeignKey(Message, verbose_name=_("message"), on_delete=models.CASCADE, related_name="deliveries")
    # Indexed as the first column of webhooks_delivery_claim.
    endpoint = models.ForeignKey(
        Endpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # For a pending delivery: when it is due. A worker that takes it moves this forward by the
    # claim lease, so no second worker sends it meanwhile and a dead worker's claim runs out.
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last status code"), null=True, blank=True)
    last_response = models.TextField(_("last response"), blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["message", "endpoint"], name="webhooks_one_delivery_per_endpoint")
        ]
        indexes = [
            # The beat sweep and the failure counts: due deliveries of every endpoint.
            models.Index(fields=["status", "next_attempt_at"], name="webhooks_delivery_due"),
            # A claim: one endpoint's due deliveries, oldest first (services._claim).
            models.Index(fields=["endpoint", "status", "next_attempt_at"], name="webhooks_delivery_claim"),
        ]

    def __str__(self):
        return f"{self.message} → {self.endpoint}"
