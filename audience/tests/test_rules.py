"""The rule tree: nesting, the consent rule, machine events, problems, and the figures the editor shows."""

import random

import pytest

from audience.rules import SegmentError
from audience.selectors import segment_count, segment_members, segment_preview, segment_problems, segment_q
from audience.tests.factories import SegmentFactory, all_of, any_of, event, leaf, not_
from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory, MailingListFactory, TagFactory
from subscribers.models import Subscriber
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory
from surveys.models import Answer, Question, Response
from surveys.tests.factories import QuestionFactory
from tracking.models import Event
from tracking.tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


def members(rules) -> set[str]:
    return {email.split("@")[0] for email in segment_members(rules).values_list("email", flat=True)}


@pytest.fixture
def world():
    """A campaign sent to five people: anna (consent) opened, ben (consent) did not, cem (consent)
    was only opened by an image proxy, dora (no consent) opened before withdrawing (her events are
    kept linked here on purpose, to show they are never read), emil (no consent) did not. anna,
    ben and dora carry the tag "vip"."""
    campaign = CampaignFactory()
    vip = TagFactory(name="vip")
    people = {}
    for name, consent in (("anna", True), ("ben", True), ("cem", True), ("dora", False), ("emil", False)):
        subscriber = SubscriberFactory(email=f"{name}@example.org", tracking_consent=consent)
        people[name] = DeliveryFactory(campaign=campaign, subscriber=subscriber)
        if name in ("anna", "ben", "dora"):
            subscriber.tags.add(vip)
    event(people["anna"], Event.Kind.OPEN)
    event(people["cem"], Event.Kind.OPEN, machine=True)
    event(people["dora"], Event.Kind.OPEN)
    return campaign, vip


def test_a_subscriber_without_consent_is_never_matched_by_a_behaviour_condition_either_way(world):
    campaign, _vip = world
    assert members(leaf("opened_campaign", campaign=campaign.pk)) == {"anna"}
    assert members(leaf("not_opened_campaign", campaign=campaign.pk)) == {"ben", "cem"}
    assert members(not_(leaf("opened_campaign", campaign=campaign.pk))) == {"ben", "cem"}
    assert members(not_(leaf("not_opened_campaign", campaign=campaign.pk))) == {"anna"}


def test_machine_events_are_ignored_unless_asked_for(world):
    campaign, _vip = world
    assert "cem" not in members(leaf("opened_campaign", campaign=campaign.pk))
    assert "cem" in members(leaf("opened_campaign", campaign=campaign.pk, include_machine=True))


def test_groups_use_three_valued_logic_so_profile_conditions_still_reach_people_without_consent(world):
    campaign, vip = world
    opened, tagged = leaf("opened_campaign", campaign=campaign.pk), leaf("tags", tags=[vip.pk])
    assert members(any_of(tagged, opened)) == {"anna", "ben", "dora"}
    assert members(all_of(tagged, opened)) == {"anna"}
    # Not (vip and opened): false for anna; true for everyone not vip; unknown for dora.
    assert members(not_(all_of(tagged, opened))) == {"ben", "cem", "emil"}
    assert members(all_of(tagged, not_(any_of(opened, leaf("status", status="bounced"))))) == {"ben"}


def test_empty_groups(world):
    campaign, _vip = world
    everyone = {"anna", "ben", "cem", "dora", "emil"}
    assert members(all_of()) == everyone
    assert members(any_of()) == set()
    assert members(not_(all_of())) == set()
    assert members(not_(any_of())) == everyone
    opened = leaf("opened_campaign", campaign=campaign.pk)
    assert members(any_of(all_of(), opened)) == everyone
    assert members(all_of(any_of(), opened)) == set()
    assert segment_count(any_of(all_of(), opened))["left_out_for_consent"] == 0


def test_the_count_says_how_many_are_left_out_for_lack_of_consent(world):
    campaign, vip = world
    figures = segment_count(leaf("not_opened_campaign", campaign=campaign.pk))
    assert figures == {"count": 2, "left_out_for_consent": 2, "matches_everyone": False, "total": 5}
    figures = segment_count(any_of(leaf("tags", tags=[vip.pk]), leaf("opened_campaign", campaign=campaign.pk)))
    assert figures["count"] == 3 and figures["left_out_for_consent"] == 1  # emil: not vip, opening unknown


def test_left_out_count_agrees_with_three_valued_logic_for_nested_trees(world):
    """The count compiles the tree without its behaviour conditions; it must name the same people as
    "neither true nor false" of the full tree, for every shape of AND, OR and NOT."""
    from audience.conditions import tracked_q
    from audience.rules import rules_compile

    campaign, vip = world
    opened, tagged = leaf("opened_campaign", campaign=campaign.pk), leaf("tags", tags=[vip.pk])
    bounced = leaf("status", status="bounced")
    for rules in (
        all_of(tagged, opened),
        any_of(tagged, opened),
        not_(all_of(tagged, opened)),
        not_(any_of(not_(tagged), opened)),
        all_of(any_of(bounced, not_(opened)), not_(tagged)),
        any_of(all_of(), not_(opened)),
        all_of(any_of(), opened),
    ):
        compiled = rules_compile(rules)
        unknown = Subscriber.objects.exclude(tracked_q()).filter(~compiled.true & ~compiled.false)
        assert segment_count(rules)["left_out_for_consent"] == unknown.count(), rules


def _random_tree(rng: random.Random, leaves: list[dict], depth: int) -> dict:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(leaves)
    op = rng.choice(("and", "or", "not"))
    if op == "not":
        return not_(_random_tree(rng, leaves, depth - 1))
    children = [_random_tree(rng, leaves, depth - 1) for _index in range(rng.randint(0, 3))]
    return all_of(*children) if op == "and" else any_of(*children)


def test_the_counts_equal_the_definitions_for_random_nested_trees(world):
    """segment_count must give what counting each definition on its own gives (members: the tree is
    true; left out: no consent and the tree neither true nor false), for random nested trees of
    behaviour, answer and profile conditions, over all subscribers and over a narrower base."""
    from audience.conditions import tracked_q
    from audience.rules import rules_compile

    campaign, vip = world
    question = QuestionFactory(kind=Question.Kind.NPS)
    for name, score in (("anna", 10), ("ben", 3), ("dora", 9), ("emil", 10)):
        response = Response.objects.create(
            survey=question.survey, subscriber=Subscriber.objects.get(email=f"{name}@example.org"), source="mail"
        )
        Answer.objects.create(response=response, question=question, value=score)
    on_list = MailingListFactory()
    for name in ("ben", "cem", "emil"):
        SubscriptionFactory(mailing_list=on_list, subscriber=Subscriber.objects.get(email=f"{name}@example.org"))
    Subscriber.objects.filter(email="cem@example.org").update(status=Subscriber.Status.BOUNCED)
    leaves = [
        leaf("opened_campaign", campaign=campaign.pk),
        leaf("not_opened_campaign", campaign=campaign.pk, include_machine=True),
        leaf("read_recently", action="opened", days=30),
        leaf("nps_group", group="promoter"),
        leaf("tags", tags=[vip.pk]),
        leaf("lists", lists=[on_list.pk]),
        leaf("status", status="active"),
    ]
    rng = random.Random(18)
    trees = [_random_tree(rng, leaves, depth=3) for _index in range(40)]
    narrower = Subscriber.objects.exclude(email="anna@example.org")
    seen = set()
    for rules in trees:
        compiled = rules_compile(rules)
        for base in (Subscriber.objects.all(), narrower):
            total = base.count()
            count = base.filter(compiled.true).count()
            left_out = base.exclude(tracked_q()).filter(~compiled.true & ~compiled.false).count()
            expected = {"count": count, "left_out_for_consent": left_out, "matches_everyone": count == total}
            assert segment_count(rules, base=base) == {**expected, "total": total}, rules
            seen.add((count, left_out))
    assert len(seen) > 5  # the trees are varied enough to tell counts apart


def test_individual_tracking_off_leaves_everyone_out_of_behaviour_conditions(world, settings):
    campaign, _vip = world
    settings.KANAL_INDIVIDUAL_TRACKING = False
    assert members(leaf("not_opened_campaign", campaign=campaign.pk)) == set()
    assert segment_count(leaf("opened_campaign", campaign=campaign.pk))["left_out_for_consent"] == 5


def test_a_segment_without_conditions_says_it_matches_everyone(world):
    assert segment_count(all_of())["matches_everyone"] is True
    assert segment_count(leaf("status", status="active"))["matches_everyone"] is True
    assert segment_count(leaf("status", status="bounced"))["matches_everyone"] is False


def test_deleted_references_make_the_segment_broken_with_a_clear_message(world):
    campaign, _vip = world
    mailing_list = MailingListFactory()
    segment = SegmentFactory(
        rules=all_of(leaf("lists", lists=[mailing_list.pk]), leaf("not_opened_campaign", campaign=campaign.pk))
    )
    assert segment_problems(segment) == []
    list_pk, campaign_pk = mailing_list.pk, campaign.pk
    mailing_list.delete()
    Campaign.objects.filter(pk=campaign_pk).delete()
    problems = segment_problems(segment)
    assert len(problems) == 2
    assert f"#{list_pk}" in problems[0] and "no longer exists" in problems[0] and "broken" in problems[0]
    assert f"#{campaign_pk}" in problems[1]
    with pytest.raises(SegmentError):
        segment_q(segment)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"kind": "no_such_kind"}, "unknown kind"),
        ({"kind": "engagement_score", "min": "viel"}, "whole number"),
        ({"kind": "engagement_score", "min": 500}, "at most 100"),
        ({"kind": "language", "language": "fr"}, "not a choice"),
        ({"kind": "signup_date", "when": "before", "date": "gestern"}, "date (YYYY-MM-DD)"),
        ({"kind": "signup_date", "when": "before"}, "Give the date"),
        ({"kind": "status", "status": "active", "colour": "red"}, "Unknown parameters: colour"),
        ({"op": "not", "children": []}, "exactly one part"),
        ({"op": "xor", "children": []}, "AND, OR or NOT"),
        ([1, 2], "neither a group nor a condition"),
    ],
)
def test_bad_rules_are_reported_in_words(rules, expected):
    problems = segment_problems(rules)
    assert problems and expected in " ".join(problems)


def test_the_preview_gives_figures_and_a_sample_or_the_problems():
    mailing_list = MailingListFactory()
    for index in range(12):
        SubscriptionFactory(mailing_list=mailing_list, subscriber=SubscriberFactory(email=f"r{index}@example.org"))
    SubscriberFactory(status=Subscriber.Status.UNSUBSCRIBED)
    preview = segment_preview(leaf("lists", lists=[mailing_list.pk]))
    assert preview["count"] == 12 and preview["problems"] == [] and len(preview["sample"]) == 10
    assert set(preview["sample"][0]) == {"email", "name"}
    broken = segment_preview(leaf("lists", lists=[mailing_list.pk + 1000]))
    assert broken["count"] is None and "no longer exists" in broken["problems"][0]


def test_a_segment_with_problems_cannot_be_saved_through_the_form(world):
    segment = SegmentFactory.build(rules={"kind": "language", "language": "fr"})
    with pytest.raises(Exception, match="not a choice"):
        segment.full_clean()


def test_answers_of_a_subscriber_without_consent_are_not_read_either():
    question = QuestionFactory(kind=Question.Kind.NPS)
    for name, consent in (("anna", True), ("ben", False)):
        subscriber = SubscriberFactory(email=f"{name}@example.org", tracking_consent=consent)
        response = Response.objects.create(survey=question.survey, subscriber=subscriber, source=Response.Source.MAIL)
        Answer.objects.create(response=response, question=question, value=10)
    assert members(leaf("nps_group", group="promoter")) == {"anna"}
    assert members(not_(leaf("nps_group", group="detractor"))) == {"anna"}
    assert segment_count(leaf("answered_survey", survey=question.survey.pk))["left_out_for_consent"] == 1
