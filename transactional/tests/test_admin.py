import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from transactional.models import TransactionalMessage, TransactionalTemplate
from transactional.tests.factories import TransactionalMessageFactory, TransactionalTemplateFactory

pytestmark = pytest.mark.django_db
Status = TransactionalMessage.Status


def test_the_template_list_counts_each_templates_messages(admin_client):
    order = TransactionalTemplateFactory(name="Bestellung")
    TransactionalTemplateFactory(name="Passwort")
    for _sent in range(3):
        TransactionalMessageFactory(template=order, status=Status.SENT, sent_at=timezone.now())
    TransactionalMessageFactory(template=order, status=Status.FAILED)
    TransactionalMessageFactory(template=order, status=Status.SUPPRESSED)
    TransactionalMessageFactory(template=order)
    response = admin_client.get(reverse("admin:transactional_transactionaltemplate_changelist"))
    assert response.status_code == 200
    rows = {row.name: row for row in response.context["cl"].result_list}
    order_row, other_row = rows["Bestellung"], rows["Passwort"]
    assert (order_row.sent_count, order_row.failed_count, order_row.suppressed_count) == (3, 1, 1)
    assert order_row.queued_count == 1
    assert (other_row.sent_count, other_row.failed_count) == (0, 0)


def test_staff_author_a_template_and_see_its_preview(admin_client):
    response = admin_client.post(
        reverse("admin:transactional_transactionaltemplate_add"),
        {
            "name": "Passwort zurücksetzen",
            "slug": "password-reset",
            "language": "de",
            "is_service_mail": "on",
            "subject": "Dein Link",
            "preheader": "",
            "headline": "Neues Passwort",
            "body": "[Passwort setzen](https://shop.example/reset/{{ data.token }})",
            "link_url": "",
            "cta_text": "",
            "from_name": "Kanal",
            "from_email": "kanal@example.org",
            "reply_to": "",
            "brand": "",
            "layout": "letter",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    template = TransactionalTemplate.objects.get(slug="password-reset")
    assert template.is_service_mail
    change = admin_client.get(reverse("admin:transactional_transactionaltemplate_change", args=[template.pk]))
    preview_url = reverse("admin:transactional_transactionaltemplate_preview", args=[template.pk])
    assert preview_url in change.content.decode()
    preview = admin_client.get(preview_url)
    assert preview.status_code == 200
    assert "script-src 'none'" in preview["Content-Security-Policy"]
    assert 'href="https://shop.example/reset/%5Btoken%5D"' in preview.content.decode()


def test_a_data_tag_in_a_template_with_a_typo_is_refused(admin_client):
    response = admin_client.post(
        reverse("admin:transactional_transactionaltemplate_add"),
        {
            "name": "X",
            "slug": "x",
            "language": "de",
            "subject": "{{ date.x }}",
            "headline": "H",
            "layout": "letter",
            "from_name": "K",
            "from_email": "k@example.org",
        },
    )
    assert response.status_code == 200
    assert "subject" in response.context["adminform"].form.errors


def test_the_preview_needs_the_view_permission(client, django_user_model):
    template = TransactionalTemplateFactory()
    staff = django_user_model.objects.create_user("editor", password="x", is_staff=True)
    client.force_login(staff)
    url = reverse("admin:transactional_transactionaltemplate_preview", args=[template.pk])
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_transactionaltemplate"))
    assert client.get(url).status_code == 200


def test_the_message_log_is_read_only(admin_client):
    message = TransactionalMessageFactory()
    change = reverse("admin:transactional_transactionalmessage_change", args=[message.pk])
    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"email": "other@example.net"}).status_code == 403
    assert admin_client.get(reverse("admin:transactional_transactionalmessage_add")).status_code == 403
