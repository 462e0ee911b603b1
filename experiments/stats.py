"""Bayesian figures for an A/B test, in plain Python (no NumPy, no SciPy).

Each variant's rate has the posterior Beta(1 + successes, 1 + sent − successes) (a uniform prior).
The probability that a variant is the best is computed by numerical integration,

    P(i best) = ∫ f_i(x) · Π_{j≠i} F_j(x) dx,

on a grid spanning the posteriors' mass, so the same data always gives the same answer (no
Monte Carlo noise, no seed); the grid gives each posterior its own points, so a narrow one beside a
wide one is still resolved. Credible intervals invert the regularized incomplete beta function
by bisection.

The stopping rule and why its defaults are what they are: docs/architecture.md, "A/B tests".
"""

import itertools
import math
from dataclasses import dataclass
from enum import StrEnum

GRID_POINTS = 1500
# The grid covers each posterior this many standard deviations either side of its mean.
GRID_SPREAD = 9.0
DEFAULT_THRESHOLD = 0.99
DEFAULT_MINIMUM_SAMPLE = 1000
# The evaluation looks at the figures this many times, evenly over the test's duration; more looks
# would need a higher threshold to keep false winners under 5 %.
PLANNED_LOOKS = 4


@dataclass(frozen=True)
class Arm:
    """One variant's figures so far: mails sent and how many of them had the metric's success."""

    sent: int
    successes: int

    def __post_init__(self):
        if self.sent < 0 or self.successes < 0 or self.successes > self.sent:
            raise ValueError(f"successes must lie between 0 and sent: {self.successes} of {self.sent}")

    @property
    def alpha(self) -> float:
        return 1.0 + self.successes

    @property
    def beta(self) -> float:
        return 1.0 + self.sent - self.successes

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def sd(self) -> float:
        a, b = self.alpha, self.beta
        return math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _continued_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b): P(X ≤ x) for X ~ Beta(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _continued_fraction(x, a, b) / a
    return 1.0 - front * _continued_fraction(1.0 - x, b, a) / b


def beta_quantile(p: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = p, by bisection (the CDF is monotone), to about 1e-12."""
    if not 0.0 <= p <= 1.0:
        raise ValueError("p must lie between 0 and 1")
    low, high = 0.0, 1.0
    for _step in range(60):
        middle = (low + high) / 2
        if beta_cdf(middle, a, b) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def credible_interval(arm: Arm, level: float = 0.95) -> tuple[float, float]:
    """The equal-tailed interval holding ``level`` of the arm's posterior rate."""
    tail = (1.0 - level) / 2
    return beta_quantile(tail, arm.alpha, arm.beta), beta_quantile(1.0 - tail, arm.alpha, arm.beta)


def _grid(arms: list[Arm]) -> list[float]:
    """Points covering every posterior's mass, each arm with its own share, so that a narrow posterior
    beside a wide one is still resolved."""
    per_arm = GRID_POINTS // len(arms)
    points = set()
    for arm in arms:
        low = max(0.0, arm.mean - GRID_SPREAD * arm.sd)
        high = min(1.0, arm.mean + GRID_SPREAD * arm.sd)
        step = (high - low) / (per_arm - 1)
        points.update(low + i * step for i in range(per_arm))
    return sorted(points)


def _density(x: float, a: float, b: float, log_norm: float) -> float:
    if x <= 0.0:
        return math.exp(-log_norm) if a == 1.0 else 0.0
    if x >= 1.0:
        return math.exp(-log_norm) if b == 1.0 else 0.0
    return math.exp((a - 1.0) * math.log(x) + (b - 1.0) * math.log1p(-x) - log_norm)


def probability_best(arms: list[Arm]) -> list[float]:
    """For each arm, the posterior probability that its rate is the highest."""
    if len(arms) < 2:
        raise ValueError("at least two arms are needed")
    xs = _grid(arms)
    steps = [right - left for left, right in itertools.pairwise(xs)]
    densities, cdfs = [], []
    for arm in arms:
        a, b = arm.alpha, arm.beta
        log_norm = _log_beta(a, b)
        density = [_density(x, a, b, log_norm) for x in xs]
        # The cumulative sum starts at the exact CDF of the grid's left end; the density is bounded (a, b ≥ 1).
        total = beta_cdf(xs[0], a, b)
        cdf = [total]
        for index, step in enumerate(steps):
            total += (density[index] + density[index + 1]) * step / 2
            cdf.append(min(total, 1.0))
        densities.append(density)
        cdfs.append(cdf)
    results = []
    for i, density in enumerate(densities):
        others = [cdf for j, cdf in enumerate(cdfs) if j != i]
        integrand = []
        for index, value in enumerate(density):
            for cdf in others:
                value *= cdf[index]
            integrand.append(value)
        area = sum((integrand[index] + integrand[index + 1]) * step / 2 for index, step in enumerate(steps))
        results.append(max(area, 0.0))
    total = sum(results)
    return [value / total for value in results] if total else [1.0 / len(arms)] * len(arms)


class Outcome(StrEnum):
    NO_CLEAR_WINNER = "no_clear_winner"
    WINNER = "winner"
    FALLBACK = "fallback"


class Fallback(StrEnum):
    BEST_SO_FAR = "best_so_far"
    VARIANT_A = "variant_a"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    # Index into the arms; None while there is no clear winner.
    chosen: int | None
    probabilities: list[float]


def decide(
    arms: list[Arm],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    minimum_sample: int = DEFAULT_MINIMUM_SAMPLE,
    deadline_passed: bool = False,
    fallback: Fallback = Fallback.BEST_SO_FAR,
) -> Decision:
    """The stopping rule: a winner only when one arm's probability to be best reaches ``threshold``
    and every arm has at least ``minimum_sample`` sent; otherwise no clear winner yet, until the
    deadline, when the fallback is chosen (the arm most likely best so far, or the first arm)."""
    probabilities = probability_best(arms)
    leader = max(range(len(arms)), key=lambda index: (probabilities[index], -index))
    if all(arm.sent >= minimum_sample for arm in arms) and probabilities[leader] >= threshold:
        return Decision(Outcome.WINNER, leader, probabilities)
    if deadline_passed:
        chosen = leader if fallback == Fallback.BEST_SO_FAR else 0
        return Decision(Outcome.FALLBACK, chosen, probabilities)
    return Decision(Outcome.NO_CLEAR_WINNER, None, probabilities)
