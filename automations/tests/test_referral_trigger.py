"""The "reached a referral milestone" trigger (referrals.signals.milestone_reached)."""

import pytest
from django.core.exceptions import ValidationError

from automations import kinds, triggers
from automations.models import Journey
from automations.tests.factories import active_automation, run_due
from referrals.models import Milestone, Referral
from referrals.services import milestones_grant
from subscribers.models import Subscriber
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, TagFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


def credit(referrer, mailing_list, count):
    for _number in range(count):
        Referral.objects.create(
            referrer=referrer, invitee=SubscriberFactory(), mailing_list=mailing_list, status=Referral.Status.CREDITED
        )
    milestones_grant(referrer=referrer)


def test_reaching_a_milestone_starts_a_journey_once():
    mailing_list, thanks = MailingListFactory(), TagFactory(name="thanked")
    first = Milestone.objects.create(referrals=1, reward="none")
    third = Milestone.objects.create(referrals=3, reward="none")
    active_automation(
        trigger_kind=triggers.MILESTONE_REACHED,
        trigger_params={"milestone": third.pk},
        steps=[{"kind": "tag_add", "tag": thanks.pk}],
    )
    referrer = SubscriberFactory()
    credit(referrer, mailing_list, 1)
    assert not Journey.objects.exists(), "the first milestone is not the one the automation waits for"
    credit(referrer, mailing_list, 2)
    credit(referrer, mailing_list, 1)  # past the third: nothing fires again
    run_due()
    journey = Journey.objects.get()
    assert journey.subscriber_id == referrer.pk
    assert set(Subscriber.objects.get(pk=referrer.pk).tags.values_list("name", flat=True)) == {"thanked"}
    assert first.pk != third.pk


def test_the_milestone_trigger_needs_an_existing_milestone():
    with pytest.raises(ValidationError):
        kinds.trigger_clean(triggers.MILESTONE_REACHED, {})
    assert kinds.trigger_problems(triggers.MILESTONE_REACHED, {"milestone": 999}) == [
        "The referral milestone 999 no longer exists."
    ]
