"""Writes to lab data. Each function is one user action in one transaction, and records who and when.

Callers validate user input first (labs.forms); these functions enforce the invariants again with
full_clean(), so an import or a script gets the same checks as the browser.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from patients.models import Patient
from patients.services import touch_patient

from .interpretation import age_in_years, interpret, select_range, to_canonical
from .models import Analyte, AnalyteUnit, Panel, ReferenceRange, Result


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


def _canonical_or_refuse(analyte: Analyte, value: Decimal, unit: AnalyteUnit) -> Decimal:
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


# What record_panel checks once for all of a panel's results instead of per result in full_clean(): the
# panel (just saved), its patient and user (the panel's full_clean), the analytes (loaded from the
# catalogue) and their ranges (chosen among those loaded). Its constraints are checked before saving too:
# one result per analyte (the duplicate check) and no negative value (_canonical_or_refuse).
CHECKED_FOR_THE_PANEL = ["panel", "patient", "analyte", "reference_range", "updated_by"]


@transaction.atomic
def record_panel(
    *,
    patient: Patient,
    collected_at: datetime.datetime,
    entries: list[Entry],
    by,
    lab_name: str = "",
    accession_number: str = "",
    source: str = Panel.Source.MANUAL,
) -> Panel:
    """Save a panel and its results whole, or nothing (raises ValidationError)."""
    if not entries:
        raise ValidationError("Enter at least one result: the panel is empty.")
    analyte_ids = [entry.analyte.pk for entry in entries]
    if len(set(analyte_ids)) != len(analyte_ids):
        raise ValidationError("The same analyte appears twice in this panel; enter each analyte once.")
    for entry in entries:
        if entry.unit.analyte_id != entry.analyte.pk:
            raise ValidationError(f"{entry.unit.unit} is not a unit of {entry.analyte.name}.")
    # Each analyte and all its range versions in two queries for the whole panel; this also proves the
    # analytes exist, which full_clean() would otherwise check with a query per result.
    catalogue = Analyte.objects.prefetch_related("ranges").in_bulk(analyte_ids)
    missing = [entry.analyte.name for entry in entries if entry.analyte.pk not in catalogue]
    if missing:
        raise ValidationError(f"Not in the analyte catalogue: {', '.join(missing)}.")
    panel = Panel(
        patient=patient,
        collected_at=collected_at,
        lab_name=lab_name.strip(),
        accession_number=accession_number.strip(),
        source=source,
        entered_by=by,
    )
    panel.full_clean()
    panel.save()
    results = []
    for entry in entries:
        analyte = catalogue[entry.analyte.pk]
        result = Result(
            panel=panel,
            patient=patient,
            collected_at=collected_at,
            analyte=analyte,
            value_entered=entry.value,
            unit_entered=entry.unit.unit,
            value=_canonical_or_refuse(analyte, entry.value, entry.unit),
            updated_by=by,
        )
        interpret_result(result, patient)
        result.full_clean(exclude=CHECKED_FOR_THE_PANEL, validate_constraints=False)
        results.append(result)
    # One insert for the results and one for their history rows (the audit trail), whatever their number.
    bulk_create_with_history(results, Result, default_user=by)
    touch_patient(patient)
    return panel


@transaction.atomic
def correct_result(result: Result, *, value: Decimal, unit: AnalyteUnit, reason: str, by) -> Result:
    """Replace a result's value, keeping the earlier one in history with who, when and why."""
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the correction."})
    if result.status == Result.Status.ENTERED_IN_ERROR:
        raise ValidationError("This result was marked entered in error and cannot be corrected.")
    result.value_entered = value
    result.unit_entered = unit.unit
    result.value = _canonical_or_refuse(result.analyte, value, unit)
    interpret_result(result, result.patient)
    result.status = Result.Status.CORRECTED
    result.status_reason = reason.strip()
    result.updated_by = by
    result.updated_at = timezone.now()
    result.full_clean()
    result._change_reason = reason.strip()  # django-simple-history stores it on the history row
    result.save()
    touch_patient(result.patient)
    return result


@transaction.atomic
def mark_entered_in_error(result: Result, *, reason: str, by) -> Result:
    """Withdraw a result that should never have been recorded; it stays visible, struck through."""
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason the result was entered in error."})
    result.status = Result.Status.ENTERED_IN_ERROR
    result.status_reason = reason.strip()
    result.updated_by = by
    result.updated_at = timezone.now()
    result._change_reason = reason.strip()
    result.save()
    touch_patient(result.patient)
    return result


RANGE_FIELDS = ("normal_low", "normal_high", "critical_low", "critical_high", "source")


@transaction.atomic
def revise_reference_range(range_: ReferenceRange, *, effective_from: datetime.date, by, **changes) -> ReferenceRange:
    """Change a range. If results have used it, save the change as a new version from `effective_from`
    and leave the old version as it was; otherwise edit it in place."""
    unknown = set(changes) - set(RANGE_FIELDS)
    if unknown:
        raise ValueError(f"Not range limits: {sorted(unknown)}")
    if ReferenceRange.objects.used().filter(pk=range_.pk).exists():
        if effective_from <= range_.effective_from:
            raise ValidationError(
                {
                    "effective_from": (
                        f"This range has been applied to results, so a change starts a new version: choose an "
                        f"effective date after {range_.effective_from:%d %b %Y}."
                    )
                }
            )
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
