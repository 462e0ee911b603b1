"""Many recipients per ESP API call (Anymail's ``merge_data``): the ESP fills in the merge fields."""

from django.conf import settings

from campaigns.models import Campaign
from campaigns.rendering import CompiledCampaign, RecipientContext
from campaigns.services.transports.errors import TransientSendError, send_one
from campaigns.services.transports.ledger import ClaimedDelivery
from campaigns.services.transports.outcome import skip_erased
from campaigns.services.transports.recipients import BatchContext
from newsletter_site import mail


def send_anymail_batches(batch: BatchContext, deliveries: list[ClaimedDelivery], mail_connection) -> None:
    """Many recipients per API call: the ESP fills in each recipient's merge fields.

    One call carries one template, so recipients who see different conditional articles go in
    different calls: one group per set of visible articles, each cut into KANAL_ESP_BATCH_SIZE
    chunks. Every chunk's rows are marked as its call's answer says (``record_batch``).
    """
    field_format = settings.KANAL_ESP_MERGE_FIELD_FORMAT
    size = max(1, settings.KANAL_ESP_BATCH_SIZE)
    groups: dict[frozenset[int], list[ClaimedDelivery]] = {}
    for delivery in deliveries:
        if not skip_erased(batch, delivery):
            groups.setdefault(batch.visible_to(delivery), []).append(delivery)
    for visible, members in groups.items():
        compiled = batch.compiled if batch.visible_articles is None else batch.compiled.variant(visible)
        template = EspTemplate(compiled, field_format)
        for start in range(0, len(members), size):
            if not _send_chunk(batch, template, members[start : start + size], mail_connection):
                return


def _send_chunk(batch: BatchContext, template: "EspTemplate", chunk: list[ClaimedDelivery], mail_connection) -> bool:
    """One API call for ``chunk``; False stops the batch (paused, cancelled, a transient error)."""
    ledger = batch.ledger
    campaign = batch.campaign
    status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    if status != Campaign.Status.SENDING:
        ledger.stopped = True
        return False
    recipients, by_email = [], {}
    for delivery in chunk:
        recipient, list_unsubscribe = batch.recipient(delivery)
        by_email[recipient.email] = delivery
        recipients.append(
            mail.BatchRecipient(
                email=recipient.email,
                name=mail.person_name(recipient.first_name, recipient.last_name),
                merge_data=template.merge_values(recipient),
                list_unsubscribe=list_unsubscribe,
                metadata={"delivery_id": str(delivery.pk)},
            )
        )
    message = mail.batch_message(
        sender=batch.sender,
        recipients=recipients,
        subject=template.subject,
        text=template.text,
        html=template.html,
        kind="campaign",
        metadata={"campaign_id": str(campaign.pk)},
        tags=["campaign"],
    )
    for _recipient in chunk:
        ledger.wait_for_rate_slot()
    try:
        send_one(mail_connection, message)
    except TransientSendError as error:
        for delivery in chunk:
            ledger.retry_later(delivery, str(error))
        return False
    except Exception as error:
        for delivery in chunk:
            ledger.mark_failed(delivery, repr(error))
        return True
    ledger.record_batch(by_email, message.anymail_status.recipients)
    return True


class EspTemplate:
    """The campaign with every per-recipient slot written as an ESP merge field."""

    def __init__(self, compiled: CompiledCampaign, field_format: str):
        self.compiled = compiled
        self.html = compiled.html_template.fill(
            [field_format.format(f"kanal_h{i}") for i in range(len(compiled.slots))]
        )
        self.text = compiled.text_template.fill(
            [field_format.format(f"kanal_t{i}") for i in range(len(compiled.slots))]
        )
        # Only the slots these templates use go to the ESP: not those of articles a variant leaves out.
        self.html_slots = sorted({slot for _index, slot in compiled.html_template.holes})
        self.text_slots = sorted({slot for _index, slot in compiled.text_template.holes})
        self.personal_subject = any(not isinstance(part, str) for part in compiled.subject_parts)
        self.subject = (
            field_format.format("kanal_subject") if self.personal_subject else "".join(compiled.subject_parts)
        )

    def merge_values(self, recipient: RecipientContext) -> dict[str, str]:
        html_values, text_values = self.compiled.slot_values(recipient)
        values = {f"kanal_h{i}": html_values[i] for i in self.html_slots}
        values.update({f"kanal_t{i}": text_values[i] for i in self.text_slots})
        if self.personal_subject:
            from campaigns import merge_tags

            values["kanal_subject"] = mail.subject_text(merge_tags.render_plain(self.compiled.subject_parts, recipient))
        return values
