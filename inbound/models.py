from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models import Delivery
from subscribers.models import Subscriber


class InboundMessage(models.Model):
    """One mail that came back to Kanal and what was done with it; its unique event id makes a mail
    fetched or posted twice change nothing the second time."""

    class Kind(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("hard bounce")
        SOFT_BOUNCE = "soft_bounce", _("soft bounce")
        DELAYED = "delayed", _("delayed (still being retried)")
        COMPLAINT = "complaint", _("spam complaint")
        UNSUBSCRIBE = "unsubscribe", _("mailto unsubscribe")
        AUTO_REPLY = "auto_reply", _("auto-reply or out of office")
        UNKNOWN = "unknown", _("not recognised")

    class Outcome(models.TextChoices):
        BOUNCED = "bounced", _("marked bounced")
        SOFT_BOUNCE_COUNTED = "soft_counted", _("soft bounce counted")
        SOFT_BOUNCE_LIMIT = "soft_limit", _("marked bounced: soft bounces in a row")
        COMPLAINED = "complained", _("marked complained")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
        ALREADY_UNSUBSCRIBED = "was_unsubscribed", _("was unsubscribed already")
        NO_SUBSCRIBER = "no_subscriber", _("no such subscriber")
        INVALID_TOKEN = "invalid_token", _("forged or revoked token")
        IGNORED = "ignored", _("ignored")

    event_id = models.CharField(_("event id"), max_length=255, unique=True)
    source = models.CharField(_("came in through"), max_length=60)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    applied = models.BooleanField(_("changed the subscriber"), default=False)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.IGNORED)
    # Why a mail was ignored (the auto-reply header, the content type, the feedback type), as the mail said it.
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    subscriber = models.ForeignKey(
        Subscriber, verbose_name=_("subscriber"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    delivery = models.ForeignKey(
        Delivery, verbose_name=_("delivery"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status_code = models.CharField(_("status code"), max_length=16, blank=True)
    diagnostic = models.CharField(_("diagnostic"), max_length=500, blank=True)
    original_message_id = models.CharField(_("original Message-ID"), max_length=255, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("inbound mail")
        verbose_name_plural = _("inbound mails")
        ordering = ["-received_at", "-pk"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.recipient}".strip()
