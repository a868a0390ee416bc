"""Data helpers shared by the tests/test_exports_*.py files."""

import datetime
from decimal import Decimal

from guidance import services as guidance_services
from labs.models import Analyte, Result
from labs.services import Entry

# A fixed moment, so expected dates can be written out: 10:00 UTC on 1 March 2026 (GMT in London).
BASE = datetime.datetime(2026, 3, 1, 10, 0, tzinfo=datetime.UTC)


def entry(code, value, unit):
    analyte = Analyte.objects.get(code=code)
    return Entry(analyte=analyte, value=Decimal(value), unit=analyte.units.get(unit=unit))


def record(patient, by, values, *, at=BASE, **panel_fields):
    """Record a panel through guidance's service, so findings open as in the app: values are
    {"k": ("3.1", "mmol/L")}."""
    return guidance_services.record_results(
        patient=patient,
        collected_at=at,
        entries=[entry(code, value, unit) for code, (value, unit) in values.items()],
        by=by,
        **panel_fields,
    )


def record_series(patient, by, code, values, unit, *, start=BASE, step_days=7):
    """One result of `code` per value, `step_days` apart from `start`."""
    for index, value in enumerate(values):
        record(patient, by, {code: (value, unit)}, at=start + datetime.timedelta(days=step_days * index))


def result_of(patient, code, at=BASE):
    return Result.objects.get(patient=patient, analyte__code=code, collected_at=at)
