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


@dataclass(frozen=True)
class Delta:
    """The change from the previous result: `change` = current − previous in the canonical unit,
    `percent` = change / previous × 100 (None from a previous value of 0), `fires` = exceeds the rule."""

    previous_value: Decimal
    previous_at: datetime.datetime
    change: Decimal
    percent: Decimal | None
    fires: bool


def delta(
    rule,
    *,
    value: Decimal,
    collected_at: datetime.datetime,
    previous_value: Decimal,
    previous_at: datetime.datetime,
) -> Delta | None:
    """The change from the previous result under `rule`, or None when the previous result falls outside
    the rule's window (or was not collected before this one), so there is nothing to compare."""
    elapsed = collected_at - previous_at
    if elapsed <= datetime.timedelta(0) or elapsed > datetime.timedelta(days=rule.window_days):
        return None
    change = value - previous_value
    percent = (change / previous_value * 100).quantize(Decimal("0.1")) if previous_value else None
    if rule.kind == rule.Kind.ABSOLUTE:
        fires = abs(change) > rule.limit
    else:
        # A percentage from 0 is undefined; the admin refuses percentage rules where 0 can be entered.
        limit = rule.percent_limit
        fires = previous_value != 0 and limit is not None and abs(change) * 100 > limit * previous_value
    return Delta(previous_value=previous_value, previous_at=previous_at, change=change, percent=percent, fires=fires)


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
    )
    return change if change is not None and change.fires else None


def describe_change(analyte, value: Decimal, previous_value: Decimal, previous_at: datetime.datetime) -> str:
    """The change from a previous result in words: 'Δ +1.5 mmol/L (+41.7 %) from 3.6 on 1 Mar 2026'
    (the page, the finding, the worklist and the PDF all say it so)."""
    change = value - previous_value
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    percent = f" ({sign}{abs(change) / previous_value * 100:.1f} %)" if previous_value else ""
    when = timezone.localtime(previous_at)
    return (
        f"Δ {sign}{analyte.format_value(abs(change))} {analyte.canonical_unit}{percent} "
        f"from {analyte.format_value(previous_value)} on {when:%-d %b %Y}"
    )
