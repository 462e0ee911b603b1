"""Individual tracking only with consent; everyone else is counted anonymously, with nothing linked to them."""

import pytest

from subscribers.services import gdpr
from subscribers.tests.factories import withdraw_tracking_consent
from tracking import tokens
from tracking.models import CampaignHourStats, Event
from tracking.services import honeypot_url_for
from tracking.services.consent import subscriber_events_forget
from tracking.tests.conftest import hit, process, urls_for
from tracking.tests.factories import DeliveryFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def test_readers_without_consent_all_get_the_same_urls_naming_no_delivery(campaign, private_reader):
    other = DeliveryFactory(campaign=campaign.campaign, subscriber=SubscriberFactory(tracking_consent=False))

    pixel, click_urls = urls_for(campaign, private_reader)

    assert (pixel, click_urls) == urls_for(campaign, other), "nothing in the mail tells two readers apart"
    token = pixel.rsplit("/", 1)[1]
    assert tokens.verify_open(token) is None
    assert tokens.verify_anonymous_open(token) == campaign.campaign.pk
    assert [tokens.verify_anonymous_click(url.rsplit("/", 1)[1]) for url in click_urls] == campaign.link_ids
    honeypot = honeypot_url_for(
        delivery_id=private_reader.pk, campaign_id=campaign.campaign.pk, subscriber_tracking_consent=False
    )
    assert tokens.verify_anonymous_honeypot(honeypot.rsplit("/", 1)[1]) == campaign.campaign.pk


def test_readers_with_consent_get_personal_urls(campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    assert tokens.verify_open(pixel.rsplit("/", 1)[1]) == reader.pk
    assert tokens.verify_click(click_urls[0].rsplit("/", 1)[1]) == (reader.pk, campaign.link_ids[0])


def test_the_installation_setting_turns_individual_tracking_off_for_everyone(campaign, reader, settings):
    settings.KANAL_INDIVIDUAL_TRACKING = False
    pixel, click_urls = urls_for(campaign, reader)
    assert tokens.verify_open(pixel.rsplit("/", 1)[1]) is None
    assert tokens.verify_anonymous_open(pixel.rsplit("/", 1)[1]) == campaign.campaign.pk
    assert tokens.verify_click(click_urls[0].rsplit("/", 1)[1]) is None


def test_anonymous_events_add_to_the_figures_but_name_no_one(client, campaign, private_reader):
    pixel, click_urls = urls_for(campaign, private_reader)
    hit(client, pixel)
    hit(client, click_urls[0])
    process()

    assert Event.objects.count() == 2
    assert not Event.objects.filter(delivery__isnull=False).exists()
    row = CampaignHourStats.objects.get()
    assert (row.opens, row.anonymous_opens, row.unique_opens) == (1, 1, 0)
    assert (row.clicks, row.anonymous_clicks, row.unique_clicks) == (1, 1, 0)


def test_consent_withdrawn_after_the_mail_went_out_is_honoured_for_new_events(client, campaign, reader):
    pixel, _links = urls_for(campaign, reader)  # personal URLs, already in the mailbox
    reader.subscriber.tracking_consent = False
    reader.subscriber.save()

    hit(client, pixel)
    process()

    event = Event.objects.get()
    assert event.delivery_id is None
    assert CampaignHourStats.objects.get().anonymous_opens == 1


def test_switching_individual_tracking_off_also_unlinks_events_from_mails_already_sent(
    client, campaign, reader, settings
):
    pixel, _links = urls_for(campaign, reader)
    settings.KANAL_INDIVIDUAL_TRACKING = False
    hit(client, pixel)
    process()
    assert Event.objects.get().delivery_id is None


def test_withdrawing_consent_unlinks_stored_events_and_keeps_the_counts(client, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    hit(client, pixel)
    hit(client, click_urls[0])
    process()
    assert Event.objects.filter(delivery=reader).count() == 2

    assert subscriber_events_forget(subscriber_id=reader.subscriber_id) == 2

    assert not Event.objects.filter(delivery__isnull=False).exists()
    assert CampaignHourStats.objects.get().opens == 1


def test_withdrawing_consent_in_the_preference_centre_unlinks_stored_events(client, campaign, reader):
    pixel, _click_urls = urls_for(campaign, reader)
    hit(client, pixel)
    process()
    subscriber = reader.subscriber
    assert subscriber.tracking_consent and Event.objects.filter(delivery=reader).exists()

    withdraw_tracking_consent(subscriber)

    assert not Event.objects.filter(delivery=reader).exists()
    assert CampaignHourStats.objects.get().opens == 1


def test_gdpr_export_lists_the_subscribers_tracked_events(client, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    hit(client, pixel)
    hit(client, click_urls[0])
    process()

    export = gdpr.subscriber_export(subscriber=reader.subscriber)

    assert [(row["kind"], row["link"]) for row in export["tracking_events"]] == [
        ("open", None),
        ("click", "https://example.org/eins"),
    ]


def test_erasing_a_subscriber_unlinks_their_events(client, campaign, reader):
    pixel, _links = urls_for(campaign, reader)
    hit(client, pixel)
    process()

    gdpr.subscriber_erase(subscriber=reader.subscriber)

    assert Event.objects.get().delivery_id is None
    assert CampaignHourStats.objects.get().opens == 1
