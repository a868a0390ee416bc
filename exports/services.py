"""Writes of the exports app: the export log."""

from django.db import transaction

from patients.models import Patient

from .models import PatientExport


@transaction.atomic
def record_export(*, patient: Patient | None, format: str, by, detail: str = "") -> PatientExport:
    """Log that `by` exported `patient`'s data (or a cohort, with `patient` None) in `format`."""
    export = PatientExport(patient=patient, format=format, user=by, detail=detail[:200])
    export.full_clean()
    export.save()
    return export
