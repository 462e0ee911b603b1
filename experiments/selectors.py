"""Reads for A/B tests: which campaigns a test holds, and each variant's human figures."""

from dataclasses import dataclass

from django.db.models import Count
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from experiments import stats
from experiments.models import ABTest, Variant
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
    survey answers and offer redemptions when its mail has them, and the metric's successes."""
    variants = [variant for variant in ab_test.variants.order_by("letter") if variant.campaign_id]
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
