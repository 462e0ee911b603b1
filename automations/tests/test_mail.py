"""The mail steps: "mail" queues one delivery of an automation mail per journey, "branch_mail" follows
what a person (never a machine) did with the journey's latest mail."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from automations import kinds, mail, services
from automations.models import Automation, Journey, JourneyStepRun
from automations.selectors import automation_outline
from automations.tests.factories import active_automation, run_due
from campaigns.models import Campaign, Delivery, FrequencyCap
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.models import Subscriber
from subscribers.tests.factories import SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
SCANNER = "Mimecast-Link-Scanner/1.0"
APPLE_PROXY = "Mozilla/5.0"


def automation_mail(name="Willkommen", **fields) -> Campaign:
    campaign = CampaignFactory(name=name, kind=Campaign.Kind.AUTOMATION, mailing_lists=[], **fields)
    ArticleFactory(campaign=campaign, headline=f"{name}: schön, dass du da bist", link_url="https://example.org/los")
    return campaign


def _come_due():
    Journey.objects.filter(status=Journey.Status.ACTIVE).update(due_at=timezone.now() - timedelta(seconds=1))


@pytest.fixture
def welcome():
    return automation_mail()


def test_activation_makes_the_automation_mail_sending(tag, welcome):
    assert welcome.status == Campaign.Status.DRAFT
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "mail", "campaign": welcome.pk}])
    welcome.refresh_from_db()
    assert welcome.status == Campaign.Status.SENDING


def test_a_new_version_with_a_new_mail_makes_that_mail_sending_too(tag, welcome):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "mail", "campaign": welcome.pk}])
    reminder = automation_mail("Erinnerung")
    automation.steps = [*automation.steps, {"kind": "mail", "campaign": reminder.pk}]
    services.automation_save(automation=automation)
    reminder.refresh_from_db()
    assert reminder.status == Campaign.Status.SENDING


def test_the_mail_step_queues_one_delivery_linked_from_its_run(tag, subscriber, welcome, monkeypatch):
    wanted = []
    monkeypatch.setattr(mail.sending, "_queue_senders", lambda *, campaign_id: wanted.append(campaign_id))
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "mail", "campaign": welcome.pk}])
    others = SubscriberFactory.create_batch(4)
    for reader in [subscriber, *others]:
        reader.tags.add(tag)
    run_due()
    journey = Journey.objects.get(subscriber=subscriber)
    assert journey.status == Journey.Status.FINISHED
    delivery = Delivery.objects.get(subscriber=subscriber)
    assert (delivery.campaign_id, delivery.status, delivery.occurrence) == (welcome.pk, "queued", journey.pk)
    assert JourneyStepRun.objects.get(journey=journey).delivery == delivery
    assert Delivery.objects.count() == 5
    assert wanted == [welcome.pk], "one set of senders per advance_journeys task, not one per journey"
    run_due()
    assert Delivery.objects.count() == 5


def test_reentry_gets_the_mail_again_on_the_new_journey(tag, subscriber, welcome):
    active_automation(
        trigger_params={"tag": tag.pk},
        reentry=Automation.Reentry.AFTER_FINISHED,
        steps=[{"kind": "mail", "campaign": welcome.pk}],
    )
    subscriber.tags.add(tag)
    run_due()
    subscriber.tags.remove(tag)
    subscriber.tags.add(tag)
    run_due()
    journeys = list(Journey.objects.order_by("pk").values_list("pk", flat=True))
    assert len(journeys) == 2
    assert sorted(Delivery.objects.values_list("occurrence", flat=True)) == journeys


def test_unsubscribed_mid_journey_gets_no_mail(tag, subscriber, welcome):
    active_automation(
        trigger_params={"tag": tag.pk},
        steps=[{"kind": "wait", "days": 1}, {"kind": "mail", "campaign": welcome.pk}],
    )
    subscriber.tags.add(tag)
    run_due()
    Subscriber.objects.filter(pk=subscriber.pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    _come_due()
    run_due()
    assert Journey.objects.get().exited_reason == "consent: unsubscribed"
    assert not Delivery.objects.exists()


def test_unsubscribed_between_the_mail_step_and_the_send_gets_no_mail_and_leaves(tag, subscriber, welcome, mailoutbox):
    active_automation(
        trigger_params={"tag": tag.pk},
        steps=[{"kind": "mail", "campaign": welcome.pk}, {"kind": "wait", "days": 1}, {"kind": "exit"}],
    )
    subscriber.tags.add(tag)
    run_due()
    Subscriber.objects.filter(pk=subscriber.pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    while sending.delivery_batch_send(campaign_id=welcome.pk).more_to_send:
        pass
    assert mailoutbox == []
    assert Delivery.objects.get().status == Delivery.Status.WITHDRAWN
    _come_due()
    run_due()
    assert Journey.objects.get().exited_reason == "consent: unsubscribed"


def test_the_frequency_cap_holds_back_the_mail_of_whoever_reached_it_and_the_journey_goes_on(tag, other_tag, welcome):
    FrequencyCap.objects.create(period=FrequencyCap.Period.DAY, max_mails=1)
    newsletter = CampaignFactory(name="Heute")
    reached, fresh = SubscriberFactory.create_batch(2)
    Delivery.objects.create(
        campaign=newsletter,
        subscriber=reached,
        status=Delivery.Status.SENT,
        sent_at=timezone.now() - timedelta(hours=3),
    )
    automation = active_automation(
        trigger_params={"tag": tag.pk},
        steps=[{"kind": "mail", "campaign": welcome.pk}, {"kind": "tag_add", "tag": other_tag.pk}],
    )
    tag.subscribers.add(reached, fresh)
    run_due()
    assert set(Delivery.objects.filter(campaign=welcome).values_list("subscriber", flat=True)) == {fresh.pk}
    held_back = JourneyStepRun.objects.get(step_index=0, journey__subscriber=reached)
    assert held_back.detail == {"skipped": "frequency cap"} and held_back.delivery_id is None
    assert set(Journey.objects.values_list("status", flat=True)) == {Journey.Status.FINISHED}
    assert set(other_tag.subscribers.all()) == {reached, fresh}
    mail_row = automation_outline(automation=automation)[0]
    assert (mail_row["entered"], mail_row["capped"]) == (2, 1)


def test_an_automation_mail_that_bypasses_the_cap_goes_out_anyway(tag, subscriber, welcome):
    FrequencyCap.objects.create(period=FrequencyCap.Period.WEEK, max_mails=1)
    welcome.bypasses_frequency_cap = True
    welcome.save()
    Delivery.objects.create(
        campaign=CampaignFactory(), subscriber=subscriber, status=Delivery.Status.SENT, sent_at=timezone.now()
    )
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "mail", "campaign": welcome.pk}])
    subscriber.tags.add(tag)
    run_due()
    assert Delivery.objects.filter(campaign=welcome, subscriber=subscriber).exists()


def test_activation_is_refused_for_a_newsletter_a_missing_or_an_unready_mail(tag):
    newsletter = CampaignFactory(name="Oktober")
    ArticleFactory(campaign=newsletter)
    empty = CampaignFactory(name="Leer", kind=Campaign.Kind.AUTOMATION, mailing_lists=[])
    automation = Automation.objects.create(
        name="Kaputt",
        trigger_kind="tag_added",
        trigger_params={"tag": tag.pk},
        steps=[
            {"kind": "mail", "campaign": newsletter.pk},
            {"kind": "mail", "campaign": empty.pk},
            {"kind": "mail", "campaign": 999999},
        ],
    )
    with pytest.raises(ValidationError) as error:
        services.automation_activate(automation=automation)
    assert error.value.messages[1:] == [
        "Step 0: “Oktober” is a newsletter, not an automation mail.",
        "Step 1: Automation mail “Leer”: Add at least one article.",
        "Step 2: The automation mail 999999 no longer exists.",
    ]
    newsletter.refresh_from_db()
    assert newsletter.status == Campaign.Status.DRAFT


def test_a_cancelled_mail_exits_its_journeys_with_the_step_skipped(tag, subscriber, welcome):
    from campaigns.services import lifecycle

    active_automation(
        trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 1}, {"kind": "mail", "campaign": welcome.pk}]
    )
    subscriber.tags.add(tag)
    run_due()
    lifecycle.campaign_cancel(campaign=welcome)
    _come_due()
    run_due()
    assert Journey.objects.get().exited_reason == "broken step"
    assert not Delivery.objects.exists()


# Branch on the latest mail


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"kind": "branch_mail", "event": "opened", "goto": 1}], "Step 0: a “send a mail” step must come before it."),
        (
            [{"kind": "mail", "campaign": 1}, {"kind": "branch_mail", "event": "read", "goto": 2}],
            "Step 1: A mail branch needs “event”: “opened” or “clicked”.",
        ),
        (
            [{"kind": "mail", "campaign": 1}, {"kind": "branch_mail", "event": "clicked", "goto": 0}],
            "Step 1: A branch must go to a later step: a step number from 2 to 2 (the end).",
        ),
    ],
)
def test_malformed_mail_branches_are_refused(steps, message):
    with pytest.raises(ValidationError) as error:
        kinds.steps_clean(steps)
    assert error.value.messages == [message]


def _event(*, delivery, link_id, user_agent, kind="c"):
    """An open ("o") or click ("c") stored the way the endpoints and the batcher store it."""
    from tracking import event_queue, tokens
    from tracking.services.events import events_ingest

    events_ingest(
        lines=[
            event_queue.event_line(
                kind=kind,
                delivery_id=delivery.pk,
                campaign_id=delivery.campaign_id,
                link_id=link_id,
                head=False,
                ip_hash=tokens.ip_hash("198.51.100.20"),
                user_agent=user_agent,
            )
        ]
    )


@pytest.mark.parametrize(
    ("event", "kind", "user_agent", "consent", "jumped"),
    [
        ("clicked", "c", BROWSER, True, True),
        ("clicked", "c", SCANNER, True, False),
        ("opened", "c", BROWSER, True, True),
        ("opened", "o", BROWSER, True, True),
        ("opened", "o", APPLE_PROXY, True, False),
        ("clicked", "o", BROWSER, True, False),
        ("clicked", "c", BROWSER, False, False),
        ("clicked", None, None, True, False),
    ],
)
def test_branch_mail_follows_a_persons_open_or_click_never_a_machines(
    tag, other_tag, welcome, event, kind, user_agent, consent, jumped
):
    from campaigns.rendering import compile_campaign
    from tracking.services import campaign_links_register

    reader = SubscriberFactory(tracking_consent=consent)
    link_ids = campaign_links_register(campaign=welcome, compiled=compile_campaign(welcome))
    active_automation(
        trigger_params={"tag": tag.pk},
        steps=[
            {"kind": "mail", "campaign": welcome.pk},
            {"kind": "wait", "days": 2},
            {"kind": "branch_mail", "event": event, "goto": 4},
            {"kind": "tag_add", "tag": other_tag.pk},
        ],
    )
    reader.tags.add(tag)
    run_due()
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status="sent", sent_at=timezone.now() - timedelta(hours=1))
    if kind is not None:
        _event(delivery=delivery, link_id=link_ids[0] if kind == "c" else 0, user_agent=user_agent, kind=kind)
    _come_due()
    run_due()
    journey = Journey.objects.get()
    assert journey.status == Journey.Status.FINISHED
    assert JourneyStepRun.objects.get(step_index=2).detail == {event: jumped}
    assert reader.tags.filter(pk=other_tag.pk).exists() is not jumped


def test_outline_counts_mails_sent_opened_clicked_and_answered_by_people(tag, welcome, admin_client):
    from django.urls import reverse

    from automations.selectors import automation_outline
    from campaigns.rendering import compile_campaign
    from surveys.models import Response
    from surveys.tests.factories import SurveyFactory
    from tracking.services import campaign_links_register

    link_ids = campaign_links_register(campaign=welcome, compiled=compile_campaign(welcome))
    automation = active_automation(
        trigger_params={"tag": tag.pk}, steps=[{"kind": "mail", "campaign": welcome.pk}, {"kind": "wait", "days": 1}]
    )
    clicker, scanned, answerer, unsent = SubscriberFactory.create_batch(4, tracking_consent=True)
    tag.subscribers.add(clicker, scanned, answerer, unsent)
    run_due()
    Delivery.objects.exclude(subscriber=unsent).update(status="sent", sent_at=timezone.now() - timedelta(hours=1))
    deliveries = {delivery.subscriber_id: delivery for delivery in Delivery.objects.all()}
    _event(delivery=deliveries[clicker.pk], link_id=link_ids[0], user_agent=BROWSER)
    _event(delivery=deliveries[scanned.pk], link_id=link_ids[0], user_agent=SCANNER)
    Response.objects.create(
        survey=SurveyFactory(), subscriber=answerer, source=Response.Source.MAIL, delivery_id=deliveries[answerer.pk].pk
    )

    mail_row, wait_row = automation_outline(automation=automation)
    assert {name: mail_row[name] for name in ("entered", "sent", "opened", "clicked", "answered")} == {
        "entered": 4,
        "sent": 3,
        "opened": 1,
        "clicked": 1,
        "answered": 1,
    }
    assert wait_row["sent"] is None
    page = admin_client.get(reverse("admin:automations_automation_change", args=[automation.pk])).content.decode()
    mail_item = page[page.index('id="outline-step-0"') : page.index('id="outline-step-1"')]
    for figure, count in (("entered", 4), ("sent", 3), ("opened", 1), ("clicked", 1), ("answered", 1)):
        assert f'<span data-figure="{figure}">{count}</span>' in mail_item
    wait_item = page[page.index('id="outline-step-1"') : page.index('id="outline-step-2"')]
    assert 'data-figure="sent"' not in wait_item


def test_a_batch_of_journeys_checks_its_automation_mail_once(tag, welcome, monkeypatch):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "mail", "campaign": welcome.pk}])
    tag.subscribers.add(*SubscriberFactory.create_batch(5))
    checks = []
    check_ready = mail.lifecycle.campaign_check_ready

    def counted(*, campaign):
        checks.append(campaign.pk)
        check_ready(campaign=campaign)

    monkeypatch.setattr(mail.lifecycle, "campaign_check_ready", counted)
    run_due()
    assert Delivery.objects.count() == 5
    assert checks == [welcome.pk]
