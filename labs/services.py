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
from django.db import models, transaction
from django.utils import timezone

from core.text import age_in_years, display_name
from patients.models import Patient

from .interpretation import Comparator, LabRange, Limits, interpret_reported, select_range, to_canonical
from .models import Analyte, AnalyteUnit, Panel, ReferenceRange, Result, describe_limits

# A panel entered this recently with the same collection time and values is probably the same one again.
SAME_PANEL_WINDOW = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class Entry:
    """One value to record: `value` in `unit`, which must be one of the analyte's accepted units, exact or
    censored by `comparator`."""

    analyte: Analyte
    value: Decimal
    unit: AnalyteUnit
    comparator: str = Comparator.EXACT  # "<", "<=", ">=", ">" for a censored value ("<5")
    comment: str = ""
    lab_range: LabRange | None = None  # the laboratory's own normal limits (an import's OBX-7), which win
    preliminary: bool = False  # a laboratory's preliminary result (OBX-11 P), to be replaced by the final one


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


def interpret_result(result: Result, patient: Patient, lab_range: LabRange | None = None) -> None:
    """Set the range applied (link and snapshot of its limits) and the flag on `result`, from its canonical
    value (and comparator, for a censored one), analyte and collection time. Saves nothing and reads `result.analyte.ranges.all()`: prefetch
    "ranges" when interpreting several results. Public because the synthetic data generator interprets
    its synthetic results with it, so they follow the same rules as recorded ones.

    `lab_range`, the laboratory's own normal limits sent with the value, wins over Myolab's default
    (shared/DOMAIN.md): the result is flagged against it, `range_source` says whose it is and
    `range_default` what Myolab's default says, which stays linked (`reference_range`) for comparison. The critical limits
    stay Myolab's: laboratories rarely send them, and a panic value must not go unnoticed for want of one."""
    range_ = range_for(patient, result.analyte, result.collected_at)
    result.reference_range = range_
    default = range_.limits if range_ else Limits()
    result.range_critical_low, result.range_critical_high = default.critical_low, default.critical_high
    if lab_range is None:
        result.range_low, result.range_high = default.normal_low, default.normal_high
        result.range_source = result.range_default = ""
    else:
        result.range_low, result.range_high = lab_range.low, lab_range.high
        result.range_source = lab_range.source[:200]
        result.range_default = describe_limits(default, result.analyte) if range_ else "none for this patient"
    result.flag = interpret_reported(result.value, result.comparator, result.limits)


def accession_clash(lab_name: str, accession_number: str) -> str:
    """The sentence refusing an accession number this lab's panels already have, or "" if it is free
    (the form asks first; record_results asks again and reads the same sentence after losing a race)."""
    lab, accession = lab_name.strip(), accession_number.strip()
    if not accession:
        return ""
    clash = Panel.objects.with_accession(lab, accession).select_related("entered_by").first()
    if clash is None:
        return ""
    lab_text = f"lab “{lab}”" if lab else "an unnamed lab"
    return (
        f"Accession number {accession} from {lab_text} has already been entered: the panel collected "
        f"{timezone.localtime(clash.collected_at):%d %b %Y %H:%M}, saved by {display_name(clash.entered_by)} at "
        f"{timezone.localtime(clash.entered_at):%H:%M on %d %b %Y}. Each accession number is entered once per lab."
    )


def same_recent_panel(patient: Patient, collected_at: datetime.datetime, entries: list[Entry]) -> Panel | None:
    """A panel saved for `patient` in the last SAME_PANEL_WINDOW with this collection time and exactly these
    values and units (of its valid results): what a second entry of the same report looks like."""
    wanted = {(entry.analyte.pk, entry.comparator, entry.value, entry.unit.unit) for entry in entries}
    recent = (
        Panel.objects.filter(
            patient=patient, collected_at=collected_at, entered_at__gte=timezone.now() - SAME_PANEL_WINDOW
        )
        .select_related("entered_by")
        .prefetch_related(models.Prefetch("results", Result.objects.valid()))
    )
    for panel in recent:
        if {(r.analyte_id, r.comparator, r.value_entered, r.unit_entered) for r in panel.results.all()} == wanted:
            return panel
    return None


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
