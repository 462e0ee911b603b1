import re
import time
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.urls import reverse

from referrals.links import referral_url
from subscribers import antispam
from subscribers.models import ConfirmationMail, ConsentRecord
from subscribers.services import optin
from subscribers.tests.factories import ConsentTextFactory, MailingListFactory, SubscriberFactory, SubscriptionFactory

REFERRER_IP = "198.51.100.1"
FRIEND_IP = "203.0.113.9"


@pytest.fixture
def mailing_list(db):
    return MailingListFactory(slug="kiez", name="Kiez-Post")


@pytest.fixture
def consent_text(db):
    return ConsentTextFactory(language="de", text="Ja, ich will den Newsletter.")


@pytest.fixture
def referrer(mailing_list):
    subscriber = SubscriberFactory(email="anna.berg@example.org")
    SubscriptionFactory(subscriber=subscriber, mailing_list=mailing_list)
    ConsentRecord.objects.create(
        subscriber=subscriber, mailing_list=mailing_list, action=ConsentRecord.Action.CONFIRM, ip_address=REFERRER_IP
    )
    return subscriber


def link_path(referrer, mailing_list) -> str:
    return urlsplit(referral_url(subscriber=referrer, mailing_list_id=mailing_list.pk)).path


def token_of(referrer, mailing_list) -> str:
    return link_path(referrer, mailing_list).rstrip("/").rsplit("/", 1)[-1]


def sign_up(client, mailing_list, *, email, ref: str = "", ip=FRIEND_IP):
    """Post the sign-up form as a person who took ten seconds to fill it in."""
    data = {"email": email, "consent": "on", "started": antispam.form_started_token(now=time.time() - 10)}
    if ref:
        data["ref"] = ref
    return client.post(
        reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug}),
        data,
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT="Mozilla/5.0 (Friend)",
    )


def confirm_last(client, *, ip=FRIEND_IP):
    """Press the button behind the link of the newest confirmation mail."""
    optin.confirmation_mail_send(confirmation_mail_id=ConfirmationMail.objects.order_by("-pk").first().pk)
    (link,) = re.findall(r"https?://\S*/confirm/\S*", mail.outbox[-1].body)
    return client.post(urlsplit(link).path, REMOTE_ADDR=ip)
