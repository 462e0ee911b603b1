"""Campaigns of kind "automation": authored like newsletters, sent one delivery at a time by automations."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from campaigns.services import lifecycle, sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def automation_mail():
    campaign = CampaignFactory(name="Willkommen", kind=Campaign.Kind.AUTOMATION, mailing_lists=[])
    ArticleFactory(campaign=campaign, headline="Schön, dass du da bist")
    return campaign


def test_an_automation_mail_is_ready_without_mailing_lists(automation_mail):
    lifecycle.campaign_check_ready(campaign=automation_mail)


def test_an_automation_mail_without_articles_is_not_ready(in_english):
    campaign = CampaignFactory(kind=Campaign.Kind.AUTOMATION, mailing_lists=[])
    with pytest.raises(ValidationError) as error:
        lifecycle.campaign_check_ready(campaign=campaign)
    assert error.value.messages == ["Add at least one article."]


def test_an_automation_mail_is_never_started_or_scheduled_as_a_whole(automation_mail, in_english):
    with pytest.raises(lifecycle.CampaignStateError, match="automation mail"):
        sending.campaign_start(campaign=automation_mail)
    with pytest.raises(lifecycle.CampaignStateError, match="automation mail"):
        lifecycle.campaign_schedule(campaign=automation_mail, scheduled_at=timezone.now() + timedelta(days=1))
    automation_mail.refresh_from_db()
    assert automation_mail.status == Campaign.Status.DRAFT
    assert not Delivery.objects.exists()


def test_use_by_an_automation_makes_it_sending_and_it_never_finishes(automation_mail):
    lifecycle.campaign_automation_use(campaign=automation_mail)
    automation_mail.refresh_from_db()
    assert automation_mail.status == Campaign.Status.SENDING
    assert automation_mail.started_at is not None
    assert not sending.campaign_finish_if_done(campaign_id=automation_mail.pk)
    sending.deliveries_sweep()
    automation_mail.refresh_from_db()
    assert automation_mail.status == Campaign.Status.SENDING
    assert automation_mail.is_editable


def test_a_newsletter_cannot_be_used_by_an_automation():
    with pytest.raises(lifecycle.CampaignStateError):
        lifecycle.campaign_automation_use(campaign=CampaignFactory())


def test_the_sweeper_queues_senders_only_for_automation_mails_with_queued_deliveries(
    automation_mail, settings, monkeypatch
):
    from campaigns import tasks

    settings.KANAL_SEND_PARALLEL_BATCHES = 1
    idle = CampaignFactory(kind=Campaign.Kind.AUTOMATION, mailing_lists=[])
    for campaign in (automation_mail, idle):
        lifecycle.campaign_automation_use(campaign=campaign)
    Delivery.objects.create(campaign=automation_mail, subscriber=SubscriberFactory())
    queued = []
    monkeypatch.setattr(tasks.send_campaign_batch, "delay_on_commit", queued.append)
    sending.deliveries_sweep()
    assert queued == [automation_mail.pk]


def test_admin_lists_campaigns_by_kind_and_keeps_an_automation_mail_in_use_editable(
    admin_client, automation_mail, in_english
):
    newsletter = CampaignFactory(name="Oktober-Ausgabe")
    response = admin_client.get(reverse("admin:campaigns_campaign_changelist"), {"kind__exact": "automation"})
    assert automation_mail.name in response.content.decode()
    assert newsletter.name not in response.content.decode()

    lifecycle.campaign_automation_use(campaign=automation_mail)
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[automation_mail.pk])).content.decode()
    assert 'name="subject"' in page
    assert 'name="articles-0-headline"' in page
    assert 'name="mailing_lists"' not in page
    assert 'form="campaign-send-now"' not in page


def test_one_delivery_per_campaign_subscriber_and_occurrence(automation_mail):
    from django.db import IntegrityError, transaction

    reader = SubscriberFactory()
    Delivery.objects.create(campaign=automation_mail, subscriber=reader, occurrence=7)
    Delivery.objects.create(campaign=automation_mail, subscriber=reader, occurrence=8)
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(campaign=automation_mail, subscriber=reader, occurrence=7)
    assert Delivery.objects.filter(subscriber=reader).count() == 2


def test_a_newsletter_snapshot_writes_occurrence_zero_and_repeats_add_nothing():
    from campaigns.tests.factories import MailingListFactory, SubscriptionFactory

    news = MailingListFactory()
    campaign = CampaignFactory(mailing_lists=[news])
    for _ in range(3):
        SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory())
    assert sending.deliveries_snapshot(campaign=campaign) == 3
    assert sending.deliveries_snapshot(campaign=campaign) == 0
    assert set(Delivery.objects.values_list("occurrence", flat=True)) == {0}


def test_a_duplicate_of_an_automation_mail_is_an_automation_mail_draft(automation_mail):
    lifecycle.campaign_automation_use(campaign=automation_mail)
    copy = lifecycle.campaign_duplicate(campaign=automation_mail)
    assert (copy.kind, copy.status) == (Campaign.Kind.AUTOMATION, Campaign.Status.DRAFT)


def test_an_automation_mail_in_use_is_edited_in_the_admin_and_the_next_send_compiles_the_new_text(
    admin_client, automation_mail
):
    from campaigns.tests.test_admin import inline_data

    lifecycle.campaign_automation_use(campaign=automation_mail)
    automation_mail.refresh_from_db()
    before, _skeleton = sending.compiled_campaign(automation_mail)
    article = automation_mail.articles.get()
    data = inline_data(automation_mail, [article], subject="Neu: Willkommen", **{"articles-0-headline": "Neu hier"})
    data.pop("mailing_lists")
    response = admin_client.post(reverse("admin:campaigns_campaign_change", args=[automation_mail.pk]), data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    automation_mail.refresh_from_db()
    assert (automation_mail.subject, automation_mail.status) == ("Neu: Willkommen", Campaign.Status.SENDING)
    after, _skeleton = sending.compiled_campaign(automation_mail)
    assert after is not before
