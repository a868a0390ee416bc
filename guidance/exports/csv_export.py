"""Results as CSV rows, one per result, for a spreadsheet: the patient's export and the cohort export.

Cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage return)
get a leading apostrophe, as OWASP's "CSV injection" advice says. Numbers are written by us and never
start with one of those, so only text can carry a formula. The file starts with a UTF-8 byte order mark,
which is how Excel knows to read UTF-8 (names like "Zoë Łukasiewicz" then open correctly).
"""

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.utils import timezone

from labs.models import Result

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

HEADER = [
    "patient MRN",
    "patient name",
    "collected at",
    "analyte",
    "LOINC",
    "value as entered",
    "unit as entered",
    "value (canonical unit)",
    "canonical unit",
    "reference range applied",
    "flag",
    "flag meaning",
    "status",
    "status reason",
    "lab",
    "accession number",
    "entered by",
]


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet shows as text, never runs: "=1+2" becomes "'=1+2"."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def plain_number(value: Decimal) -> str:
    """5.4000 -> "5.4", 300.0000 -> "300": the stored value without trailing zeros or an exponent."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def results_for_csv(queryset):
    """The joins every row needs, so a row costs no query."""
    return queryset.select_related("patient", "analyte", "panel", "panel__entered_by").order_by(
        "patient__mrn", "collected_at", "analyte__sort_order", "id"
    )


def result_row(result: Result) -> list[str]:
    patient, analyte, panel = result.patient, result.analyte, result.panel
    entered_by = panel.entered_by.get_full_name() or panel.entered_by.get_username()
    text = [
        patient.mrn,
        patient.full_name,
        timezone.localtime(result.collected_at).isoformat(timespec="seconds"),
        analyte.name,
        analyte.loinc,
        plain_number(result.value_entered),
        result.unit_entered,
        plain_number(result.value),
        analyte.canonical_unit,
        result.range_text,
        result.flag,
        result.get_flag_display(),
        result.get_status_display(),
        result.status_reason,
        panel.lab_name,
        panel.accession_number,
        entered_by,
    ]
    return [neutralise(cell) for cell in text]


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


def csv_lines(results: Iterable[Result]) -> Iterator[str]:
    """The BOM and header, then one CSV line per result, produced one at a time."""
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow(HEADER)
    for result in results:
        yield writer.writerow(result_row(result))
