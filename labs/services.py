"""What saving lab data needs: choosing a result's range, checking and interpreting its value, and the
reference-range versions (the one write of this app).

Results are not saved here: guidance.services records, corrects and withdraws them, with their findings
in the same transaction, and calls these helpers to check and interpret each value. Callers validate user
input first (labs.forms); these functions enforce the invariants again, so an import or a script gets the
same checks as the browser.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.text import age_in_years
from patients.models import Patient

from .interpretation import interpret, select_range, to_canonical
from .models import Analyte, AnalyteUnit, ReferenceRange, Result


@dataclass(frozen=True)
class Entry:
    """One value to record: `value` in `unit`, which must be one of the analyte's accepted units."""

    analyte: Analyte
    value: Decimal
    unit: AnalyteUnit


def range_for(patient: Patient, analyte: Analyte, collected_at: datetime.datetime):
    """The reference range version that applies to `patient` for `analyte` on the collection date.

    Reads `analyte.ranges.all()`: prefetch "ranges" when choosing for several analytes.
    """
    day = timezone.localdate(collected_at)
    ranges = [r for r in analyte.ranges.all() if r.effective_from <= day]
    return select_range(ranges, sex=patient.sex, age=age_in_years(patient.date_of_birth, day), on=day)


def canonical_or_refuse(analyte: Analyte, value: Decimal, unit: AnalyteUnit) -> Decimal:
    """`value` in the canonical unit; refuses an implausible one here too, so imports and scripts get
    the check the entry form makes (the form's messages add the wrong-unit hint). A negative value is
    refused here, mirroring the constraint result_value_not_negative (the factor is always positive)."""
    if value < 0:
        raise ValidationError(f"{analyte.name}: {value} {unit.unit} is negative; a lab value cannot be below zero.")
    canonical = to_canonical(value, unit.factor)
    if not analyte.plausible_low <= canonical <= analyte.plausible_high:
        raise ValidationError(
            f"{analyte.name}: {value} {unit.unit} is implausible; accepted from "
            f"{analyte.format_value(analyte.plausible_low)} to {analyte.format_value(analyte.plausible_high)} "
            f"{analyte.canonical_unit}."
        )
    return canonical


def interpret_result(result: Result, patient: Patient) -> None:
    """Set the range applied (link and snapshot of its limits) and the flag on `result`, from its canonical
    value, analyte and collection time. Saves nothing and reads `result.analyte.ranges.all()`: prefetch
    "ranges" when interpreting several results. Public because the synthetic data generator interprets
    its synthetic results with it, so they follow the same rules as recorded ones."""
    range_ = range_for(patient, result.analyte, result.collected_at)
    result.reference_range = range_
    if range_ is None:
        result.range_low = result.range_high = result.range_critical_low = result.range_critical_high = None
    else:
        result.range_low, result.range_high = range_.normal_low, range_.normal_high
        result.range_critical_low, result.range_critical_high = range_.critical_low, range_.critical_high
    result.flag = interpret(result.value, range_.limits if range_ else None)


def check_revision_date(range_: ReferenceRange, effective_from: datetime.date) -> None:
    """A change to a range that results have used starts a new version, which must begin after the
    version it replaces (the admin's form asks this too, before anything is saved)."""
    if not ReferenceRange.objects.used().filter(pk=range_.pk).exists():
        return
    original = ReferenceRange.objects.only("effective_from").get(pk=range_.pk)
    if effective_from <= original.effective_from:
        raise ValidationError(
            {
                "effective_from": (
                    f"This range has been applied to results, so a change starts a new version: choose an "
                    f"effective date after {original.effective_from:%d %b %Y}."
                )
            }
        )


RANGE_FIELDS = ("normal_low", "normal_high", "critical_low", "critical_high", "source")


@transaction.atomic
def revise_reference_range(range_: ReferenceRange, *, effective_from: datetime.date, by, **changes) -> ReferenceRange:
    """Change a range. If results have used it, save the change as a new version from `effective_from`
    and leave the old version as it was; otherwise edit it in place."""
    unknown = set(changes) - set(RANGE_FIELDS)
    if unknown:
        raise ValueError(f"Not range limits: {sorted(unknown)}")
    if range_.pk and ReferenceRange.objects.used().filter(pk=range_.pk).exists():
        check_revision_date(range_, effective_from)
        original = ReferenceRange.objects.get(pk=range_.pk)
        range_ = ReferenceRange(
            analyte=original.analyte,
            sex=original.sex,
            age_min_years=original.age_min_years,
            age_max_years=original.age_max_years,
            **{name: getattr(original, name) for name in RANGE_FIELDS},
        )
    for name, value in changes.items():
        setattr(range_, name, value)
    range_.effective_from = effective_from
    range_.changed_by = by
    range_.changed_at = timezone.now()
    range_.full_clean()
    range_.save()
    return range_
