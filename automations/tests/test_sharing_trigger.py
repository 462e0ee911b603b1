"""The trigger "forwarded or shared a campaign" (sharing.signals.campaign_shared, after the commit):
people's forwards and shares only, with tracking consent."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from automations import kinds, triggers
from automations.models import Journey
from automations.tests.factories import active_automation
from campaigns.models import Campaign, Delivery
from campaigns.tests.factories import CampaignFactory, MailingListFactory
from referrals.tokens import make_referral_token
from sharing import tokens as sharing_tokens
from sharing.models import SharingEvent
from sharing.services import share_record
from subscribers.tests.factories import SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

EXIT = [{"kind": "exit"}]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def entered(automation) -> set[str]:
    return set(Journey.objects.filter(automation=automation).values_list("subscriber__email", flat=True))


def reader(name: str, *, consent: bool = True):
    return SubscriberFactory(email=f"{name}@example.org", tracking_consent=consent)


def share(campaign, subscriber, *, machine_reason: str = "") -> SharingEvent:
    """A share from the links of the subscriber's own mail of the campaign (their delivery's token)."""
    delivery, _created = Delivery.objects.get_or_create(
        campaign=campaign, subscriber=subscriber, defaults={"status": Delivery.Status.SENT}
    )
    return share_record(campaign=campaign, network="linkedin", machine_reason=machine_reason, delivery_id=delivery.pk)


def test_sharing_starts_the_journeys_that_wait_for_it_after_the_commit(django_capture_on_commit_callbacks):
    spring, autumn = CampaignFactory(), CampaignFactory()
    for_spring = active_automation(
        name="Thanks", trigger_kind=triggers.SHARED, trigger_params={"campaign": spring.pk}, steps=EXIT
    )
    for_any = active_automation(name="Any", trigger_kind=triggers.SHARED, trigger_params={}, steps=EXIT)
    anna, ben = reader("anna"), reader("ben")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        share(spring, anna)
        assert not Journey.objects.exists(), "nothing before the share commits"
    with django_capture_on_commit_callbacks(execute=True):
        share(autumn, ben)
    assert entered(for_spring) == {"anna@example.org"}
    assert entered(for_any) == {"anna@example.org", "ben@example.org"}


def test_machines_and_readers_without_consent_start_nothing(django_capture_on_commit_callbacks):
    campaign = CampaignFactory()
    automation = active_automation(trigger_kind=triggers.SHARED, trigger_params={}, steps=EXIT)
    anna, ben = reader("anna"), reader("ben", consent=False)
    with django_capture_on_commit_callbacks(execute=True):
        for reason in ("head", "scanner_agent", "no_user_agent", "too_soon"):
            share(campaign, anna, machine_reason=reason)
        share(campaign, ben)
    assert SharingEvent.objects.filter(subscriber=anna).count() == 4, "labelled, and kept"
    assert not Journey.objects.filter(automation=automation).exists()
    with django_capture_on_commit_callbacks(execute=True):
        share(campaign, anna)
    assert entered(automation) == {"anna@example.org"}


def test_a_share_that_rolls_back_starts_nothing(django_capture_on_commit_callbacks):
    campaign = CampaignFactory()
    automation = active_automation(trigger_kind=triggers.SHARED, trigger_params={}, steps=EXIT)
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                share(campaign, reader("anna"))
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert not Journey.objects.filter(automation=automation).exists()


def test_the_sharing_trigger_checks_its_parameters():
    campaign = CampaignFactory()
    assert kinds.trigger_clean(triggers.SHARED, {}) == {}
    assert kinds.trigger_clean(triggers.SHARED, {"campaign": campaign.pk}) == {"campaign": campaign.pk}
    with pytest.raises(ValidationError):
        kinds.trigger_clean(triggers.SHARED, {"campaign": campaign.pk, "network": "x"})
    assert kinds.trigger_problems(triggers.SHARED, {"campaign": 999}) == ["The campaign 999 no longer exists."]
    assert kinds.TRIGGERS[triggers.SHARED].needs_tracking_consent


def test_a_share_url_built_from_public_tokens_names_nobody_and_starts_nothing(
    client, django_capture_on_commit_callbacks
):
    """The campaign's share token is on its archive page and a reader's referral token is public
    once they post their referral link; together they must not act in the reader's name."""
    news = MailingListFactory(is_public=True)
    campaign = CampaignFactory(
        mailing_lists=[news], archive_enabled=True, sharing_enabled=True, status=Campaign.Status.SENT
    )
    automation = active_automation(trigger_kind=triggers.SHARED, trigger_params={}, steps=EXIT)
    anna = reader("anna")
    referral = make_referral_token(public_id=anna.public_id, token_version=anna.token_version, mailing_list_id=news.pk)
    forged = urlsplit(sharing_tokens.share_url(campaign_id=campaign.pk, network="linkedin")).path + f"?ref={referral}"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(forged, HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302
    shared_page = parse_qs(urlsplit(response["Location"]).query)["url"][0]
    assert parse_qs(urlsplit(shared_page).query)["ref"] == [referral], "the referral link stays what it was"
    event = SharingEvent.objects.get()
    assert (event.subscriber_id, event.machine_reason) == (None, "")
    assert not Journey.objects.filter(automation=automation).exists()

    # The share links of anna's own mail name her through their per-delivery token.
    delivery = Delivery.objects.create(campaign=campaign, subscriber=anna, status=Delivery.Status.SENT)
    own = sharing_tokens.own_share_url(delivery_id=delivery.pk, campaign_id=campaign.pk, network="linkedin")
    with django_capture_on_commit_callbacks(execute=True):
        client.get(urlsplit(own).path, HTTP_USER_AGENT=BROWSER)
    assert entered(automation) == {"anna@example.org"}
