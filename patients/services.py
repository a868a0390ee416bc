"""Writes to the patient registry. Each function is one user action and one transaction."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.http import client_ip

from .models import AccessLogEntry, Patient

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
    check_writable(patient)
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
def set_patient_active(patient: Patient, *, active: bool, by, reason: str = "") -> Patient:
    """Administrators deactivate a patient instead of deleting: every record is kept, and the record is
    read-only until they reactivate it. Deactivating needs the reason, which every page of the patient
    shows; the history keeps it after reactivation."""
    if not active and not reason.strip():
        raise ValidationError(
            {"deactivation_reason": "Give the reason for deactivating (e.g. duplicate record, moved away)."}
        )
    now = timezone.now()
    patient.is_active = active
    patient.deactivation_reason = "" if active else reason.strip()
    patient.deactivated_at = None if active else now
    patient.deactivated_by = None if active else by
    patient.updated_by = by
    patient.updated_at = now
    patient._change_reason = "reactivated" if active else f"deactivated: {reason.strip()}"
    patient.save(
        update_fields=[
            "is_active",
            "deactivation_reason",
            "deactivated_at",
            "deactivated_by",
            "updated_by",
            "updated_at",
        ]
    )
    return patient


def check_writable(patient: Patient) -> None:
    """Refuse to record anything for a deactivated patient (results, corrections, reviews, plans, edits)."""
    if not patient.is_active:
        raise ValidationError(patient.read_only_reason)


def touch_patient(patient: Patient) -> None:
    """Record activity on a patient (new results, reviews) so the list can sort by it."""
    Patient.objects.filter(pk=patient.pk).update(last_activity_at=timezone.now())


def log_access(request, patient: Patient | None, what: str, *, api_client: str = "") -> AccessLogEntry:
    """Log that `request.user` read `patient`'s data (`what`, an AccessLogEntry.What): one INSERT.

    Called by each view that shows one patient's data, once the user's permission and the patient have
    been checked, so refused reads (403, 404) log nothing. No transaction of its own (one statement is
    atomic) and no full_clean(): validating the foreign keys and the constraint would cost three
    queries on every page, and every value here comes from the request and objects already fetched;
    the database's constraint still refuses a missing patient.

    `api_client`: the name of the API client credential a system read with (request.user is then its
    service account).
    """
    return AccessLogEntry.objects.create(**_entry_fields(request, what, api_client), patient=patient)


def log_access_many(request, patients, what: str, *, api_client: str = "") -> None:
    """log_access for each of `patients` read by one request (an API search's page): one INSERT."""
    fields = _entry_fields(request, what, api_client)
    AccessLogEntry.objects.bulk_create([AccessLogEntry(**fields, patient=patient) for patient in patients])


def _entry_fields(request, what: str, api_client: str) -> dict:
    return {
        "user": request.user,
        "what": what,
        "client_ip": client_ip(request),
        "path": request.get_full_path()[: AccessLogEntry._meta.get_field("path").max_length],
        "api_client": api_client,
    }
