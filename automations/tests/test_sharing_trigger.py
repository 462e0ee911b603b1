"""The trigger "forwarded or shared a campaign" (sharing.signals.campaign_shared, after the commit):
people's forwards and shares only, with tracking consent."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from automations import kinds, triggers
from automations.models import Journey
from automations.tests.factories import active_automation
from campaigns.tests.factories import CampaignFactory
from sharing.models import SharingEvent
from sharing.services import share_record
from subscribers.tests.factories import SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

EXIT = [{"kind": "exit"}]


def entered(automation) -> set[str]:
    return set(Journey.objects.filter(automation=automation).values_list("subscriber__email", flat=True))


def reader(name: str, *, consent: bool = True):
    return SubscriberFactory(email=f"{name}@example.org", tracking_consent=consent)


def share(campaign, subscriber, *, machine_reason: str = "") -> SharingEvent:
    return share_record(campaign=campaign, network="linkedin", machine_reason=machine_reason, sharer_id=subscriber.pk)


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
