import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from webhooks.models import Delivery, Endpoint, Message

pytestmark = pytest.mark.django_db


def test_staff_create_an_endpoint_with_events_chosen_by_checkbox(admin_client):
    page = admin_client.get(reverse("admin:webhooks_endpoint_add")).content.decode()
    assert 'type="checkbox" name="events" value="subscriber.confirmed"' in page

    response = admin_client.post(
        reverse("admin:webhooks_endpoint_add"),
        {
            "url": "https://crm.example/hook",
            "description": "CRM",
            "events": ["subscriber.confirmed", "campaign.sent"],
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.events == ["subscriber.confirmed", "campaign.sent"]
    assert endpoint.secret.startswith("whsec_")


def test_an_unknown_event_or_a_non_http_address_is_refused(admin_client):
    response = admin_client.post(
        reverse("admin:webhooks_endpoint_add"), {"url": "ftp://crm.example/hook", "events": ["subscriber.hacked"]}
    )
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"url", "events"}
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hook", "https://10.0.0.5/hook", "http://[::1]/hook", "http://localhost/hook"]
)
def test_an_address_in_a_private_or_local_network_is_refused_when_saved(admin_client, in_english, url):
    response = admin_client.post(
        reverse("admin:webhooks_endpoint_add"), {"url": url, "events": ["subscriber.confirmed"]}
    )
    assert response.status_code == 200
    assert "private or local network" in str(response.context["adminform"].form.errors["url"])
    assert not Endpoint.objects.exists()


def test_the_secret_is_hidden_until_staff_open_it(admin_client, in_english):
    endpoint = Endpoint.objects.create(url="https://crm.example/hook", events=[])
    page = admin_client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])).content.decode()
    assert f"<summary>whsec_…{endpoint.secret[-4:]}" in page
    assert f"<details><summary>whsec_…{endpoint.secret[-4:]} (show)</summary><code>{endpoint.secret}</code>" in page


def test_send_test_event_queues_a_logged_delivery_to_that_endpoint_only(admin_client):
    chosen = Endpoint.objects.create(url="https://crm.example/a", events=[])
    Endpoint.objects.create(url="https://crm.example/b", events=[])

    admin_client.post(
        reverse("admin:webhooks_endpoint_changelist"),
        {"action": "send_test_event", "_selected_action": [chosen.pk]},
    )

    message = Message.objects.get()
    assert message.event_type == "webhook.test"
    assert list(message.deliveries.values_list("endpoint", flat=True)) == [chosen.pk]
    log = admin_client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()
    assert message.message_id in log


def test_turning_a_disabled_endpoint_back_on_counts_afresh(admin_client):
    endpoint = Endpoint.objects.create(
        url="https://crm.example/hook", events=[], is_active=False, consecutive_failures=5, disabled_reason="x"
    )
    admin_client.post(
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
        {"url": endpoint.url, "description": "", "is_active": "on"},
    )
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.consecutive_failures == 0 and endpoint.disabled_at is None


def test_the_delivery_log_is_read_only(admin_client):
    endpoint = Endpoint.objects.create(url="https://crm.example/hook", events=[])
    message = Message.objects.create(event_type="webhook.test", payload={"type": "webhook.test", "data": {}})
    delivery = Delivery.objects.create(message=message, endpoint=endpoint, last_response="boom", last_status_code=500)

    page = admin_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk])).content.decode()
    assert "boom" in page and "500" in page
    assert 'name="_save"' not in page
    assert admin_client.get(reverse("admin:webhooks_delivery_add")).status_code == 403


def test_staff_without_permission_see_no_endpoint_and_no_secret(client, django_user_model):
    endpoint = Endpoint.objects.create(url="https://crm.example/hook", events=[])
    clerk = django_user_model.objects.create_user("clerk", "clerk@example.org", "x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_delivery", content_type__app_label="webhooks"))
    client.force_login(clerk)

    response = client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    assert response.status_code in (302, 403)
    assert endpoint.secret not in response.content.decode()


def test_staff_deliver_given_up_messages_again(admin_client, django_capture_on_commit_callbacks):
    endpoint = Endpoint.objects.create(url="https://crm.example/hook", events=[])
    given_up = Delivery.objects.create(
        message=Message.objects.create(event_type="webhook.test", payload={}),
        endpoint=endpoint,
        status=Delivery.Status.EXHAUSTED,
        attempts=8,
    )
    done = Delivery.objects.create(
        message=Message.objects.create(event_type="webhook.test", payload={}),
        endpoint=endpoint,
        status=Delivery.Status.SUCCEEDED,
        attempts=1,
    )

    with django_capture_on_commit_callbacks() as callbacks:
        admin_client.post(
            reverse("admin:webhooks_delivery_changelist"),
            {"action": "deliver_again", "_selected_action": [given_up.pk, done.pk]},
        )

    given_up.refresh_from_db()
    done.refresh_from_db()
    assert (given_up.status, given_up.attempts) == (Delivery.Status.PENDING, 0)
    assert done.status == Delivery.Status.SUCCEEDED
    assert len(callbacks) == 1


def test_deliver_again_needs_permission_to_change_endpoints(client, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", "clerk@example.org", "x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_delivery", content_type__app_label="webhooks"))
    client.force_login(clerk)
    response = client.get(reverse("admin:webhooks_delivery_changelist"))
    assert response.status_code == 200
    assert "deliver_again" not in response.content.decode()
