"""The offer triggers: "redeemed an offer" (offers.signals.redemption_recorded, after the commit)
and "offer deadline approaching, code not redeemed" (beat)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from automations import kinds, services, triggers
from automations.models import Automation, Journey
from automations.tests.factories import active_automation, run_due
from offers.models import Offer
from offers.services.redemption import offer_redeem
from offers.tests.factories import CouponFactory, OfferFactory, given_code
from subscribers.tests.factories import SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

EXIT = [{"kind": "exit"}]


def entered(automation) -> set[str]:
    return set(Journey.objects.filter(automation=automation).values_list("subscriber__email", flat=True))


def reader(name: str, *, consent: bool = True):
    return SubscriberFactory(email=f"{name}@example.org", tracking_consent=consent)


def test_redeeming_an_offer_starts_the_journeys_that_wait_for_it_after_the_commit(
    django_capture_on_commit_callbacks,
):
    spring, autumn = OfferFactory(), OfferFactory()
    for_spring = active_automation(
        name="Thanks", trigger_kind=triggers.OFFER_REDEEMED, trigger_params={"offer": spring.pk}, steps=EXIT
    )
    for_any = active_automation(
        name="Any", trigger_kind=triggers.OFFER_REDEEMED, trigger_params={}, steps=EXIT, reentry="when_not_in_it"
    )
    anna, ben = reader("anna"), reader("ben")
    anna_code = given_code(spring, anna).coupon.code
    with django_capture_on_commit_callbacks(execute=True):
        offer_redeem(code=anna_code, source="api", order_ref="A-1")
        assert not Journey.objects.exists(), "nothing before the redemption commits"
    with django_capture_on_commit_callbacks(execute=True):
        offer_redeem(code=given_code(autumn, ben).coupon.code, source="csv")
    assert entered(for_spring) == {"anna@example.org"}
    assert entered(for_any) == {"anna@example.org", "ben@example.org"}
    run_due()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        offer_redeem(code=anna_code, source="api", order_ref="A-1")  # the shop reports it again
    assert callbacks == [], "a replay is no new redemption"
    assert Journey.objects.filter(automation=for_any).count() == 2


def test_a_redemption_that_rolls_back_starts_nothing(django_capture_on_commit_callbacks):
    offer = OfferFactory()
    active_automation(trigger_kind=triggers.OFFER_REDEEMED, trigger_params={}, steps=EXIT)
    code = given_code(offer, reader("anna")).coupon.code
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        offer_redeem(code=code, source="api")
        raise RuntimeError("the shop's batch failed")
    assert not Journey.objects.exists()


def test_the_redeemed_trigger_needs_tracking_consent_and_a_known_person(django_capture_on_commit_callbacks):
    offer = OfferFactory()
    automation = active_automation(trigger_kind=triggers.OFFER_REDEEMED, trigger_params={}, steps=EXIT)
    shared = OfferFactory(code_source=Offer.CodeSource.SHARED)
    CouponFactory(offer=shared, code="ALLE")
    with django_capture_on_commit_callbacks(execute=True):
        offer_redeem(code=given_code(offer, reader("anna", consent=False)).coupon.code, source="api")
        offer_redeem(code="ALLE", source="api", order_ref="WALK-IN-1")  # nobody known
    assert entered(automation) == set()


def test_a_failing_receiver_does_not_turn_a_stored_redemption_into_an_error(django_capture_on_commit_callbacks, caplog):
    from offers.signals import redemption_recorded

    def broken(**kwargs):
        raise ValueError("receiver bug")

    redemption_recorded.connect(broken, dispatch_uid="test.broken")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = offer_redeem(code=given_code(OfferFactory(), reader("anna")).coupon.code, source="api")
    finally:
        redemption_recorded.disconnect(dispatch_uid="test.broken")
    assert outcome.created and outcome.redemption.pk
    assert "receiver" in caplog.text and "failed" in caplog.text


@pytest.fixture
def ending():
    """An offer that ends in two days less an hour; codes given to four readers, one of whom redeemed."""
    offer = OfferFactory(expires_at=timezone.now() + timedelta(days=2, hours=-1))
    people = {name: reader(name, consent=name != "dora") for name in ("anna", "ben", "cem", "dora")}
    for name in ("anna", "ben", "dora"):
        given_code(offer, people[name], ago=timedelta(days=10))
    offer_redeem(code=given_code(offer, people["cem"], ago=timedelta(days=10)).coupon.code, source="api")
    reader("emil")  # never given a code
    return offer


def test_the_deadline_trigger_enters_those_who_did_not_redeem_once_in_its_window(ending):
    automation = active_automation(
        trigger_kind=triggers.OFFER_DEADLINE,
        trigger_params={"offer": ending.pk, "days": 2},
        reentry=Automation.Reentry.WHEN_NOT_IN_IT,
        steps=EXIT,
    )
    opens = ending.expires_at - timedelta(days=2)
    assert services.offer_deadline_triggers_evaluate(now=opens - timedelta(minutes=1)) == 0
    assert services.offer_deadline_triggers_evaluate() == 2  # the window opened an hour ago
    assert entered(automation) == {"anna@example.org", "ben@example.org"}, "not cem (redeemed), not dora (no consent)"
    run_due()  # their journeys end
    assert services.offer_deadline_triggers_evaluate() == 0, "once per offer"
    assert Journey.objects.filter(automation=automation).count() == 2
    late = given_code(ending, reader("fritz"), ago=timedelta(minutes=30))  # given inside the window
    assert services.offer_deadline_triggers_evaluate() == 1
    assert late.delivery.subscriber.email in entered(automation)
    given_code(ending, reader("gina"), ago=timedelta(minutes=1))
    assert services.offer_deadline_triggers_evaluate(now=ending.expires_at) == 0, "the offer has ended"


def test_the_deadline_trigger_is_checked_hourly_by_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["automations-offer-deadline-triggers"]
    assert entry["task"] == "automations.tasks.evaluate_offer_deadline_triggers"


def test_the_offer_triggers_check_their_parameters():
    offer = OfferFactory(name="Spring sale")
    shared = OfferFactory(name="Everyone", code_source=Offer.CodeSource.SHARED)
    assert kinds.trigger_clean(triggers.OFFER_REDEEMED, {}) == {}
    assert kinds.trigger_clean(triggers.OFFER_REDEEMED, {"offer": offer.pk}) == {"offer": offer.pk}
    assert kinds.trigger_problems(triggers.OFFER_REDEEMED, {"offer": 999}) == ["The offer 999 no longer exists."]
    with pytest.raises(ValidationError):
        kinds.trigger_clean(triggers.OFFER_DEADLINE, {"offer": offer.pk, "days": 0})
    with pytest.raises(ValidationError):
        kinds.trigger_clean(triggers.OFFER_DEADLINE, {"offer": offer.pk})
    assert kinds.trigger_problems(triggers.OFFER_DEADLINE, {"offer": offer.pk, "days": 2}) == []
    assert kinds.trigger_problems(triggers.OFFER_DEADLINE, {"offer": shared.pk, "days": 2}) == [
        "The offer “Everyone” has one shared code: nobody was given a code of their own."
    ]
    assert kinds.TRIGGERS[triggers.OFFER_REDEEMED].needs_tracking_consent
    assert kinds.TRIGGERS[triggers.OFFER_DEADLINE].needs_tracking_consent
