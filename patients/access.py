"""The one way views fetch a patient, whichever app the view is in."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect

from .models import Patient


def get_patient_for(user, pk, *, perm="patients.view_patient"):
    """The patient `pk` for `user`: 404 if missing, 403 without the permission."""
    if not user.has_perm(perm):
        raise PermissionDenied
    return get_object_or_404(Patient.objects.select_related("created_by", "updated_by"), pk=pk)


def patient_header_context(patient) -> dict:
    """What the patient header (templates/patients/includes/patient_header.html) needs."""
    return {"patient": patient, "factors": patient.contributing_factors.all()}


def refuse_if_read_only(request, patient):
    """For a page that would record something for `patient`: None while they are active; for a
    deactivated patient, a redirect to the patient's page saying why the record is read-only."""
    if patient.is_active:
        return None
    messages.error(request, patient.read_only_reason)
    return redirect(patient)
