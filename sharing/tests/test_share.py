import csv
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from campaigns.models import Campaign, Delivery
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from sharing import referrals, tokens
from sharing.models import SharingEvent
from sharing.tests.test_forward import BROWSER, forward_path, post_forward
from subscribers.tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared():
    campaign = CampaignFactory(
        mailing_lists=[MailingListFactory()],
        subject='Spring {{ subscriber.first_name|default:"news" }}',
        archive_enabled=True,
        sharing_enabled=True,
        status=Campaign.Status.SENT,
    )
    ArticleFactory(campaign=campaign)
    return campaign


def share_path(campaign, network: str) -> str:
    return urlsplit(tokens.share_url(campaign_id=campaign.pk, network=network)).path


def share_link_token(message, network_label: str = "LinkedIn") -> str:
    """The token of a share link in a reader's own mail."""
    url = next(line.split(": ", 1)[1] for line in message.body.splitlines() if line.startswith(f"{network_label}: "))
    return urlsplit(url).path.split("/")[2]


def archive(campaign) -> str:
    return "http://127.0.0.1:8000" + reverse("campaigns:archive", kwargs={"archive_id": campaign.archive_id})


def test_a_share_click_by_a_person_counts_and_leads_to_the_network(client, shared):
    response = client.get(share_path(shared, "linkedin"), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.netloc == "www.linkedin.com"
    assert parse_qs(target.query)["url"] == [archive(shared)]
    mailto = client.get(share_path(shared, "mail"), HTTP_USER_AGENT=BROWSER)["Location"]
    assert mailto.startswith("mailto:?subject=Spring%20news")
    assert list(SharingEvent.objects.values_list("network", flat=True).order_by("pk")) == ["linkedin", "mail"]


def test_machines_are_redirected_and_recorded_as_machines(client, shared):
    assert client.get(share_path(shared, "x"), HTTP_USER_AGENT="Proofpoint URL Defense").status_code == 302
    assert client.head(share_path(shared, "x"), HTTP_USER_AGENT=BROWSER).status_code == 302
    assert client.get(share_path(shared, "x")).status_code == 302  # no user agent
    assert sorted(SharingEvent.objects.values_list("machine_reason", flat=True)) == [
        "head",
        "no_user_agent",
        "scanner_agent",
    ]


def test_unknown_networks_and_campaigns_without_sharing_find_nothing(client, shared):
    assert client.get(share_path(shared, "myspace"), HTTP_USER_AGENT=BROWSER).status_code == 404
    shared.sharing_enabled = False
    shared.save(update_fields=["sharing_enabled"])
    assert client.get(share_path(shared, "x"), HTTP_USER_AGENT=BROWSER).status_code == 404
    assert not SharingEvent.objects.exists()


def test_the_archive_page_shows_the_share_links_but_no_forward_link(client, shared):
    html = client.get(reverse("campaigns:archive", kwargs={"archive_id": shared.archive_id})).content.decode()
    assert share_path(shared, "whatsapp") in html and share_path(shared, "linkedin") in html
    assert archive(shared) in html, "the link to copy"
    assert "/forward/" not in html


def test_a_campaign_without_sharing_has_no_block(client, shared):
    shared.sharing_enabled = False
    shared.save()
    html = client.get(reverse("campaigns:archive", kwargs={"archive_id": shared.archive_id})).content.decode()
    assert "/share/" not in html


class Referrals:
    parameter = "invited_by"

    def tokens_for(self, campaign):
        return lambda subscriber: f"ref-{subscriber.public_id}"

    def verify(self, token):
        return token.startswith("ref-")


@pytest.fixture
def referral_source(monkeypatch):
    """A stand-in for the registered source (the referrals app's), to test the seam on its own."""
    source = Referrals()
    monkeypatch.setattr(referrals, "REFERRAL_SOURCES", [source])
    return source


def test_a_registered_referral_source_puts_the_sharers_token_on_the_shared_page(
    client, referral_source, campaign, reader, django_capture_on_commit_callbacks
):
    from campaigns.services import sending

    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    sending.delivery_batch_send(campaign_id=campaign.pk)
    (message,) = mail.outbox
    share = next(line.split(": ", 1)[1] for line in message.body.splitlines() if line.startswith("LinkedIn: "))
    assert share.endswith(f"/linkedin/?ref=ref-{reader.public_id}")
    assert tokens.verify_own_share(urlsplit(share).path.split("/")[2]) is not None, "the reader's own share link"
    target = client.get(urlsplit(share).path + "?" + urlsplit(share).query, HTTP_USER_AGENT=BROWSER)["Location"]
    assert parse_qs(urlsplit(target).query)["url"] == [archive(campaign) + f"?invited_by=ref-{reader.public_id}"]
    forged = client.get(urlsplit(share).path + "?ref=evil", HTTP_USER_AGENT=BROWSER)["Location"]
    assert parse_qs(urlsplit(forged).query)["url"] == [archive(campaign)]
    # The referral token rides on the campaign's public share link too, for the referral programme,
    # but names nobody: only the reader's own share links do.
    public = client.get(share_path(campaign, "linkedin") + f"?ref=ref-{reader.public_id}", HTTP_USER_AGENT=BROWSER)
    assert parse_qs(urlsplit(public["Location"]).query)["url"] == [
        archive(campaign) + f"?invited_by=ref-{reader.public_id}"
    ]
    assert list(SharingEvent.objects.order_by("pk").values_list("subscriber", flat=True)) == [
        reader.pk,
        reader.pk,
        None,
    ]


def test_a_forward_token_is_no_share_token_and_an_own_share_token_no_forward_token(client, sent, campaign):
    (delivery,) = Delivery.objects.filter(campaign=campaign)
    forward = forward_path(sent).split("/")[2]
    own = share_link_token(sent)
    assert tokens.verify_forward(forward) == (delivery.pk, campaign.pk)
    assert tokens.verify_own_share(own) == (delivery.pk, campaign.pk)
    assert len(forward) == len(own), "the same ids: only the purpose's key tells them apart"
    assert tokens.verify_own_share(forward) is None and tokens.verify_share(forward) is None
    assert tokens.verify_forward(own) is None and tokens.verify_share(own) is None
    assert client.get(f"/share/{forward}/linkedin/", HTTP_USER_AGENT=BROWSER).status_code == 404
    assert client.get(reverse("sharing:forward", args=[own]), HTTP_USER_AGENT=BROWSER).status_code == 404
    assert client.get(f"/share/{own}/linkedin/", HTTP_USER_AGENT=BROWSER).status_code == 302
    assert client.get(f"/forward/{forward}/", HTTP_USER_AGENT=BROWSER).status_code == 200
    assert list(SharingEvent.objects.values_list("kind", "subscriber__email")) == [("share", "ida.reader@example.org")]


def test_the_archive_pages_share_buttons_name_nobody(client, sent, campaign):
    html = client.get(reverse("campaigns:archive", kwargs={"archive_id": campaign.archive_id})).content.decode()
    found = set(re.findall(r"/share/([A-Za-z0-9_-]+)/", html))
    assert found and all(tokens.verify_share(token) == campaign.pk for token in found)
    assert not any(tokens.verify_own_share(token) for token in found)
    assert share_link_token(sent) not in html
    client.get(share_path(campaign, "x"), HTTP_USER_AGENT=BROWSER)
    assert SharingEvent.objects.get().subscriber is None


def test_forwards_and_human_shares_are_counted_on_the_analytics_page(client, sent, campaign, in_english):
    post_forward(client, forward_path(sent), addresses="a@example.net, b@example.net")
    post_forward(client, forward_path(sent), addresses="c@example.net")
    client.get(share_path(campaign, "whatsapp"), HTTP_USER_AGENT=BROWSER)
    client.get(share_path(campaign, "whatsapp"), HTTP_USER_AGENT="python-requests/2.31")

    user = get_user_model().objects.create_user("analyst", "analyst@example.org", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(user)
    url = reverse("tracking:analytics_campaign_csv", args=[campaign.pk, "sharing"])
    body = b"".join(client.get(url).streaming_content).decode("utf-8-sig")
    rows = dict(list(csv.reader(io.StringIO(body)))[1:])
    assert rows["Forwards"] == "2"
    assert rows["Readers who forwarded"] == "1"
    assert rows["Mails sent to friends"] == "3"
    assert rows["Shares: WhatsApp"] == "1", "the machine's click is not counted"
    assert rows["Shares: LinkedIn"] == "0"
    page = client.get(reverse("tracking:analytics_campaign", args=[campaign.pk])).content.decode()
    assert "Forwards and shares" in page


def test_sharing_needs_the_archive_page(in_english):
    from django.core.exceptions import ValidationError

    campaign = CampaignFactory(sharing_enabled=True, archive_enabled=False)
    with pytest.raises(ValidationError, match="public archive page"):
        campaign.full_clean()
    campaign.archive_enabled = True
    campaign.full_clean()
