"""Interpreting a lab value: unit conversion, choosing the reference range, and the flag.

Pure functions on plain values, no database: the table-driven tests in tests/test_interpretation.py
cover every boundary. The vocabulary is FHIR's v3-ObservationInterpretation codes (N, L, H, LL, HH),
plus NR for "no reference range applies to this patient", which is never shown as normal.

Limits belong to the less severe side: a value equal to the normal low or high is normal, and a value
equal to a critical limit is abnormal but not critical.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from django.db import models

# Canonical values are stored with this many decimal places.
CANONICAL_PLACES = Decimal("0.0001")


class Flag(models.TextChoices):
    NORMAL = "N", "Normal"
    LOW = "L", "Low"
    HIGH = "H", "High"
    CRITICAL_LOW = "LL", "Critically low"
    CRITICAL_HIGH = "HH", "Critically high"
    NO_RANGE = "NR", "No reference range for this patient"
    # A censored value ("<25") whose admitted values do not all share one flag (FHIR's "indeterminate").
    INDETERMINATE = "IND", "Cannot be judged against the range"


class Comparator(models.TextChoices):
    """How a reported value relates to the true one: FHIR Quantity.comparator codes; "" is an exact value.
    A censored value ("<5", below the detection limit) admits every value on its side of the number."""

    EXACT = "", "="
    LESS = "<", "<"
    LESS_OR_EQUAL = "<=", "≤"
    GREATER_OR_EQUAL = ">=", "≥"
    GREATER = ">", ">"


# A comparator as typed, exported or sent: its symbol ("≤") or in ASCII ("<="), to its code.
COMPARATOR_CODES = {"<": "<", "<=": "<=", "≤": "<=", ">": ">", ">=": ">=", "≥": ">="}

ABNORMAL_FLAGS = frozenset({Flag.LOW, Flag.HIGH, Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH})
CRITICAL_FLAGS = frozenset({Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH})


@dataclass(frozen=True)
class Limits:
    normal_low: Decimal | None = None
    normal_high: Decimal | None = None
    critical_low: Decimal | None = None
    critical_high: Decimal | None = None


@dataclass(frozen=True)
class LabRange:
    """A laboratory's own normal limits for one result (HL7 OBX-7), in the canonical unit: they win over
    Myolab's default range for that result (shared/DOMAIN.md). `source` names where they come from, e.g.
    "LABX (OBX-7 '3.5-5.1')". Laboratories rarely send critical limits, so those stay Myolab's."""

    low: Decimal | None
    high: Decimal | None
    source: str


class RangeLike(Protocol):
    """What select_range needs of a reference range (the model satisfies it)."""

    sex: str  # "" applies to any sex
    age_min_years: int
    age_max_years: int | None  # exclusive; None is open
    effective_from: datetime.date


def to_canonical(value: Decimal, factor: Decimal) -> Decimal:
    """`value` in an accepted unit to the canonical unit: value × factor, rounded half up."""
    return (value * factor).quantize(CANONICAL_PLACES, rounding=ROUND_HALF_UP)


def interpret(value: Decimal, limits: Limits | None) -> Flag:
    if limits is None or (limits.normal_low is None and limits.normal_high is None):
        return Flag.NO_RANGE
    if limits.critical_low is not None and value < limits.critical_low:
        return Flag.CRITICAL_LOW
    if limits.critical_high is not None and value > limits.critical_high:
        return Flag.CRITICAL_HIGH
    if limits.normal_low is not None and value < limits.normal_low:
        return Flag.LOW
    if limits.normal_high is not None and value > limits.normal_high:
        return Flag.HIGH
    return Flag.NORMAL


@dataclass(frozen=True)
class Reading:
    """A typed value read in one accepted unit: that unit's label, the canonical value and its flag."""

    unit: str
    canonical: Decimal
    flag: Flag


def wrong_unit_reading(chosen: Reading, others: Iterable[Reading]) -> Reading | None:
    """The first other unit's reading that would make the value mean something less alarming — critical in
    the chosen unit but not in the other, or abnormal in the chosen unit but normal in the other — or None.
    `others` are the readings in the analyte's other units in which the value is plausible. A value that
    is critical in every unit, or normal in the chosen one, asks nothing."""
    for other in others:
        if chosen.flag in CRITICAL_FLAGS and other.flag in {Flag.LOW, Flag.HIGH, Flag.NORMAL}:
            return other
        if chosen.flag in ABNORMAL_FLAGS and other.flag == Flag.NORMAL:
            return other
    return None


# A step inside an open bound, finer than any stored value (4 decimal places), and a value above any
# plausible limit: the two ends of what a censored value admits.
INSIDE = Decimal("0.000001")
BEYOND = Decimal("1E12")


def interpret_reported(value: Decimal, comparator: str, limits: Limits | None) -> Flag:
    """The flag of a value as reported: for an exact one, interpret(); for a censored one, the flag every
    value it admits shares — "<5" vitamin D is low, as is everything below 5 — or INDETERMINATE when
    they differ ("<25" against a lower limit of 20). interpret() only grows with the value, so the
    admitted values share a flag when both ends of their interval do."""
    if not comparator:
        return interpret(value, limits)
    if comparator in (Comparator.LESS, Comparator.LESS_OR_EQUAL):
        ends = (Decimal(0), value - INSIDE if comparator == Comparator.LESS else value)
    else:
        ends = (value + INSIDE if comparator == Comparator.GREATER else value, BEYOND)
    flags = {interpret(end, limits) for end in ends}
    return flags.pop() if len(flags) == 1 else Flag.INDETERMINATE


def places_to_show(value: Decimal, comparator: str, limits: Limits | None, flag: str, places: int) -> int:
    """Decimal places to show `value` with so that what is shown reads as its flag: the analyte's `places`,
    or more (up to the 4 stored) when rounding would land on or across a limit. Calcium 10.0184 mg/dL,
    high against 8.6–10.0, shows as 10.02, not as 10.0, which would look normal."""
    for shown in range(places, 5):
        rounded = value.quantize(Decimal(1).scaleb(-shown), rounding=ROUND_HALF_UP)
        if interpret_reported(rounded, comparator, limits) == flag:
            return shown
    return places  # a flag no rounding gives (no limits kept): the analyte's own precision


def proves_above(value: Decimal, comparator: str, threshold: Decimal) -> bool:
    """Whether every value the report admits is above `threshold` (">1000" proves "> 960", not "> 1920")."""
    if comparator == Comparator.GREATER:
        return value >= threshold
    if comparator in (Comparator.EXACT, Comparator.GREATER_OR_EQUAL):
        return value > threshold
    return False  # "<" and "≤" admit values down to zero


def proves_below(value: Decimal, comparator: str, threshold: Decimal) -> bool:
    """Whether every value the report admits is below `threshold` ("<5" proves "< 10")."""
    if comparator == Comparator.LESS:
        return value <= threshold
    if comparator in (Comparator.EXACT, Comparator.LESS_OR_EQUAL):
        return value < threshold
    return False  # ">" and "≥" admit values without an upper end


def applies_to(range_: RangeLike, *, sex: str, age: int) -> bool:
    if range_.sex and range_.sex != sex:
        return False
    if age < range_.age_min_years:
        return False
    return range_.age_max_years is None or age < range_.age_max_years


def select_range(ranges: Iterable[RangeLike], *, sex: str, age: int, on: datetime.date) -> RangeLike | None:
    """The range for a patient of `sex` and `age` on the collection date `on`, or None.

    Ranges with the same sex and age band are versions of one another: the latest effective on `on`
    wins. Among the versions that apply, the most specific wins: sex-specific over any-sex, then a
    bounded age band over an open one, then the narrower band.
    """
    current = {}
    for range_ in ranges:
        if range_.effective_from > on:
            continue
        key = (range_.sex, range_.age_min_years, range_.age_max_years)
        if key not in current or range_.effective_from > current[key].effective_from:
            current[key] = range_
    candidates = [r for r in current.values() if applies_to(r, sex=sex, age=age)]
    if not candidates:
        return None

    def specificity(range_):
        bounded = range_.age_max_years is not None
        width = (range_.age_max_years - range_.age_min_years) if bounded else 1000
        return (bool(range_.sex), bounded, -width, range_.age_min_years)

    return max(candidates, key=specificity)
