"""In Chromium: staff write a welcome mail and a reminder, build "welcome mail, wait 2 days, if not
clicked send a reminder", and watch a real worker send both into a real SMTP sink as the clock moves on."""

import email
import re
from datetime import timedelta
from email import policy
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from automations import tasks
from automations.models import Automation, Journey
from campaigns.models import Campaign, Delivery
from newsletter_site.testing import wait_until
from subscribers.services import optin
from subscribers.tests.factories import ConsentTextFactory, MailingListFactory, SubscriberFactory
from tracking import tokens as tracking_tokens
from tracking.models import Event
from tracking.tests.conftest import BROWSER, process

pytestmark = [pytest.mark.browser, pytest.mark.worker]

SCANNER = "Mozilla/5.0 (compatible; Proofpoint URL Defense)"
PASSWORD = "correct horse battery"


def _figure(page, step: int, figure: str) -> str:
    return page.locator(f"[data-outline-step='{step}'] [data-figure={figure}]").text_content()


def _mails(sink, subject: str) -> dict[str, email.message.EmailMessage]:
    """The sink's messages with this subject, by recipient."""
    with sink.lock:
        messages = list(sink.messages)
    found = {}
    for recipients, content in messages:
        message = email.message_from_bytes(content, policy=policy.default)
        if message["Subject"] == subject:
            for recipient in recipients:
                assert recipient not in found, f"{recipient} got “{subject}” twice"
                found[recipient] = message
    return found


def _click_urls(message) -> list[str]:
    html = message.get_body(preferencelist=("html",)).get_content()
    return sorted({unescape(url) for url in re.findall(r'href="([^"]+/t/c/[^"]+)"', html)})


def _fetch(client, url: str, *, method: str, user_agent: str, ip: str):
    return getattr(client, method)(urlsplit(url).path, HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)


def _write_automation_mail(page, live_server, *, name: str, subject: str, headline: str) -> Campaign:
    page.goto(f"{live_server.url}/admin/campaigns/campaign/add/")
    page.locator("#id_name").fill(name)
    page.locator("#id_kind").select_option("automation")
    page.locator("#id_subject").fill(subject)
    page.locator("#articles-group .add-row a").click()
    page.locator("#id_articles-0-headline").fill(headline)
    page.locator("#id_articles-0-link_url").fill("https://example.org/los")
    page.locator("input[name=_save]").click()
    page.wait_for_url("**/admin/campaigns/campaign/")
    return Campaign.objects.get(name=name)


def _sign_up_and_confirm(client, mailing_list, consent_text, address: str) -> None:
    """Sign up through the opt-in service, then press the confirmation page's button (the real view)."""
    SubscriberFactory(email=address, status="pending", tracking_consent=True)
    outcome = optin.subscriber_subscribe(email=address, mailing_list=mailing_list, consent_text=consent_text)
    path = urlsplit(optin.confirmation_url(subscription=outcome.subscription)).path
    assert client.post(path, REMOTE_ADDR="198.51.100.30").status_code == 200


def test_welcome_mail_then_a_reminder_for_those_who_did_not_click(
    page, live_server, client, smtp_sink, celery_worker_thread, monkeypatch
):
    news = MailingListFactory(name="Kanal News")
    consent_text = ConsentTextFactory(language="de", text="Ja, ich will den Newsletter.")
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", PASSWORD)

    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.locator("#id_username").fill("chefin")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/dashboard/")
    welcome = _write_automation_mail(page, live_server, name="Welcome", subject="Willkommen!", headline="Schön!")
    reminder = _write_automation_mail(page, live_server, name="Reminder", subject="Schon gesehen?", headline="Los")
    assert [welcome.kind, reminder.kind] == [Campaign.Kind.AUTOMATION] * 2
    assert [welcome.articles.get().link_url, reminder.articles.get().link_url] == ["https://example.org/los"] * 2

    page.goto(f"{live_server.url}/admin/automations/automation/add/")
    page.locator("#id_name").fill("Willkommensserie")
    page.locator("#id_trigger_kind").select_option("subscription_confirmed")
    page.locator("[data-trigger-editor] [data-param=list]").select_option(str(news.pk))
    editor = page.locator("#automation-step-editor")
    editor.locator("[data-add-step]").click()
    editor.locator("[data-step='0'] [data-step-kind]").select_option("mail")
    editor.locator("[data-step='0'] [data-param=campaign]").select_option(str(welcome.pk))
    editor.locator("[data-add-step]").click()
    editor.locator("[data-step='1'] [data-step-kind]").select_option("wait")
    days = editor.locator("[data-step='1'] [data-param=days]")
    days.fill("2")
    days.dispatch_event("change")
    editor.locator("[data-add-step]").click()
    editor.locator("[data-step='2'] [data-step-kind]").select_option("branch_mail")
    editor.locator("[data-step='2'] [data-param=event]").select_option("clicked")
    editor.locator("[data-add-step]").click()
    editor.locator("[data-step='3'] [data-step-kind]").select_option("mail")
    editor.locator("[data-step='3'] [data-param=campaign]").select_option(str(reminder.pk))
    editor.locator("[data-step='2'] [data-param=goto]").select_option("4")  # clickers skip the reminder
    page.locator("input[name=_save]").click()
    page.wait_for_url("**/admin/automations/automation/")

    automation = Automation.objects.get()
    assert (automation.trigger_kind, automation.trigger_params) == ("subscription_confirmed", {"list": news.pk})
    assert automation.steps == [
        {"kind": "mail", "campaign": welcome.pk},
        {"kind": "wait", "days": 2},
        {"kind": "branch_mail", "event": "clicked", "goto": 4},
        {"kind": "mail", "campaign": reminder.pk},
    ]
    page.locator(f"input[name=_selected_action][value='{automation.pk}']").check()
    page.locator("select[name=action]").select_option("activate")
    page.locator("button[name=index]").click()
    page.wait_for_load_state()
    automation.refresh_from_db()
    assert automation.status == Automation.Status.ACTIVE

    for address in ("anna@example.org", "ben@example.org"):
        _sign_up_and_confirm(client, news, consent_text, address)
    welcomes = wait_until(
        lambda: len(_mails(smtp_sink, "Willkommen!")) == 2 and _mails(smtp_sink, "Willkommen!"),
        timeout=30,
        message="the worker to send both welcome mails",
    )
    assert set(welcomes) == {"anna@example.org", "ben@example.org"}
    wait_until(
        lambda: Journey.objects.filter(step_index=2).count() == 2,
        timeout=20,
        message="both journeys to wait after the welcome mail",
    )

    # An hour later: a mail gateway prefetches every link of Ben's mail, Anna clicks the article.
    Delivery.objects.update(sent_at=timezone.now() - timedelta(hours=1))
    for url in _click_urls(welcomes["ben@example.org"]):
        for method in ("head", "get"):
            _fetch(client, url, method=method, user_agent=SCANNER, ip="203.0.113.9")
    links = [
        url
        for url in _click_urls(welcomes["anna@example.org"])
        if tracking_tokens.verify_click(urlsplit(url).path.rsplit("/", 1)[1]) is not None  # not the honeypot
    ]
    annas = [_fetch(client, links[0], method="get", user_agent=BROWSER, ip="198.51.100.7")]
    assert [response.headers.get("Location") for response in annas] == ["https://example.org/los"]
    process()
    clicks = Event.objects.filter(kind=Event.Kind.CLICK)
    assert set(clicks.filter(is_machine=False).values_list("delivery__subscriber__email", flat=True)) == {
        "anna@example.org"
    }
    assert clicks.filter(is_machine=True, delivery__subscriber__email="ben@example.org").exists()

    later = timezone.now() + timedelta(days=2, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    tasks.tick()  # what beat does, two days on
    wait_until(
        lambda: Journey.objects.filter(status=Journey.Status.FINISHED).count() == 2,
        timeout=30,
        message="the worker to finish both journeys",
    )
    reminder_deliveries = Delivery.objects.filter(campaign=reminder)
    wait_until(
        lambda: reminder_deliveries.exists() and not reminder_deliveries.exclude(status=Delivery.Status.SENT).exists(),
        timeout=30,
        message="the worker to send every reminder",
    )
    wait_until(
        lambda: len(_mails(smtp_sink, "Schon gesehen?")) == reminder_deliveries.count(),
        timeout=10,
        message="every reminder at the sink",
    )
    assert set(_mails(smtp_sink, "Schon gesehen?")) == {"ben@example.org"}

    page.goto(f"{live_server.url}{reverse('admin:automations_automation_change', args=[automation.pk])}")
    assert (_figure(page, 0, "sent"), _figure(page, 0, "opened"), _figure(page, 0, "clicked")) == ("2", "1", "1")
    assert page.locator("[data-outline-step='2'] .automation-branch").count() == 2  # clicked, otherwise
    assert "automation-target" in page.locator("#outline-step-4").get_attribute("class")  # the end
    assert (_figure(page, 2, "entered"), _figure(page, 3, "entered")) == ("2", "1")
    assert (_figure(page, 3, "sent"), _figure(page, 3, "clicked")) == ("1", "0")
    assert set(_mails(smtp_sink, "Willkommen!")) == {"anna@example.org", "ben@example.org"}, "nobody got it twice"


def test_a_step_keeps_showing_its_cancelled_mail_rather_than_another_one(page, live_server, transactional_db):
    """The editor offers only mails that can still send; a step that names another keeps it, shown by its id."""
    from campaigns.services import lifecycle
    from campaigns.tests.factories import ArticleFactory, CampaignFactory

    gone, other = (CampaignFactory(name=name, kind=Campaign.Kind.AUTOMATION, mailing_lists=[]) for name in "AB")
    ArticleFactory(campaign=gone)
    lifecycle.campaign_cancel(campaign=gone)
    news = MailingListFactory()
    automation = Automation.objects.create(
        name="Alt",
        trigger_kind="subscription_confirmed",
        trigger_params={"list": news.pk},
        steps=[{"kind": "mail", "campaign": gone.pk}],
    )
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/automations/automation/{automation.pk}/change/")
    page.locator("#id_username").fill("chefin")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()

    choice = page.locator("#automation-step-editor [data-step='0'] [data-param=campaign]")
    assert choice.input_value() == str(gone.pk)
    assert choice.locator("option:checked").text_content() == f"#{gone.pk}"
    assert str(other.pk) in choice.locator("option").evaluate_all("options => options.map(o => o.value)")
    page.locator("input[name=_continue]").click()
    page.wait_for_load_state()
    automation.refresh_from_db()
    assert automation.steps == [{"kind": "mail", "campaign": gone.pk}]
