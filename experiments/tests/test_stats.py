import math
import random

import pytest

from experiments.stats import (
    PLANNED_LOOKS,
    Arm,
    Fallback,
    Outcome,
    beta_cdf,
    beta_quantile,
    credible_interval,
    decide,
    probability_best,
)


def _exact_b_beats_a(first: Arm, second: Arm) -> float:
    """P(rate of ``second`` > rate of ``first``) in closed form (Evan Miller's sum, integer parameters)."""

    def log_beta(a, b):
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    a1, b1, a2, b2 = first.alpha, first.beta, second.alpha, second.beta
    return sum(
        math.exp(log_beta(a1 + i, b1 + b2) - math.log(b2 + i) - log_beta(1 + i, b2) - log_beta(a1, b1))
        for i in range(int(a2))
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (Arm(1000, 50), Arm(1000, 70)),
        (Arm(10, 1), Arm(10, 3)),
        (Arm(5000, 100), Arm(200, 10)),
        (Arm(0, 0), Arm(0, 0)),
        # A narrow posterior beside a wide one.
        (Arm(1_000_000, 20_000), Arm(20, 1)),
        (Arm(20, 1), Arm(1_000_000, 20_000)),
    ],
)
def test_probability_best_of_two_matches_the_closed_form(first, second):
    assert probability_best([first, second])[1] == pytest.approx(_exact_b_beats_a(first, second), abs=1e-4)


def test_probability_best_of_three_matches_monte_carlo():
    arms = [Arm(1000, 50), Arm(1000, 60), Arm(1000, 55)]
    draws = random.Random(3)
    wins = [0, 0, 0]
    for _draw in range(40_000):
        values = [draws.betavariate(arm.alpha, arm.beta) for arm in arms]
        wins[values.index(max(values))] += 1
    for computed, counted in zip(probability_best(arms), wins, strict=True):
        assert computed == pytest.approx(counted / 40_000, abs=0.01)


def test_beta_quantile_inverts_the_cdf():
    assert beta_cdf(0.3, 2, 5) == pytest.approx(0.579825)
    assert beta_quantile(0.5, 2, 2) == pytest.approx(0.5)
    for p in (0.025, 0.5, 0.975):
        assert beta_cdf(beta_quantile(p, 51, 951), 51, 951) == pytest.approx(p, abs=1e-9)


def test_credible_interval_of_five_percent_out_of_a_thousand():
    low, high = credible_interval(Arm(1000, 50))
    assert 0.037 < low < 0.039
    assert 0.064 < high < 0.066


def test_winner_needs_the_minimum_sample_of_every_variant():
    arms = [Arm(999, 20), Arm(1500, 90)]
    assert decide(arms, minimum_sample=1000).outcome == Outcome.NO_CLEAR_WINNER
    decision = decide(arms, minimum_sample=900)
    assert (decision.outcome, decision.chosen) == (Outcome.WINNER, 1)


def test_deadline_chooses_the_fallback():
    arms = [Arm(1000, 50), Arm(1000, 56)]
    assert decide(arms).outcome == Outcome.NO_CLEAR_WINNER
    best = decide(arms, deadline_passed=True)
    assert (best.outcome, best.chosen) == (Outcome.FALLBACK, 1)
    first = decide(arms, deadline_passed=True, fallback=Fallback.VARIANT_A)
    assert (first.outcome, first.chosen) == (Outcome.FALLBACK, 0)


def _clicks_over_time(draws: random.Random, *, sent: int, rate: float) -> list[float]:
    """When each clicker clicked, as a share of the test window (most click early)."""
    return [min(draws.expovariate(4.0), 1.0) for _reader in range(sent) if draws.random() < rate]


def _first_winner(rates: list[float], *, draws: random.Random, sent: int, threshold: float) -> int | None:
    """The variant the stopping rule picks at the first of the planned looks where it picks one."""
    clicks = [_clicks_over_time(draws, sent=sent, rate=rate) for rate in rates]
    for look in range(1, PLANNED_LOOKS + 1):
        share = look / PLANNED_LOOKS
        arms = [Arm(sent, sum(1 for moment in times if moment <= share)) for times in clicks]
        decision = decide(arms, threshold=threshold, minimum_sample=sent)
        if decision.outcome == Outcome.WINNER:
            return decision.chosen
    return None


def test_known_winner_is_found():
    draws = random.Random(11)
    found = [_first_winner([0.04, 0.06], draws=draws, sent=3000, threshold=0.99) for _run in range(40)]
    assert found.count(1) >= 32
    assert found.count(0) == 0


def test_no_difference_gives_a_false_winner_in_under_five_percent_despite_peeking():
    draws = random.Random(7)
    winners = [_first_winner([0.04, 0.04], draws=draws, sent=1000, threshold=0.99) for _run in range(200)]
    assert sum(winner is not None for winner in winners) / len(winners) < 0.05


def test_the_naive_threshold_would_peek_its_way_to_false_winners():
    """Why the default is 0.99: at 0.95, looking four times finds a winner where there is none far too often."""
    draws = random.Random(7)
    winners = [_first_winner([0.04, 0.04], draws=draws, sent=1000, threshold=0.95) for _run in range(100)]
    assert sum(winner is not None for winner in winners) / len(winners) > 0.08
