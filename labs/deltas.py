"""Delta checks: is the change from a patient's previous result of a test larger than the rule allows?

Pure: the rule (a labs.models.DeltaRule, only its fields are read) and two values with their collection
times; no database. tests/test_labs_deltas.py covers every boundary. Finding the previous valid result is
guidance.services' job (it saves results, so it knows when a neighbour changes).

Boundaries, like the reference limits, belong to the quieter side: a change equal to the limit does not
fire, and a previous result collected exactly `window_days` before is still inside the window.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from .interpretation import Comparator


@dataclass(frozen=True)
class Delta:
    """The change from the previous result: `change` = current − previous in the canonical unit,
    `percent` = change / previous × 100 (None from a previous value of 0), `fires` = exceeds the rule.
    When either value is censored ("<5") the exact change is unknown: `change` is then the smallest
    change the two admit (the bound nearest zero; 0 when they admit no change at all), `percent` None."""

    previous_value: Decimal
    previous_at: datetime.datetime
    change: Decimal
    percent: Decimal | None
    fires: bool
    previous_comparator: str = Comparator.EXACT
    censored: bool = False


def admitted(value: Decimal, comparator: str) -> tuple[Decimal, Decimal | None]:
    """The values a reported one admits, as (lowest, highest; None: no upper end). "<5" admits 0 to 5
    (no lab value is negative), ">1000" 1000 and above, an exact value itself. Bounds are taken as
    reached, so a change equal to the limit at a bound does not fire (the quieter side, as above)."""
    if comparator in (Comparator.LESS, Comparator.LESS_OR_EQUAL):
        return Decimal(0), value
    if comparator in (Comparator.GREATER, Comparator.GREATER_OR_EQUAL):
        return value, None
    return value, value


def smallest_change(value, comparator, previous_value, previous_comparator) -> Decimal:
    """The change from the previous value nearest zero among those the two reported values admit: the
    exact change for exact values; for "<5" after 20, −15 (it fell by 15 at least); 0 when a rise and a
    fall are both possible (">1000" after 1200)."""
    low, high = admitted(value, comparator)
    previous_low, previous_high = admitted(previous_value, previous_comparator)
    if previous_high is not None and low > previous_high:
        return low - previous_high  # a rise of at least this
    if high is not None and high < previous_low:
        return high - previous_low  # a fall of at least this
    return Decimal(0)


def delta(
    rule,
    *,
    value: Decimal,
    collected_at: datetime.datetime,
    previous_value: Decimal,
    previous_at: datetime.datetime,
    comparator: str = Comparator.EXACT,
    previous_comparator: str = Comparator.EXACT,
) -> Delta | None:
    """The change from the previous result under `rule`, or None when the previous result falls outside
    the rule's window (or was not collected before this one), so there is nothing to compare. A censored
    value fires the rule only when every change the two values admit would (as a censored value is
    flagged only when every value it admits has the flag): "<5" after 20 is a fall of more than 15."""
    elapsed = collected_at - previous_at
    if elapsed <= datetime.timedelta(0) or elapsed > datetime.timedelta(days=rule.window_days):
        return None
    censored = bool(comparator or previous_comparator)
    change = smallest_change(value, comparator, previous_value, previous_comparator)
    percent = None
    if previous_value and not censored:
        percent = (change / previous_value * 100).quantize(Decimal("0.1"))
    if rule.kind == rule.Kind.ABSOLUTE:
        fires = abs(change) > rule.limit
    else:
        # A percentage from 0 is undefined; the admin refuses percentage rules where 0 can be entered.
        # For a rise the base that makes it smallest is the previous value's highest admitted value,
        # for a fall its lowest (0 after "<5": no fall is a percentage beyond the limit then).
        limit = rule.percent_limit
        low, high = admitted(previous_value, previous_comparator)
        base = high if change > 0 else low
        fires = bool(change) and limit is not None and bool(base) and abs(change) * 100 > limit * base
    return Delta(
        previous_value=previous_value,
        previous_at=previous_at,
        change=change,
        percent=percent,
        fires=fires,
        previous_comparator=previous_comparator,
        censored=censored,
    )


def fired(rule, result) -> Delta | None:
    """The change of `result` (annotated by ResultQuerySet.with_previous) when `rule` fires on it, else None:
    no rule, no previous result, outside the window, not beyond the limit, or the result withdrawn."""
    if rule is None or result.previous_id is None or result.is_entered_in_error:
        return None
    change = delta(
        rule,
        value=result.value,
        collected_at=result.collected_at,
        previous_value=result.previous_value,
        previous_at=result.previous_at,
        comparator=result.comparator,
        previous_comparator=result.previous_comparator,
    )
    return change if change is not None and change.fires else None


def describe_change(
    analyte,
    value: Decimal,
    previous_value: Decimal,
    previous_at: datetime.datetime,
    *,
    comparator: str = Comparator.EXACT,
    previous_comparator: str = Comparator.EXACT,
) -> str:
    """The change from a previous result in words: 'Δ +1.5 mmol/L (+41.7 %) from 3.6 on 1 Mar 2026'
    (the page, the finding, the worklist and the PDF all say it so). From or to a censored value the
    exact change is unknown and the words say the least it is: 'Δ at least −15.0 ng/mL from 20.0 on …'."""
    change = smallest_change(value, comparator, previous_value, previous_comparator)
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    censored = bool(comparator or previous_comparator)
    percent = f" ({sign}{abs(change) / previous_value * 100:.1f} %)" if previous_value and not censored else ""
    when = timezone.localtime(previous_at)
    previous = (Comparator(previous_comparator).label if previous_comparator else "") + analyte.format_value(
        previous_value
    )
    return (
        f"Δ {'at least ' if censored else ''}{sign}{analyte.format_value(abs(change))} {analyte.canonical_unit}"
        f"{percent} from {previous} on {when:%-d %b %Y}"
    )
