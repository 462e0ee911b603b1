"""Forwards and shares as a person's events: named only by a per-delivery token of their own mail
(the forward link, their own share links) and only with tracking consent, in their history and
data export, unlinked when consent goes; machines labelled."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from campaigns.models import Delivery
from sharing import tokens
from sharing.models import SharingEvent
from sharing.signals import campaign_shared
from sharing.tests.test_forward import BROWSER, URL, forward_path, post_forward
from subscribers.services import gdpr
from subscribers.tests.factories import withdraw_tracking_consent

pytestmark = pytest.mark.django_db


def share_link(message, network_label: str) -> str:
    """The path and query of one share link in a reader's own mail (their delivery's own-share
    token, and their referral token)."""
    url = next(line.split(": ", 1)[1] for line in message.body.splitlines() if line.startswith(f"{network_label}: "))
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def announced():
    """The events the sharing app announced to higher apps (automations), after their commit."""
    seen = []

    def receiver(sender, event, **kwargs):
        seen.append(event)

    campaign_shared.connect(receiver, dispatch_uid="test.sharing.announced")
    yield seen
    campaign_shared.disconnect(dispatch_uid="test.sharing.announced")


def test_the_share_link_of_a_readers_mail_names_them_through_its_own_token(client, sent, reader, campaign):
    path = share_link(sent, "LinkedIn")
    assert tokens.verify_own_share(urlsplit(path).path.split("/")[2]) == (Delivery.objects.get().pk, campaign.pk)
    assert client.get(path, HTTP_USER_AGENT=BROWSER).status_code == 302
    event = SharingEvent.objects.get()
    assert (event.kind, event.network, event.subscriber, event.machine_reason) == ("share", "linkedin", reader, "")
    client.get(urlsplit(path).path, HTTP_USER_AGENT=BROWSER)  # without the referral token: still the reader's link
    public = urlsplit(tokens.share_url(campaign_id=campaign.pk, network="linkedin")).path
    client.get(public, HTTP_USER_AGENT=BROWSER)
    client.get(public + "?ref=forged", HTTP_USER_AGENT=BROWSER)
    assert list(SharingEvent.objects.order_by("pk").values_list("subscriber", flat=True)) == [
        reader.pk,
        reader.pk,
        None,
        None,
    ]


def test_the_readers_public_referral_token_on_the_campaigns_share_link_names_nobody(
    client, sent, reader, campaign, announced, django_capture_on_commit_callbacks
):
    """The campaign's share token is on the archive page, the reader's referral token on every page
    they shared: built together, they make a share link that is not the reader's."""
    referral = parse_qs(urlsplit(share_link(sent, "X")).query)["ref"][0]
    forged = urlsplit(tokens.share_url(campaign_id=campaign.pk, network="x")).path + f"?ref={referral}"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(forged, HTTP_USER_AGENT=BROWSER).status_code == 302
    assert SharingEvent.objects.get().subscriber_id is None
    assert announced == []
    assert gdpr.subscriber_export(subscriber=reader)["shares"] == []


def test_a_forward_names_the_reader_whose_forward_link_was_used(client, sent, reader):
    post_forward(client, forward_path(sent), addresses="friend@example.net")
    assert SharingEvent.objects.get().subscriber == reader


def test_without_tracking_consent_forwards_and_shares_count_but_name_nobody(client, sent, reader, settings):
    reader.tracking_consent = False
    reader.save(update_fields=["tracking_consent"])
    post_forward(client, forward_path(sent), addresses="friend@example.net")
    client.get(share_link(sent, "WhatsApp"), HTTP_USER_AGENT=BROWSER)
    settings.KANAL_INDIVIDUAL_TRACKING = False
    reader.tracking_consent = True
    reader.save(update_fields=["tracking_consent"])
    client.get(share_link(sent, "X"), HTTP_USER_AGENT=BROWSER)
    assert SharingEvent.objects.count() == 3
    assert not SharingEvent.objects.filter(subscriber__isnull=False).exists()
    export = gdpr.subscriber_export(subscriber=reader)
    assert export["shares"] == [] and export["forwards"] == [], "what names nobody is nobody's data"


def test_machines_on_a_readers_share_link_are_labelled_and_never_announced(
    client, sent, reader, announced, django_capture_on_commit_callbacks
):
    path = share_link(sent, "LinkedIn")
    with django_capture_on_commit_callbacks(execute=True):
        client.head(path, HTTP_USER_AGENT=BROWSER)
        client.get(path, HTTP_USER_AGENT="Mozilla/5.0 (compatible; Barracuda Sentinel)")
        client.get(path)
    assert SharingEvent.objects.filter(machine_reason="").count() == 0
    assert SharingEvent.objects.count() == 3
    assert announced == []
    with django_capture_on_commit_callbacks(execute=True):
        client.get(path, HTTP_USER_AGENT=BROWSER)
        post_forward(client, forward_path(sent), addresses="friend@example.net")
    assert [(event.kind, event.subscriber_id) for event in announced] == [("share", reader.pk), ("forward", reader.pk)]


def test_the_readers_forwards_and_shares_are_in_their_history_and_export(client, sent, reader, campaign, in_english):
    post_forward(client, forward_path(sent), addresses="friend@example.net, other@example.com")
    client.get(share_link(sent, "WhatsApp"), HTTP_USER_AGENT=BROWSER)
    export = gdpr.subscriber_export(subscriber=reader)
    assert [(row["campaign"], row["network"], row["machine"]) for row in export["shares"]] == [
        (campaign.name, "whatsapp", "")
    ]
    assert [row["mails_sent"] for row in export["forwards"]] == [2]
    assert "friend@example.net" not in str(export)

    user = get_user_model().objects.create_user("desk", "desk@example.org", "pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_subscriber", "change_subscriber", "view_sharingevent"])
    )
    client.force_login(user)
    page = client.get(reverse("admin:subscribers_subscriber_change", args=[reader.pk])).content.decode()
    assert "Forwards and shares (read-only)" in page
    assert "WhatsApp" in page and campaign.name in page
    assert "friend@example.net" not in page


def test_withdrawn_consent_unlinks_the_readers_events_but_keeps_the_counts(client, sent, reader, news):
    post_forward(client, forward_path(sent), addresses="friend@example.net")
    client.get(share_link(sent, "X"), HTTP_USER_AGENT=BROWSER)
    assert SharingEvent.objects.filter(subscriber=reader).count() == 2
    withdraw_tracking_consent(reader, wanted_lists=[news])
    assert SharingEvent.objects.count() == 2
    assert not SharingEvent.objects.filter(subscriber__isnull=False).exists()


def test_erasure_unlinks_the_readers_events(client, sent, reader):
    client.get(share_link(sent, "X"), HTTP_USER_AGENT=BROWSER)
    gdpr.subscriber_erase(subscriber=reader)
    assert SharingEvent.objects.get().subscriber_id is None


def test_a_forwarded_mail_carries_no_share_link_with_the_forwarders_token(client, sent, reader):
    post_forward(client, forward_path(sent), addresses="friend@example.net")
    (forwarded,) = mail.outbox
    own = {url for url in URL.findall(sent.body) if "/share/" in url}
    own_tokens = {urlsplit(url).path.split("/")[2] for url in own}
    assert own and all(tokens.verify_own_share(token) for token in own_tokens), "the reader's own share links"
    forwarded_raw = forwarded.message().as_string()
    assert not own & set(URL.findall(forwarded.body))
    assert not any(token in forwarded_raw for token in own_tokens)
    assert "ref=" not in forwarded.body and "/share/" not in forwarded_raw


def test_the_shared_campaign_condition_offers_campaigns_but_not_templates(campaign):
    from audience.conditions import kind_for
    from campaigns.tests.factories import CampaignFactory
    from sharing.conditions import SHARED

    template = CampaignFactory(name="Vorlage: Wochenbrief", is_template=True, mailing_lists=[])
    [campaign_param, _days] = kind_for(SHARED).schema()["params"]
    offered = [pk for pk, _label in campaign_param["choices"]]
    assert campaign.pk in offered and template.pk not in offered
