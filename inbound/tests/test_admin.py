"""Staff read the inbound log; nobody writes it by hand."""

import pytest
from django.urls import reverse

from inbound.models import InboundMessage
from inbound.services import inbound_message_handle
from inbound.tests.conftest import returned

pytestmark = pytest.mark.django_db


def test_staff_read_the_log_of_inbound_mail_and_cannot_change_it(admin_client, reader, delivery):
    record = inbound_message_handle(raw=returned("outlook_ndr.eml", delivery), source="anymail:Postmark")
    listing = admin_client.get(reverse("admin:inbound_inboundmessage_changelist"))
    assert listing.status_code == 200
    assert "reader@example.org" in listing.content.decode()
    page = admin_client.get(reverse("admin:inbound_inboundmessage_change", args=[record.pk]))
    assert page.status_code == 200
    assert "5.1.10" in page.content.decode()
    assert "RESOLVER.ADR.RecipientNotFound" in page.content.decode()
    assert admin_client.get(reverse("admin:inbound_inboundmessage_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:inbound_inboundmessage_delete", args=[record.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert InboundMessage.objects.filter(pk=record.pk).exists()
