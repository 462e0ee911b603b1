"""Behavioural and date triggers, and loops across automations."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from automations import services
from automations.models import Automation, Journey
from automations.tests.factories import active_automation, run_due
from campaigns.rendering import compile_campaign
from campaigns.tests.factories import ArticleFactory
from subscribers.models import CustomField, Subscriber
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory, TagFactory
from surveys import services as survey_services
from surveys.models import Question, Response
from surveys.tests.factories import ChoiceFactory, QuestionFactory
from tracking.models import Event, SubscriberEngagement
from tracking.services import campaign_links_register
from tracking.signals import human_events_counted
from tracking.tests.conftest import hit, process, urls_for
from tracking.tests.factories import DeliveryFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel)"
EXIT = [{"kind": "exit"}]


def _entered(automation) -> set[int]:
    return set(Journey.objects.filter(automation=automation).values_list("subscriber_id", flat=True))


def _count(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return process()


# Clicked (and opened) a campaign


def test_a_human_click_enters_the_click_automation(client, campaign, reader, django_capture_on_commit_callbacks):
    automation = active_automation(
        trigger_kind="campaign_clicked", trigger_params={"campaign": campaign.campaign.pk}, steps=EXIT
    )
    _pixel, clicks = urls_for(campaign, reader)
    hit(client, clicks[0])
    assert not Journey.objects.exists()  # queued in Redis, not yet counted
    _count(django_capture_on_commit_callbacks)
    assert _entered(automation) == {reader.subscriber_id}


def test_a_link_or_article_trigger_takes_only_clicks_on_it(
    client, campaign, reader, django_capture_on_commit_callbacks
):
    _first, second = campaign.campaign.articles.order_by("position")
    on_link = active_automation(
        name="Link",
        trigger_kind="campaign_clicked",
        trigger_params={"campaign": campaign.campaign.pk, "link": campaign.link_ids[1]},
        steps=EXIT,
    )
    on_article = active_automation(
        name="Article",
        trigger_kind="campaign_clicked",
        trigger_params={"campaign": campaign.campaign.pk, "article": second.pk},
        steps=EXIT,
    )
    _pixel, clicks = urls_for(campaign, reader)
    hit(client, clicks[0])  # first article, other link
    _count(django_capture_on_commit_callbacks)
    assert not Journey.objects.exists()
    hit(client, clicks[2])  # the second article
    _count(django_capture_on_commit_callbacks)
    assert _entered(on_article) == {reader.subscriber_id} and not _entered(on_link)


def test_opening_enters_the_open_automation_and_a_click_counts_as_an_open(
    client, campaign, reader, django_capture_on_commit_callbacks
):
    automation = active_automation(
        trigger_kind="campaign_opened", trigger_params={"campaign": campaign.campaign.pk}, steps=EXIT
    )
    other = DeliveryFactory(campaign=campaign.campaign)
    pixel, _clicks = urls_for(campaign, reader)
    _other_pixel, other_clicks = urls_for(campaign, other)
    hit(client, pixel)
    hit(client, other_clicks[0])
    _count(django_capture_on_commit_callbacks)
    assert _entered(automation) == {reader.subscriber_id, other.subscriber_id}


@pytest.mark.parametrize(
    ("method", "user_agent"), [("get", SCANNER), ("head", SCANNER), ("head", "Mozilla/5.0 (Windows NT 10.0) Firefox")]
)
def test_a_machine_click_enters_nobody(
    client, campaign, reader, django_capture_on_commit_callbacks, method, user_agent
):
    active_automation(trigger_kind="campaign_clicked", trigger_params={"campaign": campaign.campaign.pk}, steps=EXIT)
    _pixel, clicks = urls_for(campaign, reader)
    hit(client, clicks[0], method=method, user_agent=user_agent)
    _count(django_capture_on_commit_callbacks)
    assert Event.objects.get().is_machine
    assert not Journey.objects.exists()


def test_a_burst_labelled_only_when_counted_enters_nobody(client, campaign, reader, django_capture_on_commit_callbacks):
    """A browser-like agent clicking every link at once: human when stored, machine when counted."""
    article = ArticleFactory(campaign=campaign.campaign, position=2, headline="Dritter", link_url="https://e.org/3")
    compiled = compile_campaign(campaign.campaign)
    campaign.link_ids = campaign_links_register(campaign=campaign.campaign, compiled=compiled)
    assert article.pk and len(campaign.link_ids) >= 4
    active_automation(trigger_kind="campaign_clicked", trigger_params={"campaign": campaign.campaign.pk}, steps=EXIT)
    _pixel, clicks = urls_for(campaign, reader)
    for url in clicks[:4]:
        hit(client, url)
    _count(django_capture_on_commit_callbacks)
    assert set(Event.objects.values_list("machine_reason", flat=True)) == {Event.MachineReason.LINK_BURST}
    assert not Journey.objects.exists()


def test_without_tracking_consent_nobody_enters(client, campaign, private_reader, django_capture_on_commit_callbacks):
    automation = active_automation(
        trigger_kind="campaign_clicked", trigger_params={"campaign": campaign.campaign.pk}, steps=EXIT
    )
    _pixel, clicks = urls_for(campaign, private_reader)
    hit(client, clicks[0])
    _count(django_capture_on_commit_callbacks)
    assert not Journey.objects.exists()
    # The entry checks the consent itself, whoever fires the trigger.
    fired = services.trigger_fire(
        trigger_kind="campaign_clicked",
        match={"campaign": campaign.campaign.pk},
        subscriber_ids=[private_reader.subscriber_id],
    )
    assert fired == 0 and not _entered(automation)


def test_consent_withdrawn_before_counting_enters_nobody(client, campaign, reader, django_capture_on_commit_callbacks):
    active_automation(trigger_kind="campaign_clicked", trigger_params={"campaign": campaign.campaign.pk}, steps=EXIT)
    _pixel, clicks = urls_for(campaign, reader)
    hit(client, clicks[0])
    Subscriber.objects.filter(pk=reader.subscriber_id).update(tracking_consent=False)
    _count(django_capture_on_commit_callbacks)
    assert not Journey.objects.exists()


def test_individual_tracking_off_enters_nobody(client, campaign, reader, settings, django_capture_on_commit_callbacks):
    active_automation(trigger_kind="campaign_clicked", trigger_params={"campaign": campaign.campaign.pk}, steps=EXIT)
    _pixel, clicks = urls_for(campaign, reader)
    hit(client, clicks[0])
    settings.KANAL_INDIVIDUAL_TRACKING = False
    _count(django_capture_on_commit_callbacks)
    assert not Journey.objects.exists()


def test_the_batcher_sends_one_signal_per_counted_batch(client, campaign, django_capture_on_commit_callbacks):
    readers = [DeliveryFactory(campaign=campaign.campaign) for _ in range(3)]
    for delivery in readers:
        hit(client, urls_for(campaign, delivery)[1][0])
    batches = []

    def receive(sender, events, **kwargs):
        batches.append(events)

    human_events_counted.connect(receive)
    try:
        _count(django_capture_on_commit_callbacks)
    finally:
        human_events_counted.disconnect(receive)
    assert len(batches) == 1
    assert {event.subscriber_id for event in batches[0]} == {delivery.subscriber_id for delivery in readers}


def test_a_click_trigger_on_a_deleted_campaign_or_foreign_link_cannot_be_activated(campaign):
    other = active_automation(trigger_kind="tag_added", trigger_params={"tag": TagFactory().pk}, steps=EXIT)
    foreign = Automation.objects.create(
        name="Foreign link",
        trigger_kind="campaign_clicked",
        trigger_params={"campaign": campaign.campaign.pk + 1000, "link": campaign.link_ids[0]},
    )
    with pytest.raises(ValidationError) as refused:
        services.automation_activate(automation=foreign)
    assert "The campaign" in str(refused.value) and "not a link of this campaign" in str(refused.value)
    automation = Automation.objects.create(
        name="Clicked", trigger_kind="campaign_clicked", trigger_params={"campaign": campaign.campaign.pk}
    )
    services.automation_activate(automation=automation)
    campaign.campaign.delete()
    assert services.automation_problems(automation=automation) == [
        f"The campaign {automation.trigger_params['campaign']} no longer exists."
    ]
    assert other.status == Automation.Status.ACTIVE


def test_a_click_trigger_takes_a_link_or_an_article_not_both(campaign):
    automation = Automation(
        name="Both",
        trigger_kind="campaign_clicked",
        trigger_params={"campaign": campaign.campaign.pk, "link": 1, "article": 2},
    )
    with pytest.raises(ValidationError, match="not both"):
        services.automation_save(automation=automation)


# Answered a survey question


@pytest.fixture
def nps():
    return QuestionFactory(kind=Question.Kind.NPS)


@pytest.fixture
def tracked():
    return SubscriberFactory(tracking_consent=True)


def _answer(question, raw, subscriber, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.response_answer_record(
            question=question, raw=raw, subscriber=subscriber, source=Response.Source.MAIL
        )


def test_an_nps_answer_enters_the_automation_of_its_group(nps, tracked, django_capture_on_commit_callbacks):
    groups = {
        group: active_automation(
            name=group,
            trigger_kind="question_answered",
            trigger_params={"question": nps.pk, "condition": group},
            steps=EXIT,
        )
        for group in ("detractor", "passive", "promoter", "any")
    }
    _answer(nps, 6, tracked, django_capture_on_commit_callbacks)
    assert {group for group, automation in groups.items() if _entered(automation)} == {"detractor", "any"}


def test_rating_and_option_conditions(tracked, django_capture_on_commit_callbacks):
    rating = QuestionFactory(kind=Question.Kind.RATING)
    at_most = active_automation(
        name="Low",
        trigger_kind="question_answered",
        trigger_params={"question": rating.pk, "condition": "rating_at_most", "value": 2},
        steps=EXIT,
    )
    at_least = active_automation(
        name="High",
        trigger_kind="question_answered",
        trigger_params={"question": rating.pk, "condition": "rating_at_least", "value": 4},
        steps=EXIT,
    )
    yes = ChoiceFactory()
    no = ChoiceFactory(question=yes.question)
    chose_no = active_automation(
        name="No",
        trigger_kind="question_answered",
        trigger_params={"question": yes.question.pk, "condition": "choice", "value": no.pk},
        steps=EXIT,
    )
    _answer(rating, 2, tracked, django_capture_on_commit_callbacks)
    _answer(yes.question, yes.pk, tracked, django_capture_on_commit_callbacks)
    assert _entered(at_most) == {tracked.pk} and not _entered(at_least) and not _entered(chose_no)
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.response_submit(
            survey=yes.question.survey, answers={yes.question.pk: no.pk}, subscriber=tracked, source="mail"
        )
    assert _entered(chose_no) == {tracked.pk}


def test_an_answer_without_tracking_consent_enters_nobody(nps, django_capture_on_commit_callbacks):
    automation = active_automation(
        trigger_kind="question_answered", trigger_params={"question": nps.pk, "condition": "any"}, steps=EXIT
    )
    _answer(nps, 9, SubscriberFactory(tracking_consent=False), django_capture_on_commit_callbacks)
    assert not _entered(automation)


def test_a_deleted_question_or_option_or_a_condition_that_does_not_fit_is_refused(nps):
    choice = ChoiceFactory()
    cases = [
        ({"question": nps.pk, "condition": "choice", "value": choice.pk}, "no longer an option"),
        ({"question": choice.question.pk, "condition": "promoter"}, "recommendation question"),
        ({"question": nps.pk + 1000, "condition": "any"}, "survey question"),
    ]
    for params, message in cases:
        automation = Automation.objects.create(name="A", trigger_kind="question_answered", trigger_params=params)
        with pytest.raises(ValidationError, match=message):
            services.automation_activate(automation=automation)
    with pytest.raises(ValidationError, match="condition must be one of"):
        services.automation_save(
            automation=Automation(name="B", trigger_kind="question_answered", trigger_params={"question": nps.pk})
        )


# Said an article was (not) useful


def test_article_feedback_enters_the_automation_of_its_answer(tracked, django_capture_on_commit_callbacks):
    article = ArticleFactory()
    useful, not_useful = (
        active_automation(
            name=str(flag),
            trigger_kind="article_feedback",
            trigger_params={"article": article.pk, "useful": flag},
            steps=EXIT,
        )
        for flag in (True, False)
    )
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.article_feedback_record(article=article, useful=False, subscriber=tracked)
        survey_services.article_feedback_record(article=article, useful=False)  # anonymous
        survey_services.article_feedback_record(
            article=article, useful=False, subscriber=SubscriberFactory(tracking_consent=False)
        )
    assert _entered(not_useful) == {tracked.pk} and not _entered(useful)
    article.delete()
    assert "no longer exists" in services.automation_problems(automation=useful)[0]


# No human open or click for N days


def _engaged(subscriber, *, days_ago: float | None) -> None:
    moment = None if days_ago is None else timezone.now() - timedelta(days=days_ago)
    SubscriberEngagement.objects.update_or_create(subscriber=subscriber, defaults={"last_interaction_at": moment})


def _old(**fields) -> Subscriber:
    fields.setdefault("tracking_consent", True)
    subscriber = SubscriberFactory(**fields)
    Subscriber.objects.filter(pk=subscriber.pk).update(created_at=timezone.now() - timedelta(days=100))
    return subscriber


def test_inactive_subscribers_enter_once_until_they_are_active_again():
    dormant, never, recent, private = _old(), _old(), _old(), _old(tracking_consent=False)
    newcomer = SubscriberFactory(tracking_consent=True)
    _engaged(dormant, days_ago=40)
    _engaged(recent, days_ago=5)
    automation = active_automation(
        trigger_kind="no_engagement",
        trigger_params={"days": 30},
        reentry=Automation.Reentry.WHEN_NOT_IN_IT,
        steps=EXIT,
    )
    assert services.inactivity_triggers_evaluate() == 2
    assert _entered(automation) == {dormant.pk, never.pk}
    run_due()  # the journeys end, so the re-entry rule alone would let them in again
    assert services.inactivity_triggers_evaluate() == 0
    later = timezone.now() + timedelta(days=40)
    assert services.inactivity_triggers_evaluate(now=later) == 2  # recent and newcomer have gone quiet by then
    _engaged(dormant, days_ago=-1)  # reads again after the journey, then goes quiet
    assert services.inactivity_triggers_evaluate(now=later) == 1
    assert Journey.objects.filter(automation=automation, subscriber=dormant).count() == 2
    assert Journey.objects.filter(automation=automation, subscriber=never).count() == 1
    assert not Journey.objects.filter(subscriber=private).exists()
    assert _entered(automation) == {dormant.pk, never.pk, recent.pk, newcomer.pk}


def test_an_inactivity_trigger_on_a_list_counts_from_the_confirmation():
    mailing_list = MailingListFactory()
    subscribed_long_ago, subscribed_lately, elsewhere = _old(), _old(), _old()
    SubscriptionFactory(
        subscriber=subscribed_long_ago, mailing_list=mailing_list, confirmed_at=timezone.now() - timedelta(days=60)
    )
    SubscriptionFactory(
        subscriber=subscribed_lately, mailing_list=mailing_list, confirmed_at=timezone.now() - timedelta(days=3)
    )
    SubscriptionFactory(subscriber=elsewhere, confirmed_at=timezone.now() - timedelta(days=60))
    automation = active_automation(
        trigger_kind="no_engagement", trigger_params={"days": 30, "list": mailing_list.pk}, steps=EXIT
    )
    services.inactivity_triggers_evaluate()
    assert _entered(automation) == {subscribed_long_ago.pk}
    mailing_list.delete()
    assert services.automation_problems(automation=automation) == [
        f"The mailing list {automation.trigger_params['list']} no longer exists."
    ]


# A custom date field reached


@pytest.fixture
def birthday():
    return CustomField.objects.create(key="birthday", label_de="Geburtstag", label_en="Birthday", kind="date")


def _born(day: str) -> Subscriber:
    return SubscriberFactory(fields={"birthday": day})


def test_a_yearly_date_trigger_enters_on_the_day_once_per_year(birthday):
    today_born, leap_born, other_day = _born("1990-12-01"), _born("2000-02-29"), _born("1990-12-02")
    automation = active_automation(
        trigger_kind="date_reached",
        trigger_params={"field": birthday.pk, "offset_days": 0, "yearly": True},
        reentry=Automation.Reentry.WHEN_NOT_IN_IT,
        steps=EXIT,
    )
    assert services.date_triggers_evaluate(today=date(2026, 12, 1)) == 1
    run_due()
    assert services.date_triggers_evaluate(today=date(2026, 12, 1)) == 0  # run again the same day, journey over
    assert _entered(automation) == {today_born.pk}
    assert services.date_triggers_evaluate(today=date(2027, 2, 28)) == 1  # no 29 February in 2027
    run_due()
    assert services.date_triggers_evaluate(today=date(2028, 2, 28)) == 0  # 2028 has one
    assert services.date_triggers_evaluate(today=date(2028, 2, 29)) == 1
    assert _entered(automation) == {today_born.pk, leap_born.pk}
    assert other_day.pk not in _entered(automation)


def test_a_date_trigger_with_an_offset_enters_days_before_the_date(birthday):
    ends = _born("2026-12-10")
    automation = active_automation(
        trigger_kind="date_reached",
        trigger_params={"field": birthday.pk, "offset_days": -7, "yearly": False},
        steps=EXIT,
    )
    assert services.date_triggers_evaluate(today=date(2026, 12, 2)) == 0
    assert services.date_triggers_evaluate(today=date(2026, 12, 3)) == 1
    assert services.date_triggers_evaluate(today=date(2027, 12, 3)) == 0
    assert _entered(automation) == {ends.pk}


def test_a_date_trigger_needs_an_existing_date_field(birthday):
    city = CustomField.objects.create(key="city", label_de="Ort", label_en="City", kind="text")
    automation = Automation.objects.create(
        name="Date", trigger_kind="date_reached", trigger_params={"field": city.pk, "offset_days": 0, "yearly": True}
    )
    with pytest.raises(ValidationError, match="“city” is not a date field"):
        services.automation_activate(automation=automation)
    automation.trigger_params["field"] = birthday.pk
    automation.save()
    services.automation_activate(automation=automation)
    birthday.delete()
    assert services.automation_problems(automation=automation) == [
        f"The custom field {automation.trigger_params['field']} no longer exists."
    ]
    assert services.date_triggers_evaluate() == 0


# Loops across automations


def test_a_loop_through_two_automations_is_refused_with_their_names():
    tag_x, tag_y = TagFactory(name="x"), TagFactory(name="y")
    active_automation(name="First", trigger_params={"tag": tag_x.pk}, steps=[{"kind": "tag_add", "tag": tag_y.pk}])
    second = Automation.objects.create(
        name="Second", trigger_kind="tag_added", trigger_params={"tag": tag_y.pk}, steps=EXIT
    )
    second = services.automation_activate(automation=second)  # a chain without a way back is fine
    second.steps = [{"kind": "tag_add", "tag": tag_x.pk}]
    with pytest.raises(ValidationError, match="would start it again: “Second” → “First” → “Second”"):
        services.automation_save(automation=second)


def test_a_loop_through_a_list_subscription_is_refused():
    mailing_list, tag = MailingListFactory(), TagFactory()
    active_automation(
        name="Welcome",
        trigger_kind="subscription_confirmed",
        trigger_params={"list": mailing_list.pk},
        steps=[{"kind": "tag_add", "tag": tag.pk}],
    )
    automation = Automation.objects.create(
        name="Tagged",
        trigger_kind="tag_added",
        trigger_params={"tag": tag.pk},
        steps=[{"kind": "list_subscribe", "list": mailing_list.pk}],
    )
    with pytest.raises(ValidationError, match="“Tagged” → “Welcome” → “Tagged”"):
        services.automation_activate(automation=automation)


def test_a_paused_automation_is_no_part_of_a_loop():
    tag_x, tag_y = TagFactory(name="x"), TagFactory(name="y")
    first = active_automation(
        name="First", trigger_params={"tag": tag_x.pk}, steps=[{"kind": "tag_add", "tag": tag_y.pk}]
    )
    services.automation_pause(automation=first)
    second = Automation.objects.create(
        name="Second",
        trigger_kind="tag_added",
        trigger_params={"tag": tag_y.pk},
        steps=[{"kind": "tag_add", "tag": tag_x.pk}],
    )
    services.automation_activate(automation=second)
    with pytest.raises(ValidationError, match="“First” → “Second” → “First”"):
        services.automation_activate(automation=first)
