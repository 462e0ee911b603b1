import email
import importlib
import re
from datetime import timedelta
from email import policy
from email.utils import parseaddr
from html import unescape
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from django.apps import apps
from django.core import mail
from django.urls import reverse

from campaigns.models import Campaign, Delivery
from sharing import tokens
from sharing.models import SharingEvent
from subscribers import links
from subscribers import tokens as subscriber_tokens
from subscribers.models import SuppressedAddress, email_hash
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
URL = re.compile(r"""(?:https?|mailto):[^\s"'<>]+""")


def forward_path(message) -> str:
    (url,) = {url for url in URL.findall(message.body) if "/forward/" in url}
    return urlsplit(url).path


def post_forward(client, path, *, addresses="friend@example.net", name="Ida", agree="on", **headers):
    return client.post(path, {"name": name, "addresses": addresses, "agree": agree}, HTTP_USER_AGENT=BROWSER, **headers)


def all_urls(raw: bytes) -> list[str]:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    found = []
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            found += [unescape(url) for url in URL.findall(part.get_content())]
    return found


def candidates(url: str) -> set[str]:
    """Every piece of a URL that could be a token: path segments and query values, decoded."""
    parts = urlsplit(url)
    pieces = {unquote(segment) for segment in parts.path.split("/") if segment}
    for _key, value in parse_qsl(parts.query):
        pieces |= {value, *(word for word in re.split(r"[\s?&=/]+", value) if word)}
    return pieces


def verify_functions():
    """Every ``verify_*`` of every app's tokens module: a new token purpose is checked here unseen."""
    found = {}
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.tokens")
        except ModuleNotFoundError:
            continue
        found |= {f"{config.name}.{name}": getattr(module, name) for name in dir(module) if name.startswith("verify_")}
    return found


def subscriber_token_holds(piece: str, reader) -> list[str]:
    """The subscribers app's tokens, which are read rather than verified."""
    held = []
    for purpose in subscriber_tokens.SUBSCRIBER_SALTS:
        try:
            subscriber_tokens.read_subscriber_token(piece, purpose=purpose)
            held.append(purpose)
        except subscriber_tokens.InvalidToken:
            pass
    for action in subscriber_tokens.DATA_LINK_ACTIONS:
        if subscriber_tokens.check_data_link_token(subscriber=reader, action=action, token=piece):
            held.append(action)
    try:
        subscriber_tokens.read_confirmation_token(piece, max_age=timedelta(days=30))
        held.append("confirm")
    except subscriber_tokens.InvalidToken:
        pass
    return held


def test_forwarded_mail_carries_no_token_and_no_data_of_the_forwarder(client, sent, reader, campaign):
    own = all_urls(sent.message().as_bytes())
    verifiers = verify_functions()
    assert {
        "tracking.verify_click",
        "surveys.verify_feedback",
        "sharing.verify_forward",
        "sharing.verify_own_share",
    } <= set(verifiers)
    own_shares = {piece for url in own for piece in candidates(url) if verifiers["sharing.verify_own_share"](piece)}
    assert own_shares, "the reader's own share links carry their delivery's token"
    # The check can fail: the reader's own mail is full of their tokens.
    assert any(fn(piece) for url in own for piece in candidates(url) for fn in verifiers.values())
    assert any(subscriber_token_holds(piece, reader) for url in own for piece in candidates(url))

    response = post_forward(client, forward_path(sent), addresses="friend@example.net, other@example.com", name="Ida")
    assert response.status_code == 302

    assert sorted(parseaddr(message.to[0])[1] for message in mail.outbox) == ["friend@example.net", "other@example.com"]
    message = mail.outbox[0]
    raw = message.message().as_bytes()
    urls = all_urls(raw)
    assert any("/archive/" in url for url in urls) and any("/subscribe/news/" in url for url in urls)
    for url in urls:
        for piece in candidates(url):
            held = [name for name, fn in verifiers.items() if fn(piece) and name != "surveys.verify_preview"]
            assert held == [], (url, held)
            assert subscriber_token_holds(piece, reader) == [], url
    text = raw.decode("utf-8", "replace")
    for secret in (
        links.unsubscribe_token(reader),
        links.preferences_token(reader),
        *own_shares,
        reader.email,
        "Quellenberg",
    ):
        assert secret not in text
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert "List-Unsubscribe" not in parsed
    assert message.metadata == {"kind": "forward", "campaign_id": str(campaign.pk)}
    assert message.track_clicks is False and message.track_opens is False
    assert message.subject.startswith("Ida ")


def test_get_and_head_never_send(client, sent):
    path = forward_path(sent)
    assert client.get(path, HTTP_USER_AGENT=BROWSER).status_code == 200
    assert client.head(path, HTTP_USER_AGENT=BROWSER).status_code == 200
    assert client.get(path, {"name": "Ida", "addresses": "friend@example.net", "agree": "on"}).status_code == 200
    assert mail.outbox == [] and not SharingEvent.objects.exists()


def test_a_scanner_posting_the_form_sends_nothing(client, sent):
    response = client.post(
        forward_path(sent),
        {"name": "Ida", "addresses": "friend@example.net", "agree": "on"},
        HTTP_USER_AGENT="Mimecast URL scanner",
    )
    assert response.status_code == 403 and mail.outbox == []


def test_invalid_addresses_say_which_and_keep_the_form(client, sent, in_english):
    Campaign.objects.update(language="en")  # the page speaks the campaign's language
    response = post_forward(client, forward_path(sent), addresses="friend@example.net\nnot-an-address", name="Ida Q")
    html = response.content.decode()
    assert response.status_code == 400
    assert "These are not valid email addresses: not-an-address" in html
    assert "friend@example.net" in html and 'value="Ida Q"' in html
    assert mail.outbox == []


def test_more_than_the_limit_of_addresses_is_refused(client, sent, settings, in_english):
    Campaign.objects.update(language="en")  # the page speaks the campaign's language
    settings.KANAL_FORWARD_MAX_RECIPIENTS = 2
    many = "a@example.net b@example.net c@example.net"
    response = post_forward(client, forward_path(sent), addresses=many)
    assert response.status_code == 400
    assert "at most 2 addresses" in response.content.decode()
    assert mail.outbox == []
    repeated = "a@example.net, b@example.net, a@example.net"
    assert post_forward(client, forward_path(sent), addresses=repeated).status_code == 302
    assert len(mail.outbox) == 2, "a repeated address counts once"


def test_a_name_with_a_link_is_refused(client, sent, in_english):
    Campaign.objects.update(language="en")  # the page speaks the campaign's language
    response = post_forward(client, forward_path(sent), name="Win at https://spam.example")
    assert response.status_code == 400 and mail.outbox == []
    assert "without links or addresses" in response.content.decode()


def test_forwarding_is_rate_limited_per_forwarder_and_per_address(client, sent, settings, news, in_english):
    Campaign.objects.update(language="en")  # the page speaks the campaign's language
    settings.KANAL_FORWARD_RATE_PER_FORWARDER = "2/h"
    settings.KANAL_FORWARD_RATE_PER_IP = "1000/h"
    path = forward_path(sent)
    assert [post_forward(client, path).status_code for _ in range(3)] == [302, 302, 429]
    assert len(mail.outbox) == 2
    assert "forwarded too often" in post_forward(client, path).content.decode()

    settings.KANAL_FORWARD_RATE_PER_FORWARDER = "1000/h"
    settings.KANAL_FORWARD_RATE_PER_IP = "1/h"
    other = SubscriberFactory()
    SubscriptionFactory(mailing_list=news, subscriber=other)
    delivery = Delivery.objects.create(campaign=sent_campaign(sent), subscriber=other, status=Delivery.Status.SENT)
    other_path = urlsplit(tokens.forward_url(delivery_id=delivery.pk, campaign_id=delivery.campaign_id)).path
    statuses = [post_forward(client, other_path, REMOTE_ADDR="198.51.100.7").status_code for _ in range(2)]
    assert statuses == [302, 429]
    assert post_forward(client, other_path, REMOTE_ADDR="198.51.100.8").status_code == 302


def sent_campaign(message) -> Campaign:
    return Campaign.objects.get(pk=int(message.metadata["campaign_id"]))


def test_suppressed_friends_get_nothing_and_the_page_does_not_tell(client, sent, campaign):
    SuppressedAddress.objects.create(email_hash=email_hash("gone@example.net"), reason="complained")
    response = post_forward(client, forward_path(sent), addresses="gone@example.net, friend@example.net")
    assert response.status_code == 302
    assert [parseaddr(message.to[0])[1] for message in mail.outbox] == ["friend@example.net"]
    event = SharingEvent.objects.get(kind=SharingEvent.Kind.FORWARD)
    assert event.recipients == 1 and event.campaign == campaign


def test_no_friend_address_is_kept(client, sent):
    post_forward(client, forward_path(sent), addresses="friend@example.net")
    values = [str(value) for row in SharingEvent.objects.values_list() for value in row]
    assert not any("friend" in value for value in values)


def test_a_forged_or_foreign_token_finds_nothing(client, sent, campaign):
    path = forward_path(sent)
    assert client.get(path[:-3] + "AAA/").status_code == 404
    share = urlsplit(tokens.share_url(campaign_id=campaign.pk, network="x")).path
    share_token = share.split("/")[2]
    assert client.get(reverse("sharing:forward", args=[share_token])).status_code == 404
    campaign.sharing_enabled = False
    campaign.save(update_fields=["sharing_enabled"])
    assert client.get(path).status_code == 404


def test_the_forwarders_export_lists_their_forwards_without_friends(client, sent, reader, campaign):
    from subscribers.services import gdpr

    post_forward(client, forward_path(sent), addresses="friend@example.net, other@example.com")
    export = gdpr.subscriber_export(subscriber=reader)
    assert [(row["campaign"], row["mails_sent"]) for row in export["forwards"]] == [(campaign.name, 2)]
    assert "friend@example.net" not in str(export)
