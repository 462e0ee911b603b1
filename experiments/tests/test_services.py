from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from campaigns.rendering import compile_campaign
from campaigns.services import sending
from experiments.models import ABTest, GroupMember, Variant
from experiments.selectors import ab_test_results
from experiments.services import ABTestError, ab_test_evaluate, ab_test_start
from experiments.tests.factories import ab_test_for, campaign_with_readers
from subscribers.models import Subscriber
from tracking.services import campaign_links_register, links
from tracking.services.events import events_process
from tracking.tests.conftest import hit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(in_english):
    """The refusals are read in English here."""


BARE_PROXY = "Mozilla/5.0"


def send_all(campaign: Campaign) -> None:
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass


def start(ab_test, django_capture_on_commit_callbacks) -> list[Variant]:
    with django_capture_on_commit_callbacks(execute=False):
        ab_test_start(ab_test=ab_test, warnings_confirmed=True)
    variants = list(ab_test.variants.order_by("letter").select_related("campaign"))
    for variant in variants:
        send_all(variant.campaign)
        variant.campaign.refresh_from_db()
    # Readers read later than a link scanner would: their clicks count as people's.
    Delivery.objects.filter(campaign__in=[variant.campaign for variant in variants]).update(
        sent_at=timezone.now() - timedelta(hours=1)
    )
    return variants


def readers_act(client, variant: Variant, count: int, *, kind: str = "click", user_agent=None) -> None:
    campaign = variant.campaign
    link_ids = campaign_links_register(campaign=campaign, compiled=compile_campaign(campaign))
    deliveries = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).order_by("pk")[:count]
    for number, delivery in enumerate(deliveries):
        pixel, clicks = links.tracking_urls_for(
            delivery_id=delivery.pk, campaign_id=campaign.pk, subscriber_tracking_consent=True, link_ids=link_ids
        )
        url = clicks[0] if kind == "click" else pixel
        extra = {"user_agent": user_agent} if user_agent else {}
        hit(client, url, ip=f"198.51.{variant.pk % 200}.{number % 250}", **extra)
    events_process(now=timezone.now() + timedelta(minutes=10))


def recipients(campaign: Campaign) -> set[int]:
    return set(campaign.deliveries.values_list("subscriber_id", flat=True))


def test_too_small_test_groups_are_refused_with_the_numbers(django_capture_on_commit_callbacks):
    ab_test = ab_test_for(campaign_with_readers(readers=400), test_share=20, minimum_sample=1000)
    campaigns = Campaign.objects.count()
    with pytest.raises(ABTestError) as refused:
        ab_test_start(ab_test=ab_test, warnings_confirmed=True)
    message = refused.value.messages[0]
    assert "minimum sample of 1000" in message
    assert "400 subscribers, 20 % of them" in message
    ab_test.refresh_from_db()
    assert ab_test.status == ABTest.Status.DRAFT
    assert Campaign.objects.count() == campaigns
    assert not GroupMember.objects.exists()


def test_identical_variants_are_refused():
    campaign = campaign_with_readers(readers=10)
    ab_test = ab_test_for(campaign, subjects=("Neuigkeiten", ""))
    with pytest.raises(ABTestError, match="Variants A and B are identical"):
        ab_test_start(ab_test=ab_test)


def test_one_variant_is_no_test():
    ab_test = ab_test_for(campaign_with_readers(readers=10), subjects=("Neuigkeiten",))
    with pytest.raises(ABTestError, match="2 to 4 variants; this one has 1"):
        ab_test_start(ab_test=ab_test)


def test_the_campaign_with_readers_cannot_be_sent_on_its_own(django_capture_on_commit_callbacks):
    campaign = campaign_with_readers(readers=10)
    ab_test_for(campaign)
    with pytest.raises(ValidationError, match="start the test instead"):
        sending.campaign_start(campaign=campaign, warnings_confirmed=True)
    assert not Delivery.objects.exists()


def test_start_sends_each_variant_to_its_own_test_group_only(django_capture_on_commit_callbacks):
    campaign = campaign_with_readers(readers=1000)
    ab_test = ab_test_for(
        campaign, subjects=("Neuigkeiten", "Das ist neu", "Schon gelesen?"), test_share=45, minimum_sample=100
    )
    variants = start(ab_test, django_capture_on_commit_callbacks)
    groups = [recipients(variant.campaign) for variant in variants]
    assert [variant.campaign.subject for variant in variants] == ["Neuigkeiten", "Das ist neu", "Schon gelesen?"]
    assert all(variant.campaign.status == Campaign.Status.SENT for variant in variants)
    for index, group in enumerate(groups):
        assert group == set(GroupMember.objects.filter(variant=variants[index]).values_list("subscriber_id", flat=True))
        assert all(group.isdisjoint(other) for other in groups[index + 1 :])
    assert 380 < sum(map(len, groups)) < 520
    assert recipients(campaign) == set()


def test_clear_winner_goes_to_the_rest_once(client, django_capture_on_commit_callbacks, in_english):
    campaign = campaign_with_readers(readers=1000)
    ab_test = ab_test_for(campaign)
    first, second = start(ab_test, django_capture_on_commit_callbacks)
    readers_act(client, first, 3)
    readers_act(client, second, 45)
    # Scanners click everything in the losing variant: machine clicks never count.
    readers_act(client, first, 200, user_agent="Mimecast URL protection")
    ab_test.refresh_from_db()

    assert ab_test_evaluate(ab_test_id=ab_test.pk, now=ab_test.started_at + timedelta(minutes=30)).looks_taken == 0
    with django_capture_on_commit_callbacks(execute=False):
        decided = ab_test_evaluate(ab_test_id=ab_test.pk, now=ab_test.started_at + timedelta(hours=1))

    assert decided.status == ABTest.Status.WINNER_SENT
    assert decided.decided_variant == second and not decided.decided_by_fallback
    send_all(second.campaign)
    everyone = set(Subscriber.objects.values_list("pk", flat=True))
    assert recipients(second.campaign) == everyone - recipients(first.campaign)
    assert Delivery.objects.filter(campaign=second.campaign).exclude(status=Delivery.Status.SENT).count() == 0

    before = Delivery.objects.count()
    with django_capture_on_commit_callbacks(execute=False):
        ab_test_evaluate(ab_test_id=ab_test.pk, now=ab_test.started_at + timedelta(hours=5))
    assert Delivery.objects.count() == before

    # The results stay those of the test groups, though the winner's campaign went on to the rest.
    results = ab_test_results(ab_test=decided)
    test_group = GroupMember.objects.filter(variant=second).count()
    assert [(row.variant.letter, row.figures.sent, row.figures.human_clicks) for row in results.rows] == [
        ("A", len(recipients(first.campaign)), 3),
        ("B", test_group, 45),
    ]
    assert results.status_text.startswith("Winner: variant B.")


def test_no_clear_winner_until_the_deadline_then_the_fallback(client, django_capture_on_commit_callbacks):
    campaign = campaign_with_readers(readers=1000)
    ab_test = ab_test_for(campaign, fallback=ABTest.Fallback.VARIANT_A)
    first, second = start(ab_test, django_capture_on_commit_callbacks)
    readers_act(client, first, 10)
    readers_act(client, second, 12)
    ab_test.refresh_from_db()
    for hours in (1, 2, 3):
        still = ab_test_evaluate(ab_test_id=ab_test.pk, now=ab_test.started_at + timedelta(hours=hours, minutes=1))
        assert (still.status, still.looks_taken) == (ABTest.Status.TESTING, hours)
    with django_capture_on_commit_callbacks(execute=False):
        decided = ab_test_evaluate(ab_test_id=ab_test.pk, now=ab_test.deadline)
    assert decided.status == ABTest.Status.WINNER_SENT
    assert decided.decided_variant == first and decided.decided_by_fallback
    assert len(recipients(first.campaign)) > 700


def test_opens_count_people_only(client, django_capture_on_commit_callbacks):
    campaign = campaign_with_readers(readers=1000)
    ab_test = ab_test_for(campaign, metric=ABTest.Metric.OPENS)
    first, second = start(ab_test, django_capture_on_commit_callbacks)
    # Apple's proxy opens every mail of variant A; people open variant B.
    readers_act(client, first, 240, kind="open", user_agent=BARE_PROXY)
    readers_act(client, second, 60, kind="open")
    ab_test.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        decided = ab_test_evaluate(ab_test_id=ab_test.pk, now=ab_test.started_at + timedelta(hours=1))
    assert decided.decided_variant == second


def test_survey_answers_decide_when_they_are_the_metric(django_capture_on_commit_callbacks):
    from surveys.models import Survey
    from surveys.services import response_submit
    from surveys.tests.factories import QuestionFactory, SurveyFactory

    campaign = campaign_with_readers(readers=1000)
    QuestionFactory(survey=SurveyFactory(campaign=campaign, slug="wie-war-es"), text="Wie war es?")
    ab_test = ab_test_for(campaign, metric=ABTest.Metric.ANSWERS)
    first, second = start(ab_test, django_capture_on_commit_callbacks)
    surveys = {variant.letter: Survey.objects.get(campaign=variant.campaign) for variant in (first, second)}
    assert [question.text for question in surveys["B"].questions.all()] == ["Wie war es?"]
    assert surveys["A"].slug != surveys["B"].slug != "wie-war-es"
    assert len(mail.outbox) > 200
    assert all("Wie war es?" in message.body for message in mail.outbox)
    for letter, variant, count in (("A", first, 2), ("B", second, 40)):
        question = surveys[letter].questions.get()
        for delivery in variant.campaign.deliveries.select_related("subscriber")[:count]:
            response_submit(
                survey=surveys[letter], answers={question.pk: 9}, subscriber=delivery.subscriber, source="mail"
            )
    ab_test.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        decided = ab_test_evaluate(ab_test_id=ab_test.pk, now=ab_test.started_at + timedelta(hours=1))
    assert decided.decided_variant == second and not decided.decided_by_fallback


def test_answers_as_the_metric_need_a_survey_in_the_mail():
    ab_test = ab_test_for(campaign_with_readers(readers=10), metric=ABTest.Metric.ANSWERS)
    with pytest.raises(ABTestError, match="has no survey"):
        ab_test_start(ab_test=ab_test)


def test_offer_redemptions_decide_when_they_are_the_metric(django_capture_on_commit_callbacks):
    from offers.models import CouponAssignment
    from offers.services.assignment import campaign_offer_set
    from offers.services.pools import pool_generate
    from offers.services.redemption import offer_redeem
    from offers.tests.factories import OfferFactory

    campaign = campaign_with_readers(readers=1000)
    offer = OfferFactory()
    pool_generate(offer=offer, pattern="AB-XXXXXXXX", count=700)
    campaign_offer_set(campaign=campaign, offer=offer)
    ab_test = ab_test_for(campaign, metric=ABTest.Metric.REDEMPTIONS)
    first, second = start(ab_test, django_capture_on_commit_callbacks)
    for variant, count in ((first, 1), (second, 30)):
        given = CouponAssignment.objects.filter(delivery__campaign=variant.campaign).select_related("coupon")
        assert given.count() == variant.campaign.deliveries.count()
        for assignment in given[:count]:
            offer_redeem(code=assignment.coupon.code, source="api")
    ab_test.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        decided = ab_test_evaluate(ab_test_id=ab_test.pk, now=ab_test.started_at + timedelta(hours=1))
    assert decided.decided_variant == second and not decided.decided_by_fallback


def test_the_gdpr_export_names_the_test_group(django_capture_on_commit_callbacks):
    from subscribers.services.gdpr import subscriber_export

    campaign = campaign_with_readers(readers=1000)
    ab_test = ab_test_for(campaign)
    start(ab_test, django_capture_on_commit_callbacks)
    member = GroupMember.objects.select_related("variant", "subscriber").first()
    exported = subscriber_export(subscriber=member.subscriber)
    assert exported["ab_tests"] == [{"campaign": campaign.name, "variant": member.variant.letter}]
