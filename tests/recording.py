"""The one way tests record lab results: through guidance.services.record_results, as the app does, so
findings open and repeat-test plans are met exactly as when a clinician saves a panel."""

import datetime
from decimal import Decimal

from django.utils import timezone

from guidance.services import record_results
from labs.models import Analyte
from labs.services import Entry


def entry(code, value, unit=None) -> Entry:
    """`value` of analyte `code` in `unit` (default: the analyte's canonical unit)."""
    analyte = Analyte.objects.get(code=code)
    return Entry(analyte=analyte, value=Decimal(value), unit=analyte.units.get(unit=unit or analyte.canonical_unit))


def record(patient, values, *, by, at=None, **panel_fields):
    """Save one panel for `patient` and return it. `values` are {"k": "3.1"} in each analyte's canonical
    unit or {"k": ("3.1", "mmol/L")} in the unit given; `at` is the collection time (default: an hour ago);
    `panel_fields` are record_results' other arguments (lab_name, accession_number, source)."""
    entries = [
        entry(code, *value) if isinstance(value, tuple) else entry(code, value) for code, value in values.items()
    ]
    return record_results(
        patient=patient,
        collected_at=at or timezone.now() - datetime.timedelta(hours=1),
        entries=entries,
        by=by,
        **panel_fields,
    )


# How a critical result was communicated, as acknowledging one needs (guidance.services.acknowledge's
# `call`): told by phone, read back, just now.
PHONED = {"told": "Dr A. Patel, on-call GP", "method": "phone", "told_at": None, "read_back": True}


def plan_repeat(finding, *, by, due=None, details="Repeat in a week"):
    """A repeat test of `finding`'s analyte, owned by `by`, due `due` (default: in a week)."""
    from guidance.models import ActionType
    from guidance.services import create_plan

    return create_plan(
        finding,
        action_type=ActionType.REPEAT_TEST,
        analyte=finding.result.analyte,
        due_date=due or timezone.localdate() + datetime.timedelta(days=7),
        owner=by,
        by=by,
        details=details,
    )
