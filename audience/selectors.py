"""Reads on segments: who is in one, how many, a sample, what is wrong with its rules."""

from django.db.models import Q, QuerySet

from audience.conditions import tracked_q
from audience.models import Segment
from audience.rules import SegmentError, rules_compile, rules_problems, rules_unknown_without_consent_q
from newsletter_site.planner import without_jit
from subscribers.models import Subscriber

SAMPLE_SIZE = 10


def _rules(segment_or_rules) -> object:
    return segment_or_rules.rules if isinstance(segment_or_rules, Segment) else segment_or_rules


def segment_q(segment: Segment | dict) -> Q:
    """Where the segment is true, as a Q on Subscriber (SQL only); SegmentError when its rules have problems."""
    return rules_compile(_rules(segment)).true


def segment_members(segment: Segment | dict, *, base: QuerySet[Subscriber] | None = None) -> QuerySet[Subscriber]:
    """The subscribers of ``base`` (default: all) the segment takes."""
    base = Subscriber.objects.all() if base is None else base
    return base.filter(segment_q(segment))


def segment_problems(segment: Segment | dict) -> list[str]:
    """Broken references, unknown kinds and bad parameters, in words; empty when the segment is usable."""
    return rules_problems(_rules(segment))


def segment_count(segment: Segment | dict, *, base: QuerySet[Subscriber] | None = None) -> dict:
    """How many subscribers of ``base`` the segment takes, how many it cannot judge because the rules
    read behaviour or answers they did not consent to be tracked for, and whether it takes all of
    ``base`` (then it filters nothing). Three counting queries, each one SQL statement, without
    PostgreSQL's JIT: compiling the behaviour subqueries cost twice as much as running them
    (docs/benchmarks.md, Segments)."""
    rules = _rules(segment)
    compiled = rules_compile(rules)
    base = Subscriber.objects.all() if base is None else base
    with without_jit():
        total = base.count()
        count = base.filter(compiled.true).count()
        left_out = 0
        if compiled.reads_behaviour:
            # Unknown happens only without consent; testing that first spares the subqueries for everyone else.
            left_out = base.exclude(tracked_q()).filter(rules_unknown_without_consent_q(rules)).count()
    return {"count": count, "left_out_for_consent": left_out, "matches_everyone": count == total, "total": total}


def segment_sample(segment: Segment | dict, n: int = SAMPLE_SIZE) -> list[Subscriber]:
    """Up to ``n`` members, newest first."""
    return list(segment_members(segment).order_by("-pk")[:n])


def segment_preview(rules) -> dict:
    """What the editor shows while rules are edited: problems, or the figures and a sample."""
    problems = rules_problems(rules)
    if problems:
        return {
            "problems": problems,
            "count": None,
            "left_out_for_consent": None,
            "matches_everyone": False,
            "sample": [],
        }
    try:
        figures = segment_count(rules)
        sample = segment_sample(rules)
    except SegmentError as error:  # a reference deleted between the two reads
        return {
            "problems": error.messages,
            "count": None,
            "left_out_for_consent": None,
            "matches_everyone": False,
            "sample": [],
        }
    return {
        "problems": [],
        **figures,
        "sample": [{"email": subscriber.email, "name": subscriber.full_name} for subscriber in sample],
    }
