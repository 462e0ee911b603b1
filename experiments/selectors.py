"""Reads for A/B tests: which campaigns a test holds, and each variant's human figures."""

from dataclasses import dataclass

from django.db.models import Count
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from experiments import stats
from experiments.models import ABTest, GroupMember, Variant
from offers.selectors import campaign_offer_figures
from surveys.models import Response
from tracking.selectors import campaign_funnels


def base_campaign_send_blocker(*, campaign: Campaign) -> str | None:
    """The base campaign of an A/B test is sent only through its variants (campaigns.extensions.SEND_BLOCKERS)."""
    if ABTest.objects.filter(campaign_id=campaign.pk).exists():
        return _(
            "This campaign is tested in an A/B test: start the test instead, it sends the variants and the winner."
        )
    return None


@dataclass(frozen=True)
class VariantFigures:
    variant: Variant
    sent: int
    human_opens: int
    human_clicks: int
    answers: int | None
    redemptions: int | None
    successes: int  # of the test's metric, at most ``sent``

    @property
    def arm(self) -> stats.Arm:
        return stats.Arm(self.sent, self.successes)

    def as_snapshot(self) -> dict:
        return {
            name: getattr(self, name)
            for name in ("sent", "human_opens", "human_clicks", "answers", "redemptions", "successes")
        }


def _response_counts(campaign_ids: list[int]) -> dict[int, int]:
    """Responses to the surveys in each campaign's mail (one per person and survey)."""
    return {
        row["survey__campaign_id"]: row["n"]
        for row in Response.objects.filter(survey__campaign_id__in=campaign_ids)
        .values("survey__campaign_id")
        .annotate(n=Count("pk"))
        .order_by()
    }


def variant_figures(*, ab_test: ABTest) -> list[VariantFigures]:
    """Per variant that has its campaign: sent, human opens and clicks (machine events never count),
    survey answers and offer redemptions when its mail has them, and the metric's successes. Once
    decided, the figures stored at the decision (the winner's campaign goes on to the rest)."""
    variants = [variant for variant in ab_test.variants.order_by("letter") if variant.campaign_id]
    if ab_test.decision_figures:
        return [
            VariantFigures(variant=variant, **ab_test.decision_figures[variant.letter])
            for variant in variants
            if variant.letter in ab_test.decision_figures
        ]
    campaign_ids = [variant.campaign_id for variant in variants]
    funnels = campaign_funnels(campaign_ids=campaign_ids)
    answers = _response_counts(campaign_ids)
    figures = []
    for variant in variants:
        funnel = funnels[variant.campaign_id]
        offers = campaign_offer_figures(campaign=variant.campaign)
        redemptions = sum(offer.redeemed for offer in offers) if offers else None
        has_survey = variant.campaign.surveys.exists()
        answered = answers.get(variant.campaign_id, 0) if has_survey else None
        metric_value = {
            ABTest.Metric.CLICKS: funnel.estimated_clickers,
            ABTest.Metric.OPENS: funnel.estimated_openers,
            ABTest.Metric.ANSWERS: answered or 0,
            ABTest.Metric.REDEMPTIONS: redemptions or 0,
        }[ab_test.metric]
        figures.append(
            VariantFigures(
                variant=variant,
                sent=funnel.sent,
                human_opens=funnel.estimated_openers,
                human_clicks=funnel.estimated_clickers,
                answers=answered,
                redemptions=redemptions,
                successes=min(metric_value, funnel.sent),
            )
        )
    return figures


@dataclass(frozen=True)
class VariantResult:
    figures: VariantFigures
    rate: float | None
    interval: tuple[float, float]
    probability_best: float | None

    @property
    def variant(self) -> Variant:
        return self.figures.variant

    @property
    def rate_percent(self) -> float | None:
        return None if self.rate is None else 100 * self.rate

    @property
    def interval_percent(self) -> tuple[float, float]:
        return 100 * self.interval[0], 100 * self.interval[1]


@dataclass(frozen=True)
class Results:
    ab_test: ABTest
    rows: list[VariantResult]
    status_text: str


def subscriber_ab_tests_export(subscriber) -> tuple[str, list[dict]]:
    """The A/B test groups a subscriber was put in, for their GDPR export."""
    members = GroupMember.objects.filter(subscriber=subscriber).select_related("ab_test__campaign", "variant")
    return "ab_tests", [
        {"campaign": member.ab_test.campaign.name, "variant": member.variant.letter}
        for member in members.order_by("pk")
    ]


def _status_text(ab_test: ABTest) -> str:
    if ab_test.status == ABTest.Status.DRAFT:
        return _("Not started yet.")
    if ab_test.status == ABTest.Status.TESTING:
        return _("No clear winner yet (%(looks)d of %(planned)d looks taken).") % {
            "looks": ab_test.looks_taken,
            "planned": stats.PLANNED_LOOKS,
        }
    letter = ab_test.decided_variant.letter
    if ab_test.decided_by_fallback:
        text = _("No clear winner by the deadline: variant %(letter)s was chosen as the fallback.")
    else:
        text = _("Winner: variant %(letter)s.")
    text = text % {"letter": letter}
    if ab_test.status == ABTest.Status.WINNER_SENT:
        text += " " + _("It was sent to the rest of the audience.")
    return text + " " + _("The figures are those of the decision.")


def ab_test_results(*, ab_test: ABTest) -> Results:
    """The results page and its CSV: per variant the figures, the metric's rate with its 95 % credible
    interval, and the probability to be best (computed only once there are at least two variants sent)."""
    figures = variant_figures(ab_test=ab_test)
    probabilities = stats.probability_best([figure.arm for figure in figures]) if len(figures) >= 2 else None
    rows = []
    for index, figure in enumerate(figures):
        rows.append(
            VariantResult(
                figures=figure,
                rate=figure.successes / figure.sent if figure.sent else None,
                interval=stats.credible_interval(figure.arm),
                probability_best=probabilities[index] if probabilities else None,
            )
        )
    return Results(ab_test=ab_test, rows=rows, status_text=_status_text(ab_test))


def ab_test_results_csv_rows(*, results: Results):
    """The header row, then one row per variant (rates and probabilities as plain numbers)."""
    yield [
        _("variant"),
        _("subject"),
        _("sent"),
        _("human opens"),
        _("human clicks"),
        _("survey answers"),
        _("offer redemptions"),
        _("metric"),
        _("rate"),
        _("interval (95 %), from"),
        _("interval (95 %), to"),
        _("probability to be best"),
        _("status"),
    ]
    for row in results.rows:
        figures = row.figures
        yield [
            figures.variant.letter,
            figures.variant.campaign.subject,
            figures.sent,
            figures.human_opens,
            figures.human_clicks,
            "" if figures.answers is None else figures.answers,
            "" if figures.redemptions is None else figures.redemptions,
            results.ab_test.get_metric_display(),
            "" if row.rate is None else round(row.rate, 4),
            round(row.interval[0], 4),
            round(row.interval[1], 4),
            "" if row.probability_best is None else round(row.probability_best, 4),
            results.status_text,
        ]
