"""Results as CSV rows, one per result, for a spreadsheet: the patient's export and the cohort export.

Cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage return)
get a leading apostrophe, as OWASP's "CSV injection" advice says. Numbers are written by us and never
start with one of those, so only text can carry a formula. The file starts with a UTF-8 byte order mark,
which is how Excel knows to read UTF-8 (names like "Zoë Łukasiewicz" then open correctly). A censored
value (">1000") has its comparator in the "comparator" column, beside the number.
"""

from collections.abc import Iterable, Iterator

from django.utils import timezone

from core import spreadsheet
from core.text import plain
from labs.interpretation import Comparator, Flag, Limits
from labs.models import Analyte, Result, describe_limits

HEADER = [
    "patient MRN",
    "patient name",
    "collected at",
    "analyte",
    "LOINC",
    "comparator",
    "value as entered",
    "unit as entered",
    "value (canonical unit)",
    "canonical unit",
    "reference range applied",
    # Whose range that is: Myolab's default, or the laboratory's own (HL7 OBX-7) with Myolab's beside it.
    "range from",
    "Myolab default range",
    "flag",
    "flag meaning",
    "status",
    "status reason",
    "lab",
    "accession number",
    "entered by",
    "specimen condition",
    "panel comment",
    "result comment",
]


# What a row needs, read as tuples: building a Result, Patient, Analyte, Panel and User for every row
# took most of a 1,000-result export's time.
ROW_FIELDS = (
    "patient__mrn",
    "patient__given_name",
    "patient__family_name",
    "collected_at",
    "analyte_id",
    "analyte__name",
    "analyte__loinc",
    "analyte__canonical_unit",
    "analyte__display_decimal_places",
    "comparator",
    "value_entered",
    "unit_entered",
    "value",
    "range_low",
    "range_high",
    "range_source",
    "range_default",
    "flag",
    "status",
    "status_reason",
    "panel__lab_name",
    "panel__accession_number",
    "panel__entered_by__first_name",
    "panel__entered_by__last_name",
    "panel__entered_by__username",
    "panel__specimen_condition__name",
    "panel__comment",
    "comment",
)
FLAG_LABELS = dict(Flag.choices)
# A censored value's comparator in a column of its own ("<" beside 5), so the value columns stay numbers.
COMPARATOR_SYMBOLS = {code: symbol for code, symbol in Comparator.choices} | {"": ""}
STATUS_LABELS = dict(Result.Status.choices)


def results_for_csv(queryset):
    """The rows' fields (ROW_FIELDS) as tuples, in the export's order, with the joins every row needs,
    so a row costs no query."""
    return queryset.order_by("patient__mrn", "collected_at", "analyte__sort_order", "id").values_list(*ROW_FIELDS)


def _row_writer():
    """A function from a ROW_FIELDS tuple to the row's cells. It remembers what many rows share (the
    time zone, each analyte's range texts), so a large export does that work once."""
    zone = timezone.get_current_timezone()
    range_texts = {}

    def row(fields) -> list[str]:
        (
            mrn,
            given_name,
            family_name,
            collected_at,
            analyte_id,
            analyte_name,
            loinc,
            canonical_unit,
            decimal_places,
            comparator,
            value_entered,
            unit_entered,
            value,
            range_low,
            range_high,
            range_source,
            range_default,
            flag,
            status,
            status_reason,
            lab_name,
            accession_number,
            first_name,
            last_name,
            username,
            specimen_condition,
            panel_comment,
            comment,
        ) = fields
        range_key = (analyte_id, range_low, range_high)
        if range_key not in range_texts:
            analyte = Analyte(name=analyte_name, canonical_unit=canonical_unit, display_decimal_places=decimal_places)
            range_texts[range_key] = describe_limits(Limits(range_low, range_high, None, None), analyte)
        # As User.get_full_name(), else the username.
        entered_by = f"{first_name} {last_name}".strip() or username
        text = [
            mrn,
            f"{given_name} {family_name}",
            collected_at.astimezone(zone).isoformat(timespec="seconds"),
            analyte_name,
            loinc,
            COMPARATOR_SYMBOLS[comparator],
            plain(value_entered),
            unit_entered,
            plain(value),
            canonical_unit,
            range_texts[range_key],
            range_source or "Myolab default",
            range_default,
            flag,
            FLAG_LABELS[flag],
            STATUS_LABELS[status],
            status_reason,
            lab_name,
            accession_number,
            entered_by,
            specimen_condition or "",
            panel_comment,
            comment,
        ]
        return text

    return row


def csv_lines(rows: Iterable[tuple]) -> Iterator[str]:
    """The BOM and header, then one CSV line per row of results_for_csv, produced one at a time."""
    row = _row_writer()
    return spreadsheet.csv_lines(HEADER, (row(fields) for fields in rows))
