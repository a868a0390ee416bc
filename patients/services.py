"""Writes to the patient registry. Each function is one user action and one transaction."""

from django.db import transaction
from django.utils import timezone

from .models import Patient

EDITABLE_FIELDS = ("mrn", "given_name", "family_name", "date_of_birth", "sex", "notes")


@transaction.atomic
def register_patient(*, by, contributing_factors=(), **fields) -> Patient:
    now = timezone.now()
    patient = Patient(
        **{name: fields[name] for name in EDITABLE_FIELDS if name in fields},
        created_by=by,
        updated_by=by,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    patient.full_clean()
    patient.save()
    patient.contributing_factors.set(contributing_factors)
    return patient


@transaction.atomic
def update_patient(patient: Patient, *, by, contributing_factors=None, **fields) -> Patient:
    for name in EDITABLE_FIELDS:
        if name in fields:
            setattr(patient, name, fields[name])
    patient.updated_by = by
    patient.updated_at = patient.last_activity_at = timezone.now()
    patient.full_clean()
    patient.save()
    if contributing_factors is not None:
        patient.contributing_factors.set(contributing_factors)
    return patient


@transaction.atomic
def set_patient_active(patient: Patient, *, active: bool, by) -> Patient:
    """Administrators deactivate a patient instead of deleting: every record is kept."""
    patient.is_active = active
    patient.updated_by = by
    patient.updated_at = timezone.now()
    patient.save(update_fields=["is_active", "updated_by", "updated_at"])
    return patient


def touch_patient(patient: Patient) -> None:
    """Record activity on a patient (new results, reviews) so the list can sort by it."""
    Patient.objects.filter(pk=patient.pk).update(last_activity_at=timezone.now())
