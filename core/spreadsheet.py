"""CSV files that spreadsheets open safely: UTF-8 with a byte order mark (so Excel reads names right) and
no cell that a spreadsheet would run as a formula."""

import csv
from collections.abc import Iterable, Iterator

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet shows as text, never runs: "=1+2" becomes "'=1+2"."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


def csv_lines(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The BOM and header, then one CSV line per row (each cell as text, neutralised), one at a time."""
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow(header)
    for row in rows:
        yield writer.writerow([neutralise(str(cell)) for cell in row])
