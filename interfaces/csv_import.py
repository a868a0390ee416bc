"""Importing results from a CSV in the layout of Myolab's own results CSV (exports.csv_export.HEADER), so
an export imports back: read every row, say what is wrong with each, then record the panels.

A panel is the rows with the same patient, collection time, lab and accession number. Each panel is
recorded in one transaction through guidance.services.record_results (findings open with it); a panel
with a row in error is not recorded, and the preview says so before anything is saved. A result the
patient already has (same analyte, same collection time) is skipped, so importing a file twice, or an
export into the database it came from, records nothing twice. Rows marked entered in error are skipped;
corrected rows are recorded with their current value; a censored value keeps its comparator ("<" beside
"5"), a preliminary one its status, and the comments and specimen condition come with them. The flag is Myolab's again, against the ranges of the database it
is imported into (the export's own "reference range applied" and "flag" columns are not read).
"""

import csv
import datetime
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower

from core.spreadsheet import BOM, FORMULA_STARTS
from exports.csv_export import HEADER
from guidance.services import record_results
from labs.interpretation import COMPARATOR_CODES
from labs.models import Analyte, Panel, Result, SpecimenCondition
from labs.services import Entry, canonical_or_refuse
from patients.models import Patient

from .mapping import ALTERNATIVE_LOINC, unit_key

ENTERED_IN_ERROR = dict(Result.Status.choices)[Result.Status.ENTERED_IN_ERROR]
PRELIMINARY = dict(Result.Status.choices)[Result.Status.PRELIMINARY]


def looks_like_results_csv(text: str) -> bool:
    return text.lstrip(BOM).startswith(HEADER[0])


@dataclass
class Row:
    number: int  # the line in the file (the header is line 1)
    label: str  # "MRN-1 Potassium 3.1 mmol/L"
    entry: Entry | None = None
    error: str = ""
    skipped: str = ""


@dataclass
class CsvPanel:
    patient: Patient
    collected_at: datetime.datetime
    lab: str
    accession: str
    rows: list[Row] = field(default_factory=list)
    comment: str = ""  # the panel comment, as its rows carry it
    specimen_condition: SpecimenCondition | None = None

    @property
    def importable(self) -> list[Row]:
        return [row for row in self.rows if row.entry is not None]

    @property
    def has_errors(self) -> bool:
        return any(row.error for row in self.rows)


@dataclass
class CsvPlan:
    panels: list[CsvPanel]
    rows: list[Row]  # every row, in file order

    @property
    def errors(self) -> list[Row]:
        return [row for row in self.rows if row.error]

    @property
    def to_record(self) -> list[CsvPanel]:
        return [panel for panel in self.panels if panel.importable and not panel.has_errors]


def _cell(text: str) -> str:
    """A cell as the export wrote it, without the apostrophe that kept a formula from running."""
    text = text.strip()
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def plan_csv(text: str) -> CsvPlan:
    """Read the file (raises ValueError if it is not in the layout) and check every row; saves nothing."""
    reader = csv.reader(io.StringIO(text.lstrip(BOM)))
    header = next(reader, [])
    if [cell.strip() for cell in header] != HEADER:
        raise ValueError(
            "The first line is not the header of Myolab's results CSV; its columns must be: " + ", ".join(HEADER) + "."
        )
    analytes = {a.loinc: a for a in Analyte.objects.prefetch_related("units") if a.loinc}
    by_name = {a.name.lower(): a for a in analytes.values()}
    by_code = {a.code: a for a in analytes.values()}
    analytes.update({loinc: by_code[code] for loinc, code in ALTERNATIVE_LOINC.items() if code in by_code})
    lines = list(reader)
    mrns = {_cell(line[0]).lower() for line in lines if line}
    # Lower(mrn) is what the unique index on MRNs holds, so this is one indexed lookup per MRN.
    patients = {p.mrn.lower(): p for p in Patient.objects.alias(key=Lower("mrn")).filter(key__in=mrns)}
    conditions = {c.name.lower(): c for c in SpecimenCondition.objects.filter(active=True)}
    panels: dict[tuple, CsvPanel] = {}
    rows = []
    for number, line in enumerate(lines, start=2):
        if not any(cell.strip() for cell in line):
            continue
        rows.append(_plan_row(number, line, patients, analytes, by_name, panels, conditions))
    _skip_recorded(panels.values())
    return CsvPlan(panels=list(panels.values()), rows=rows)


def _plan_row(number, line, patients, analytes, by_name, panels, conditions) -> Row:
    if len(line) != len(HEADER):
        return Row(
            number, f"line {number}", error=f"Line {number} has {len(line)} columns; the header has {len(HEADER)}."
        )
    cells = dict(zip(HEADER, (_cell(cell) for cell in line), strict=True))
    label = f"{cells['patient MRN']} {cells['analyte']} {cells['value as entered']} {cells['unit as entered']}"
    row = Row(number, label)
    if cells["status"] == ENTERED_IN_ERROR:
        row.skipped = "marked entered in error where it came from: not imported."
        return row
    patient = patients.get(cells["patient MRN"].lower())
    analyte = analytes.get(cells["LOINC"]) or by_name.get(cells["analyte"].lower())
    try:
        collected_at = datetime.datetime.fromisoformat(cells["collected at"])
    except ValueError:
        collected_at = None
    if patient is None:
        row.error = f"patient MRN '{cells['patient MRN']}': no patient has this MRN (register them first)."
    elif not patient.is_active:
        row.error = f"patient MRN '{patient.mrn}' is deactivated: no results are filed for them."
    elif collected_at is None or collected_at.tzinfo is None:
        row.error = (
            f"collected at '{cells['collected at']}' is not a date and time with its offset "
            "(as exported: 2024-01-15T08:30:00+00:00)."
        )
    elif analyte is None:
        row.error = f"analyte '{cells['analyte']}' (LOINC '{cells['LOINC']}') is not in the catalogue."
    else:
        row.entry, row.error = _entry(analyte, cells)
    if patient is not None and collected_at is not None and collected_at.tzinfo is not None:
        key = (patient.pk, collected_at, cells["lab"].lower(), cells["accession number"].lower())
        panel = panels.setdefault(key, CsvPanel(patient, collected_at, cells["lab"], cells["accession number"]))
        if row.entry and any(r.entry and r.entry.analyte.pk == analyte.pk for r in panel.rows):
            row.entry, row.error = None, f"{analyte.name} appears twice in this panel."
        condition = cells["specimen condition"]
        if condition and condition.lower() not in conditions:
            row.entry = None
            row.error = row.error or (
                f"specimen condition '{condition}' is not in the list (allowed: "
                f"{', '.join(c.name for c in conditions.values())}, or empty)."
            )
        panel.comment = panel.comment or cells["panel comment"]
        panel.specimen_condition = panel.specimen_condition or conditions.get(condition.lower())
        panel.rows.append(row)
    return row


def _entry(analyte, cells) -> tuple[Entry | None, str]:
    comparator = cells["comparator"]
    if comparator and comparator not in COMPARATOR_CODES:
        return None, f"comparator '{comparator}' is not one Myolab stores: <, ≤, ≥ or > (empty for an exact value)."
    try:
        value = Decimal(cells["value as entered"])
    except InvalidOperation:
        return None, f"value as entered '{cells['value as entered']}' is not a number."
    unit = next(
        (u for u in analyte.units.all() if u.active and unit_key(u.unit) == unit_key(cells["unit as entered"])), None
    )
    if unit is None:
        accepted = ", ".join(u.unit for u in analyte.units.all() if u.active)
        return (
            None,
            f"unit as entered '{cells['unit as entered']}' is not a unit of {analyte.name} (accepted: {accepted}).",
        )
    try:
        canonical_or_refuse(analyte, value, unit)
    except ValidationError as error:
        return None, " ".join(error.messages)
    entry = Entry(
        analyte=analyte,
        value=value,
        unit=unit,
        comparator=COMPARATOR_CODES.get(comparator, ""),
        preliminary=cells["status"] == PRELIMINARY,
        comment=cells["result comment"],
    )
    return entry, ""


def _skip_recorded(panels) -> None:
    """A result the patient already has for that analyte and collection time is not recorded again."""
    panels = list(panels)
    if not panels:
        return
    recorded = set(
        Result.objects.filter(
            patient_id__in={panel.patient.pk for panel in panels},
            collected_at__in={panel.collected_at for panel in panels},
        ).values_list("patient_id", "collected_at", "analyte_id")
    )
    for panel in panels:
        for row in panel.importable:
            if (panel.patient.pk, panel.collected_at, row.entry.analyte.pk) in recorded:
                row.entry, row.skipped = None, "already recorded for this patient at this time: nothing changes."


def import_csv(plan: CsvPlan, *, by) -> tuple[int, int, list[str]]:
    """Record every panel without errors, each in its own transaction: (panels, results) recorded and
    why any panel was refused (say, its accession number recorded before at another time)."""
    panels = results = 0
    refused = []
    for panel in plan.to_record:
        try:
            record_results(
                patient=panel.patient,
                collected_at=panel.collected_at,
                entries=[row.entry for row in panel.importable],
                by=by,
                lab_name=panel.lab,
                accession_number=panel.accession,
                source=Panel.Source.IMPORT,
                specimen_condition=panel.specimen_condition,
                comment=panel.comment,
            )
        except ValidationError as error:
            refused.append(f"Lines {', '.join(str(r.number) for r in panel.rows)}: {' '.join(error.messages)}")
            continue
        panels, results = panels + 1, results + len(panel.importable)
    return panels, results, refused
