"""The public front page `/`: the public lists with their sign-up forms and their archived campaigns."""

import re
import time
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from subscribers import antispam
from subscribers.models import Subscription
from subscribers.tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db


class _Forms(HTMLParser):
    """The forms of a page: action and the inputs' names, ids and values."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "inputs": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(attrs)


def _forms(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return [form for form in parser.forms if form["action"] != reverse("set_language")]


@pytest.fixture
def lists():
    kiez = MailingListFactory(name="Kiezbrief", slug="kiez", public_description="Was im Kiez los ist.")
    intern = MailingListFactory(name="Intern", slug="intern", is_public=False)
    return kiez, intern


def test_the_front_page_shows_each_public_list_with_its_sign_up_form(client, lists, in_english):
    _kiez, _intern = lists
    MailingListFactory(name="Bücher", slug="buecher")
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Kiezbrief" in html and "Was im Kiez los ist." in html and "Intern" not in html
    forms = _forms(html)
    assert [form["action"] for form in forms] == [
        reverse("subscribers:subscribe", kwargs={"slug": slug}) for slug in ("buecher", "kiez")
    ]
    ids = [attrs["id"] for form in forms for attrs in form["inputs"] if attrs.get("id")]
    assert len(ids) == len(set(ids)), "two forms on one page need their own field ids"


def test_the_front_page_form_signs_up_for_its_list(client, lists, in_english):
    kiez, _intern = lists
    [form] = [f for f in _forms(client.get("/").content.decode()) if f["action"].endswith("/kiez/")]
    data = {attrs["name"]: attrs.get("value", "") for attrs in form["inputs"] if attrs.get("name")}
    data.update(email="erika@example.org", consent="on", website="")
    data["started"] = antispam.form_started_token(now=time.time() - 10)  # a person takes a few seconds
    response = client.post(form["action"], data, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 302
    assert response["Location"] == reverse("subscribers:subscribe_thanks", kwargs={"slug": "kiez"})
    assert Subscription.objects.filter(mailing_list=kiez, subscriber__email="erika@example.org").exists()


def test_the_front_page_links_the_archived_campaigns_of_each_list(client, lists, in_english):
    kiez, intern = lists
    sent = CampaignFactory(
        subject='Hallo {{ subscriber.first_name|default:"Nachbarin" }}, der Kiez im Mai',
        status=Campaign.Status.SENT,
        started_at=timezone.now(),
        archive_enabled=True,
        mailing_lists=[kiez],
    )
    draft = CampaignFactory(subject="Noch geheim", archive_enabled=True, mailing_lists=[kiez])
    private = CampaignFactory(
        subject="Nicht im Archiv", status=Campaign.Status.SENT, archive_enabled=False, mailing_lists=[kiez]
    )
    internal = CampaignFactory(
        subject="Nur intern", status=Campaign.Status.SENT, archive_enabled=True, mailing_lists=[intern]
    )
    html = client.get("/").content.decode()
    archive = reverse("campaigns:archive", kwargs={"archive_id": sent.archive_id})
    assert re.search(rf'<a href="{archive}">Hallo Nachbarin, der Kiez im Mai</a>', html)
    assert client.get(archive).status_code == 200
    for hidden in (draft, private, internal):
        assert str(hidden.archive_id) not in html and hidden.subject not in html


def test_without_public_lists_the_front_page_says_so(client, in_english):
    MailingListFactory(is_public=False)
    assert "There are no public newsletters yet." in client.get("/").content.decode()
