"""How one claimed batch of deliveries leaves Kanal.

Three ways out, one contract with the delivery rows (``DeliveryLedger`` in ``ledger``):

- ``send_prebuilt`` (``prebuilt``): the MIME bytes come from the campaign's ``MessageSkeleton``,
  for Django's own backends (SMTP to a relay or MTA, files, console). With
  ``newsletter_site.smtp_backend`` the row is marked sent just before the final "." of DATA,
  the server's commit point.
- ``send_anymail_each`` (``anymail_each``): one ``AnymailMessage`` per recipient through an ESP's API.
- ``send_anymail_batches`` (``anymail_batches``): one API call for many recipients (Anymail's
  ``merge_data`` batch send), when KANAL_ESP_MERGE_FIELD_FORMAT tells Kanal how the ESP writes
  a merge field.

``errors`` sorts a backend's exceptions into transient and permanent, ``outcome`` moves a row
on after one send, ``recipients`` builds each recipient's links.
"""

from campaigns.services.transports.anymail_batches import EspTemplate, send_anymail_batches
from campaigns.services.transports.anymail_each import anymail_message, send_anymail_each
from campaigns.services.transports.errors import ClaimLost, TransientSendError, send_error, send_one
from campaigns.services.transports.ledger import ClaimedDelivery, DeliveryLedger, Recipient, claimed_deliveries
from campaigns.services.transports.outcome import send_and_record
from campaigns.services.transports.prebuilt import final_dot_hook, send_prebuilt
from campaigns.services.transports.recipients import BatchContext

__all__ = [
    "BatchContext",
    "ClaimLost",
    "ClaimedDelivery",
    "DeliveryLedger",
    "EspTemplate",
    "Recipient",
    "TransientSendError",
    "anymail_message",
    "claimed_deliveries",
    "final_dot_hook",
    "send_and_record",
    "send_anymail_batches",
    "send_anymail_each",
    "send_error",
    "send_one",
    "send_prebuilt",
]
