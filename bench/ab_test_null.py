"""How often the A/B stopping rule names a winner where there is none, and how long one look takes.

    .venv/bin/python bench/ab_test_null.py [--simulations 2000] [--sent 1000] [--rate 0.04]

Each simulation sends ``--sent`` mails per variant with the same true click rate; clicks arrive
over the test window (exponential, most early). The real ``experiments.stats.decide`` looks at the
planned looks and the first winner counts as a false one. Prints the false-winner share per
(variants, looks, threshold) and the median time of one ``probability_best`` for 2 and 4 variants.
"""

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments.stats import Arm, Outcome, decide, probability_best

CONFIGURATIONS = [(2, 1, 0.95), (2, 4, 0.95), (2, 1, 0.99), (2, 4, 0.99), (2, 12, 0.99), (3, 4, 0.99), (4, 4, 0.99)]


def false_winner_share(
    *, variants: int, looks: int, threshold: float, simulations: int, sent: int, rate: float
) -> float:
    draws = random.Random(7)
    false = 0
    for _simulation in range(simulations):
        clicks = [
            [min(draws.expovariate(4.0), 1.0) for _reader in range(sent) if draws.random() < rate]
            for _variant in range(variants)
        ]
        for look in range(1, looks + 1):
            share = look / looks
            arms = [Arm(sent, sum(1 for moment in times if moment <= share)) for times in clicks]
            if decide(arms, threshold=threshold, minimum_sample=sent).outcome == Outcome.WINNER:
                false += 1
                break
    return false / simulations


def look_milliseconds(variants: int) -> float:
    arms = [Arm(1000, 40 + index) for index in range(variants)]
    times = []
    for _run in range(50):
        start = time.perf_counter()
        probability_best(arms)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--simulations", type=int, default=2000)
    parser.add_argument("--sent", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.04)
    options = parser.parse_args()
    print("variants  looks  threshold  false winners")
    for variants, looks, threshold in CONFIGURATIONS:
        share = false_winner_share(
            variants=variants,
            looks=looks,
            threshold=threshold,
            simulations=options.simulations,
            sent=options.sent,
            rate=options.rate,
        )
        print(f"{variants:>8}  {looks:>5}  {threshold:>9}  {share:>12.1%}", flush=True)
    for variants in (2, 4):
        print(f"probability_best, {variants} variants: {look_milliseconds(variants):.1f} ms (median of 50)")


if __name__ == "__main__":
    main()
