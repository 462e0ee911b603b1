from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Delivery
from subscribers.models import Subscriber
from tracking.models import Event


class Network(models.TextChoices):
    """Where a share link leads; the labels are brand names and stay as they are."""

    MAIL = "mail", _("Mail")
    LINKEDIN = "linkedin", "LinkedIn"
    X = "x", "X"
    WHATSAPP = "whatsapp", "WhatsApp"


class SharingEvent(models.Model):
    """One forward (a person's POST that sent the campaign to friends) or one hit on a share
    link, labelled when tracking's rules take it for a machine (as tracking labels clicks).
    Nothing about the friends: not their addresses, not even per address, only how many mails
    went out.

    ``subscriber`` is the person who forwarded or shared, kept only while they allow individual
    tracking (``tracking.services.links.individual_tracking``) and unlinked when they withdraw
    it or are erased: a forward names them by the forward link's delivery, a share by the
    per-delivery token of the share links in their own mail (``sharing.tokens``: nothing else on a
    share link names anyone, a referral token neither)."""

    class Kind(models.TextChoices):
        FORWARD = "forward", _("forward")
        SHARE = "share", _("share")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="sharing_events"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    network = models.CharField(_("network"), max_length=16, choices=Network.choices, blank=True)
    # Forwards: how many mails went out, and the delivery whose forward link was used (to count
    # forwarders); erasing its subscriber leaves the delivery without a person.
    recipients = models.PositiveSmallIntegerField(_("mails sent"), default=0)
    delivery = models.ForeignKey(
        Delivery, verbose_name=_("delivery"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subscriber = models.ForeignKey(
        Subscriber, verbose_name=_("subscriber"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Empty for a person; tracking's rules give the reason (``tracking.machines.label_single``).
    machine_reason = models.CharField(_("why machine"), max_length=16, choices=Event.MachineReason.choices, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), auto_now_add=True)

    class Meta:
        verbose_name = _("forward or share")
        verbose_name_plural = _("forwards and shares")
        indexes = [
            models.Index(fields=["campaign", "kind"], name="sharing_event_campaign_kind"),
            models.Index(fields=["subscriber", "occurred_at"], name="sharing_event_subscriber"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="forward", network="") | models.Q(kind="share", recipients=0, delivery=None),
                name="sharing_event_kind_fields",
            )
        ]

    def __str__(self):
        return f"{self.kind} {self.network} {self.campaign_id}"

    @property
    def is_machine(self) -> bool:
        return bool(self.machine_reason)
