"""The cumulative view: a patient's results as a table of tests (rows) by collection time (columns,
newest first), as laboratories print cumulative reports, a fixed number of columns a page.

Five queries whatever the size of the patient's history (tests/test_labs_cumulative.py counts them at two
data sizes and two pages back): how many collection times there are, the page's collection times, their
results each with its previous valid result of the test (for the Δ), the patient's tests with each one's
latest valid result (so a test not measured in the page's columns still shows its last value), and the
delta rules. Δ is computed here with labs.deltas, as guidance computes it when it opens a delta finding.
"""

import datetime
from dataclasses import dataclass

from django.db import models
from django.utils import timezone

from .deltas import Delta, fired
from .interpretation import Flag, Limits
from .models import Analyte, DeltaRule, Result, describe_limits

# Six collection times fit beside the tests' names and ranges at 1366 px without scrolling sideways.
COLUMNS_PER_PAGE = 6


@dataclass(frozen=True)
class Cell:
    result: Result
    delta: Delta | None  # set only when the analyte's delta rule fires


@dataclass(frozen=True)
class Row:
    analyte: Analyte  # annotated with latest_value, latest_flag, latest_at (its latest valid result)
    cells: list  # one Cell or None per column
    range_text: str  # the range applied to the newest result shown (else to the latest result)

    @property
    def latest_elsewhere(self) -> str:
        """When none of the page's columns holds a valid result of this test: its latest one in words,
        'latest 12.0 ng/mL (L), 3 Jan 2025', so every test's newest value shows on every page."""
        shown = any(cell is not None and not cell.result.is_entered_in_error for cell in self.cells)
        analyte = self.analyte
        if shown or analyte.latest_collected_at is None:
            return ""
        flag = "" if analyte.latest_flag == Flag.NORMAL else f" ({analyte.latest_flag})"
        when = timezone.localtime(analyte.latest_collected_at)
        return f"latest {analyte.format_value(analyte.latest_value)} {analyte.canonical_unit}{flag}, {when:%-d %b %Y}"


@dataclass(frozen=True)
class CumulativeTable:
    columns: list[datetime.datetime]
    rows: list[Row]
    page: int
    pages: int
    error: str = ""  # a page that does not exist: what was wrong and what is allowed

    @property
    def older_page(self):
        return self.page + 1 if self.page < self.pages else None

    @property
    def newer_page(self):
        return self.page - 1 if self.page > 1 else None


def cumulative_table(patient, page_text: str | None) -> CumulativeTable:
    """Page `page_text` (1 = the newest COLUMNS_PER_PAGE collection times; None or "" = 1)."""
    times = Result.objects.filter(patient=patient).values("collected_at").distinct()
    count = times.count()
    pages = max(1, -(-count // COLUMNS_PER_PAGE))
    try:
        page = int(page_text or 1)
    except ValueError:
        page = 0
    if not 1 <= page <= pages:
        return CumulativeTable(
            columns=[],
            rows=[],
            page=1,
            pages=pages,
            error=f"There is no page {page_text} of results over time: this patient's results fill "
            f"{pages} page{'s' if pages != 1 else ''} (1 is the newest). Showing none; choose a page from 1 to {pages}.",
        )
    start = (page - 1) * COLUMNS_PER_PAGE
    columns = list(
        times.order_by("-collected_at").values_list("collected_at", flat=True)[start : start + COLUMNS_PER_PAGE]
    )
    if not columns:
        return CumulativeTable(columns=[], rows=[], page=1, pages=1)
    # The page's results are those collected from its oldest column to its newest: one range of
    # result_patient_collected_idx.
    results = Result.objects.filter(
        patient=patient, collected_at__gte=columns[-1], collected_at__lte=columns[0]
    ).with_previous()
    rules = {rule.analyte_id: rule for rule in DeltaRule.objects.filter(active=True)}
    by_analyte = {}
    position = {at: index for index, at in enumerate(columns)}
    for result in results.order_by("collected_at", "id"):
        cells = by_analyte.setdefault(result.analyte_id, [None] * len(columns))
        cells[position[result.collected_at]] = Cell(result=result, delta=fired(rules.get(result.analyte_id), result))
    rows = []
    for analyte in _patient_analytes(patient):
        cells = by_analyte.get(analyte.pk, [None] * len(columns))
        for cell in cells:
            if cell is not None:
                cell.result.analyte = analyte  # the row's analyte: no query per result for its name and unit
        rows.append(Row(analyte=analyte, cells=cells, range_text=_range_text(analyte, cells)))
    return CumulativeTable(columns=columns, rows=rows, page=page, pages=pages)


def _patient_analytes(patient):
    """The analytes this patient has results of, in catalogue order, each with its latest valid result."""
    latest = (
        Result.objects.valid()
        .filter(patient=patient, analyte_id=models.OuterRef("pk"))
        .order_by("-collected_at", "-id")
    )
    fields = ("value", "flag", "collected_at", "range_low", "range_high")
    return (
        Analyte.objects.filter(models.Exists(Result.objects.filter(patient=patient, analyte_id=models.OuterRef("pk"))))
        .annotate(**{f"latest_{name}": models.Subquery(latest.values(name)[:1]) for name in fields})
        .order_by("sort_order", "name")
    )


def _range_text(analyte, cells) -> str:
    newest = next((cell.result for cell in cells if cell is not None and not cell.result.is_entered_in_error), None)
    if newest is not None:
        return newest.range_text
    if analyte.latest_collected_at is None:
        return ""
    return describe_limits(Limits(analyte.latest_range_low, analyte.latest_range_high, None, None), analyte)
