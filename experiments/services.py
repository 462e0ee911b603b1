"""Writes for A/B tests: start (split, variant campaigns, their sends), evaluate, send the winner.

Exactly-once rests on the database: the test row is locked for every transition, the winner goes
to the rest in the same transaction that moves the test from decided to winner sent, and the
unique delivery per campaign and subscriber refuses a second mail to anyone.
"""

import logging
import math
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from campaigns.selectors import campaign_audience
from campaigns.services.lifecycle import articles_copy, campaign_duplicate
from campaigns.services.sending import campaign_send_more, campaign_start
from experiments import stats
from experiments.models import LETTERS, ABTest, GroupMember, Variant
from experiments.selectors import variant_figures
from experiments.split import split_audience
from offers.services.assignment import campaign_offer_set
from subscribers.models import Subscriber
from subscribers.selectors import subscribers_not_suppressed
from surveys.selectors import campaign_mail_survey
from surveys.services import survey_copy

logger = logging.getLogger(__name__)
NAME_LENGTH = Campaign._meta.get_field("name").max_length


class ABTestError(ValidationError):
    """The test cannot do what was asked; the message says why, with the numbers."""


def _locked(ab_test: ABTest) -> ABTest:
    return ABTest.objects.select_for_update().get(pk=ab_test.pk)


def _effective(variant: Variant, base: Campaign) -> tuple:
    content = variant.content_from_id if variant.content_from_id not in (None, base.pk) else None
    return (
        variant.subject or base.subject,
        variant.preheader or base.preheader,
        variant.from_name or base.from_name,
        content,
    )


def ab_test_check_variants(*, ab_test: ABTest) -> list[Variant]:
    """The test's variants, A first, or ABTestError: 2–4 of them, lettered from A without gaps, no two alike."""
    base = ab_test.campaign
    variants = list(ab_test.variants.order_by("letter"))
    if not 2 <= len(variants) <= len(LETTERS):
        raise ABTestError(_("An A/B test needs 2 to 4 variants; this one has %(count)d.") % {"count": len(variants)})
    letters = [variant.letter for variant in variants]
    if letters != list(LETTERS[: len(variants)]):
        raise ABTestError(
            _("Name the variants A, B, C, D in order, without gaps (now: %(letters)s).")
            % {"letters": ", ".join(letters)}
        )
    seen: dict[tuple, Variant] = {}
    for variant in variants:
        key = _effective(variant, base)
        if key in seen:
            raise ABTestError(
                _(
                    "Variants %(first)s and %(second)s are identical: change the subject, preheader, sender name "
                    "or content of one."
                )
                % {"first": seen[key].letter, "second": variant.letter}
            )
        seen[key] = variant
    return variants


def _check_sample(ab_test: ABTest, groups: dict, audience_size: int, variants: list[Variant]) -> None:
    smallest = min(range(len(variants)), key=lambda index: len(groups[index]))
    count = len(groups[smallest])
    if count >= ab_test.minimum_sample:
        return
    # The split is random: ask for three standard deviations more than the bare minimum.
    wanted = ab_test.minimum_sample + 3 * math.sqrt(ab_test.minimum_sample)
    needed_share = math.ceil(wanted * len(variants) * 100 / audience_size) if audience_size else None
    message = _(
        "Variant %(letter)s would go to %(count)d subscribers, fewer than the minimum sample of %(minimum)d: "
        "the audience has %(audience)d subscribers, %(share)d %% of them go into the test, split among %(variants)d "
        "variants."
    ) % {
        "letter": variants[smallest].letter,
        "count": count,
        "minimum": ab_test.minimum_sample,
        "audience": audience_size,
        "share": ab_test.test_share,
        "variants": len(variants),
    }
    if needed_share is not None and needed_share <= 50:
        message += " " + _("Raise the test share to about %(needed)d %% or lower the minimum sample.") % {
            "needed": needed_share
        }
    else:
        message += " " + _("Lower the minimum sample or test fewer variants; the audience is too small for this test.")
    raise ABTestError(message)


def _variant_campaign(base: Campaign, variant: Variant) -> Campaign:
    copy = campaign_duplicate(campaign=base)
    copy.name = (_("%(name)s – variant %(letter)s") % {"name": base.name, "letter": variant.letter})[:NAME_LENGTH]
    copy.subject = variant.subject or base.subject
    copy.preheader = variant.preheader or base.preheader
    copy.from_name = variant.from_name or base.from_name
    copy.bypasses_frequency_cap = base.bypasses_frequency_cap
    copy.full_clean()
    copy.save()
    if variant.content_from_id and variant.content_from_id != base.pk:
        copy.articles.all().delete()
        articles_copy(source=variant.content_from, target=copy)
    survey = campaign_mail_survey(campaign_id=base.pk)
    if survey is not None:
        survey_copy(survey=survey, campaign=copy)
    offer_block = getattr(base, "offer_block", None)
    if offer_block is not None:
        campaign_offer_set(campaign=copy, offer=offer_block.offer)
    return copy


def _group(variant: Variant) -> QuerySet[Subscriber]:
    return Subscriber.objects.filter(pk__in=GroupMember.objects.filter(variant=variant).values("subscriber_id"))


def ab_test_start(*, ab_test: ABTest, warnings_confirmed: bool = False) -> ABTest:
    """Split the audience, make each variant's campaign and send it to its test group, all or nothing.

    Refused with ABTestError (nothing changes) for a test not in draft, a base campaign already sent,
    bad variants, or test groups smaller than the minimum sample; the pre-send checklist of each
    variant's campaign applies as for any send."""
    with transaction.atomic():
        ab_test = _locked(ab_test)
        if ab_test.status != ABTest.Status.DRAFT:
            raise ABTestError(_("This A/B test has already started."))
        base = Campaign.objects.select_for_update().get(pk=ab_test.campaign_id)
        if base.status != Campaign.Status.DRAFT or base.is_automation or base.is_template:
            raise ABTestError(
                _("Only a draft newsletter can be tested; this campaign is %(status)s.")
                % {"status": base.get_status_display()}
            )
        if ab_test.metric == ABTest.Metric.ANSWERS and campaign_mail_survey(campaign_id=base.pk) is None:
            raise ABTestError(_("Survey answers are the metric, but the campaign's mail has no survey."))
        if ab_test.metric == ABTest.Metric.REDEMPTIONS and getattr(base, "offer_block", None) is None:
            raise ABTestError(_("Offer redemptions are the metric, but the campaign's mail has no offer."))
        variants = ab_test_check_variants(ab_test=ab_test)
        audience_ids = list(
            subscribers_not_suppressed(campaign_audience(campaign=base)).order_by("pk").values_list("pk", flat=True)
        )
        groups = split_audience(
            test_id=ab_test.pk, subscriber_ids=audience_ids, test_share=ab_test.test_share, variants=len(variants)
        )
        _check_sample(ab_test, groups, len(audience_ids), variants)
        for index, variant in enumerate(variants):
            variant.campaign = _variant_campaign(base, variant)
            variant.save(update_fields=["campaign"])
            GroupMember.objects.bulk_create(
                (GroupMember(ab_test=ab_test, variant=variant, subscriber_id=pk) for pk in groups[index]),
                batch_size=2000,
            )
        ab_test.status = ABTest.Status.TESTING
        ab_test.started_at = timezone.now()
        ab_test.save(update_fields=["status", "started_at"])
        for variant in variants:
            campaign_start(campaign=variant.campaign, warnings_confirmed=warnings_confirmed, recipients=_group(variant))
    return ab_test


def _looks_due(ab_test: ABTest, now: datetime) -> int:
    elapsed = (now - ab_test.started_at) / ab_test.duration
    return min(stats.PLANNED_LOOKS, math.floor(elapsed * stats.PLANNED_LOOKS))


def ab_test_evaluate(*, ab_test_id: int, now: datetime | None = None) -> ABTest | None:
    """Take the next planned look at a testing A/B test and decide when the stopping rule (or the
    deadline) says so; send a decided test's winner to the rest. Safe to run any number of times."""
    now = now or timezone.now()
    with transaction.atomic():
        ab_test = ABTest.objects.select_for_update().filter(pk=ab_test_id).first()
        if ab_test is None:
            return None
        if ab_test.status == ABTest.Status.TESTING:
            looks = _looks_due(ab_test, now)
            if looks > ab_test.looks_taken:
                figures = variant_figures(ab_test=ab_test)
                decision = stats.decide(
                    [figure.arm for figure in figures],
                    threshold=float(ab_test.threshold),
                    minimum_sample=ab_test.minimum_sample,
                    deadline_passed=now >= ab_test.deadline,
                    fallback=stats.Fallback(ab_test.fallback),
                )
                ab_test.looks_taken = looks
                fields = ["looks_taken"]
                if decision.chosen is not None:
                    ab_test.status = ABTest.Status.DECIDED
                    ab_test.decided_variant = figures[decision.chosen].variant
                    ab_test.decided_at = now
                    ab_test.decided_by_fallback = decision.outcome == stats.Outcome.FALLBACK
                    ab_test.decision_figures = {figure.variant.letter: figure.as_snapshot() for figure in figures}
                    fields += ["status", "decided_variant", "decided_at", "decided_by_fallback", "decision_figures"]
                ab_test.save(update_fields=fields)
        if ab_test.status == ABTest.Status.DECIDED:
            _winner_send(ab_test, now)
    return ab_test


def _winner_send(ab_test: ABTest, now: datetime) -> None:
    """In the caller's transaction, with the test row locked: the rest (the winner campaign's audience
    minus every test group) gets the winner, and the test is marked so it never sends again."""
    rest = Subscriber.objects.exclude(pk__in=GroupMember.objects.filter(ab_test=ab_test).values("subscriber_id"))
    campaign_send_more(campaign=ab_test.decided_variant.campaign, recipients=rest)
    ab_test.status = ABTest.Status.WINNER_SENT
    ab_test.winner_sent_at = now
    ab_test.save(update_fields=["status", "winner_sent_at"])


def ab_tests_evaluate(*, now: datetime | None = None) -> int:
    """Every test that is testing or decided (Celery beat); returns how many it looked at."""
    ids = list(
        ABTest.objects.filter(status__in=(ABTest.Status.TESTING, ABTest.Status.DECIDED)).values_list("pk", flat=True)
    )
    for ab_test_id in ids:
        try:
            ab_test_evaluate(ab_test_id=ab_test_id, now=now)
        except Exception:
            # One test whose winner cannot go out (its campaign was cancelled) must not hold up the others.
            logger.exception("A/B test %s could not be evaluated", ab_test_id)
    return len(ids)
