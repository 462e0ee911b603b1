"""Staff see events and links as text: user agents and URLs from the outside world are escaped."""

import pytest
from django.urls import reverse

from tracking.models import Event, TrackedLink
from tracking.tests.conftest import hit, process, urls_for

pytestmark = pytest.mark.django_db

SCRIPT_AGENT = '<script>alert("ua")</script><img src=x onerror=alert(1)>'
SCRIPT_URL = 'https://example.org/?q="><script>alert("url")</script>'


@pytest.fixture
def hostile_event(client, campaign, reader):
    link = TrackedLink.objects.get(pk=campaign.link_ids[0])
    link.url = SCRIPT_URL
    link.save()
    _pixel, click_urls = urls_for(campaign, reader)
    hit(client, click_urls[0], user_agent=SCRIPT_AGENT)
    process()
    return link


def test_event_list_escapes_user_agents_and_urls(admin_client, hostile_event):
    response = admin_client.get(reverse("admin:tracking_event_changelist"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(" not in content
    assert "onerror=alert(1)>" not in content
    assert "&lt;script&gt;alert(" in content


def test_event_detail_escapes_the_user_agent_and_hides_the_address_hash(admin_client, hostile_event):
    event = Event.objects.get()
    response = admin_client.get(reverse("admin:tracking_event_change", args=[event.pk]))
    content = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(" not in content
    assert "&lt;script&gt;alert(&quot;ua&quot;)" in content
    assert "ip_hash" not in content


def test_link_list_escapes_target_urls(admin_client, hostile_event):
    response = admin_client.get(reverse("admin:tracking_trackedlink_changelist"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(" not in content
    assert "&lt;script&gt;" in content


def test_tracking_admin_is_read_only(admin_client, hostile_event):
    response = admin_client.get(reverse("admin:tracking_event_changelist"))
    assert reverse("admin:tracking_event_add") not in response.content.decode()
