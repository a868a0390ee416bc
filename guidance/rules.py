"""Matching abnormal results to guidance rules: a pure function on plain values, no database.

The tests in tests/test_guidance_rules.py run every seeded rule and pattern through it, boundaries
included. Thresholds are strict: "below 10" does not match 10, "> 5× ULN" does not match exactly 5×.
"""

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from labs.interpretation import ABNORMAL_FLAGS, Flag, proves_above, proves_below


class ResultLike(Protocol):
    """What matching needs of a result (labs.models.Result satisfies it)."""

    analyte_id: Hashable
    flag: str
    value: Decimal
    comparator: str  # "" for an exact value; "<", "<=", ">=", ">" for a censored one (">1000")
    range_high: Decimal | None  # the upper reference limit applied (ULN)


class RuleLike(Protocol):
    """What matching needs of a rule (guidance.models.Rule satisfies it)."""

    analyte_id: Hashable
    flag_set: frozenset[str]
    value_below: Decimal | None
    value_above: Decimal | None
    uln_multiple_above: Decimal | None
    with_analyte_id: Hashable | None
    with_flag_set: frozenset[str]
    priority: int


@dataclass(frozen=True)
class Match:
    rule: Any  # a RuleLike, or None when no rule covers an abnormal result
    result: Any
    partner: Any = None  # for a pattern: the other result


def result_matches(rule: RuleLike, result: ResultLike) -> bool:
    """Whether `result` meets the rule's own conditions (the pattern partner aside)."""
    if result.analyte_id != rule.analyte_id or result.flag not in rule.flag_set:
        return False
    # A threshold is met when every value the result admits meets it: ">1000" CK proves "> 5× ULN" of 192
    # (960), not "> 10×" (1920); an exact value is its own single admitted value.
    value, comparator = result.value, result.comparator
    if rule.value_below is not None and not proves_below(value, comparator, rule.value_below):
        return False
    if rule.value_above is not None and not proves_above(value, comparator, rule.value_above):
        return False
    if rule.uln_multiple_above is not None:
        if result.range_high is None:
            return False  # no upper limit was applied, so no multiple of it can be judged
        if not proves_above(value, comparator, rule.uln_multiple_above * result.range_high):
            return False
    return True


def match_rules(results: Iterable[ResultLike], rules: Iterable[RuleLike]) -> list[Match]:
    """The findings one panel's results call for.

    `results` are the panel's valid results (not entered in error). Each abnormal result gets its one
    main finding, from the plain rule with the lowest priority that matches, or a rule-less finding when
    none does (so nothing abnormal goes unreviewed); plus one finding per pattern rule it meets together
    with another result of the panel.
    """
    results = list(results)
    rules = sorted(rules, key=lambda rule: rule.priority)
    plain = [rule for rule in rules if rule.with_analyte_id is None]
    patterns = [rule for rule in rules if rule.with_analyte_id is not None]
    matches = []
    for result in results:
        if result.flag not in ABNORMAL_FLAGS:
            continue
        main = next((rule for rule in plain if result_matches(rule, result)), None)
        matches.append(Match(main, result))
        for rule in patterns:
            if not result_matches(rule, result):
                continue
            for partner in results:
                if partner.analyte_id == rule.with_analyte_id and partner.flag in rule.with_flag_set:
                    matches.append(Match(rule, result, partner))
    return matches


# What a specimen's condition does to a result's meaning: (analyte code, condition code) → the flags it
# casts doubt on and what the finding says first. Red cells release potassium when they break, so a high
# potassium on a haemolysed sample may be an artefact (Myolab's potassium guidance asks to rule it out).
SPECIMEN_CAVEATS = {
    ("k", "haemolysed"): (
        frozenset({Flag.HIGH, Flag.CRITICAL_HIGH}),
        "The specimen was haemolysed: this potassium may be spurious (released from broken red cells). "
        "Repeat it on a sample taken without haemolysis before acting on it as a true high.",
    ),
}


def specimen_caveat(analyte_code: str, flag: str, condition_code: str | None) -> str:
    """The warning a finding on this result must carry because of the specimen's condition, or ""."""
    flags, text = SPECIMEN_CAVEATS.get((analyte_code, condition_code), (frozenset(), ""))
    return text if flag in flags else ""
