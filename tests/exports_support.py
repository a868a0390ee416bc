"""Data helpers shared by the tests/test_exports_*.py files."""

import datetime

from labs.models import Result

from .recording import record

# A fixed moment, so expected dates can be written out: 10:00 UTC on 1 March 2026 (GMT in London).
BASE = datetime.datetime(2026, 3, 1, 10, 0, tzinfo=datetime.UTC)


def record_series(patient, by, code, values, unit, *, start=BASE, step_days=7):
    """One result of `code` per value, `step_days` apart from `start`."""
    for index, value in enumerate(values):
        record(patient, {code: (value, unit)}, by=by, at=start + datetime.timedelta(days=step_days * index))


def result_of(patient, code, at=BASE):
    return Result.objects.get(patient=patient, analyte__code=code, collected_at=at)
