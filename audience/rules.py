"""A segment's rule tree: its shape, its problems, and how it compiles to SQL.

The tree is JSON: a group ``{"op": "and" | "or" | "not", "children": [...]}`` (``not`` has
exactly one child) or a condition ``{"kind": "<key>", <parameters>}`` (``audience.conditions``).

**The consent rule.** Conditions that read what a person did or answered (``needs_consent``) are
decided only for subscribers with tracking consent, at the moment the segment is used. For
anybody else such a condition is *unknown*, neither true nor false: without consent, "did not
open" is as unknown as "opened". Groups combine with three-valued logic, as SQL does with NULL:
AND is false as soon as one child is false, OR is true as soon as one child is true, NOT turns
true into false and leaves unknown unknown. A subscriber belongs to the segment only when the
whole tree is *true*. So "on list A OR opened campaign X" still takes a reader of list A without
consent, "NOT opened X" never takes someone without consent, and an exclusion segment built on
behaviour never removes them either (it is not true for them). The subscribers for whom the
tree is unknown are the ones "left out for lack of consent".

Each node compiles to two ``Q`` objects, where it is true and where it is false; both are made of
columns and ``Exists`` subqueries, so the segment stays one SQL query however deep it nests.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext

from audience import conditions

GROUP_OPS = ("and", "or", "not")
MAX_NODES = 200
MAX_DEPTH = 12

NOBODY = Q(pk__in=[])
# Not Q(): Django drops an empty Q from "|" and negates it to itself, so "X or everybody" would be X.
EVERYBODY = Q(pk__isnull=False)


def empty_rules() -> dict:
    return {"op": "and", "children": []}


class SegmentError(ValidationError):
    """The rules cannot be used: unknown kinds, bad parameters or references to deleted objects."""


@dataclass(frozen=True)
class Compiled:
    true: Q
    false: Q
    # Whether any condition needs consent, i.e. whether "unknown" can happen at all.
    reads_behaviour: bool
    cost: int = 1


def _where(path: tuple[int, ...]) -> str:
    """Position in words a person counts: "2.1" is the first part of the second part; the root is "1"."""
    return ".".join(str(index + 1) for index in path) or "1"


def _walk(node, path: tuple[int, ...], problems: list[str], counter: list[int]) -> None:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        if counter[0] == MAX_NODES + 1:
            problems.append(gettext("The rules have more than %(limit)d parts.") % {"limit": MAX_NODES})
        return
    if len(path) > MAX_DEPTH:
        problems.append(gettext("The rules nest deeper than %(limit)d groups.") % {"limit": MAX_DEPTH})
        return
    where = _where(path)
    if not isinstance(node, dict):
        problems.append(gettext("Part %(where)s is neither a group nor a condition.") % {"where": where})
        return
    if "op" in node:
        op, children = node.get("op"), node.get("children")
        if op not in GROUP_OPS or not isinstance(children, list):
            problems.append(gettext("Group %(where)s must be AND, OR or NOT with a list of parts.") % {"where": where})
            return
        if op == "not" and len(children) != 1:
            problems.append(gettext("The NOT group %(where)s must hold exactly one part.") % {"where": where})
        for index, child in enumerate(children):
            _walk(child, (*path, index), problems, counter)
        return
    kind = conditions.kind_for(node.get("kind"))
    if kind is None:
        problems.append(
            gettext("Condition %(where)s has an unknown kind “%(kind)s”.") % {"where": where, "kind": node.get("kind")}
        )
        return
    try:
        kind.clean_params(node)
    except conditions.BrokenReference as error:
        problems.append(
            gettext("Condition %(where)s (%(kind)s) is broken: %(reason)s")
            % {"where": where, "kind": kind.label, "reason": " ".join(error.messages)}
        )
    except ValidationError as error:
        problems.append(
            gettext("Condition %(where)s (%(kind)s): %(reason)s")
            % {"where": where, "kind": kind.label, "reason": " ".join(error.messages)}
        )


def rules_problems(rules) -> list[str]:
    """Everything that keeps the rules from being used, in words; empty when they are fine."""
    problems: list[str] = []
    _walk(rules, (), problems, [0])
    return problems


def _compile(node, *, untracked: bool = False) -> Compiled:
    if "op" in node:
        # Cheap parts first: databases evaluate AND and OR from the left and stop early.
        parts = sorted((_compile(child, untracked=untracked) for child in node["children"]), key=lambda part: part.cost)
        behaviour = any(part.reads_behaviour for part in parts)
        cost = max((part.cost for part in parts), default=1)
        if node["op"] == "not":
            return Compiled(true=parts[0].false, false=parts[0].true, reads_behaviour=behaviour, cost=cost)
        trues, falses = [part.true for part in parts], [part.false for part in parts]
        if node["op"] == "and":
            return Compiled(true=_all(trues), false=_any(falses), reads_behaviour=behaviour, cost=cost)
        return Compiled(true=_any(trues), false=_all(falses), reads_behaviour=behaviour, cost=cost)
    kind = conditions.kind_for(node["kind"])
    if kind.needs_consent and untracked:
        # Unknown: "true or unknown" and "false or unknown" both hold (see rules_unknown_without_consent_q).
        return Compiled(true=EVERYBODY, false=EVERYBODY, reads_behaviour=True, cost=kind.cost)
    holds = kind.q(kind.clean_params(node))
    if kind.needs_consent:
        tracked = conditions.tracked_q()
        true, false = tracked & holds, tracked & ~holds
    else:
        true, false = holds, ~holds
    if kind.negated:
        true, false = false, true
    return Compiled(true=true, false=false, reads_behaviour=kind.needs_consent, cost=kind.cost)


def _all(parts: list[Q]) -> Q:
    if any(part is NOBODY for part in parts):
        return NOBODY
    parts = [part for part in parts if part is not EVERYBODY]
    if not parts:
        return EVERYBODY
    combined = parts[0]
    for part in parts[1:]:
        combined &= part
    return combined


def _any(parts: list[Q]) -> Q:
    if any(part is EVERYBODY for part in parts):
        return EVERYBODY
    parts = [part for part in parts if part is not NOBODY]
    if not parts:
        return NOBODY
    combined = parts[0]
    for part in parts[1:]:
        combined |= part
    return combined


def rules_compile(rules) -> Compiled:
    """Where the rules are true and where false, as Q on Subscriber; SegmentError when they have problems."""
    problems = rules_problems(rules)
    if problems:
        raise SegmentError(problems)
    return _compile(rules)


def rules_unknown_without_consent_q(rules) -> Q:
    """Where the rules are unknown for a subscriber without tracking consent, as a Q on Subscriber.

    For them every condition that needs consent is unknown, so the tree depends on the other
    conditions only. Compiled with those conditions as constants, "true" reads "true or unknown"
    and "false" reads "false or unknown" (AND, OR and NOT keep that meaning), so unknown is where
    both hold: no behaviour subquery and no negated group is left, and PostgreSQL plans the rest
    as joins. SegmentError when the rules have problems.
    """
    problems = rules_problems(rules)
    if problems:
        raise SegmentError(problems)
    compiled = _compile(rules, untracked=True)
    return _all([compiled.true, compiled.false])
