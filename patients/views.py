from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.shortcuts import redirect, render

from core.forms import add_service_errors
from core.pagination import IdsFirstPaginator

from . import services
from .access import get_patient_for, refuse_if_read_only
from .forms import PatientForm, PatientSearchForm
from .models import AccessLogEntry, Patient

PATIENTS_PER_PAGE = 50

# Search results by name, in the same order as the list (names are never null, so NULLS FIRST changes
# nothing). On PostgreSQL it stops the name index (patient_list_by_name_idx) from serving the order:
# for a page of 50 the planner would walk that index and filter 40,000 patients to reach the Smiths
# (31 ms), where reading the ~900 matches through the trigram indexes and sorting them takes 3 ms.
SEARCH_BY_NAME = (
    F("family_name").asc(nulls_first=True),
    F("given_name").asc(nulls_first=True),
    "id",
)


@permission_required("patients.view_patient", raise_exception=True)
def patient_list(request):
    form = PatientSearchForm(request.GET or None)
    patients = Patient.objects.active()
    ordering = PatientSearchForm.SORTS["name"]
    if form.is_valid():
        ordering = form.ordering()
        if form.cleaned_data["q"]:
            patients = patients.search(form.cleaned_data["q"])
            if ordering == PatientSearchForm.SORTS["name"]:
                ordering = SEARCH_BY_NAME
    page = IdsFirstPaginator(patients.order_by(*ordering), PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "patients/patient_list.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


def _save_patient(request, form, save):
    """Validate `form`, call the service; model-level errors go back onto the form."""
    if form.is_valid():
        data = dict(form.cleaned_data)
        try:
            return save(**data)
        except ValidationError as error:
            add_service_errors(form, error)
    return None


@permission_required("patients.add_patient", raise_exception=True)
def patient_create(request):
    form = PatientForm(request.POST or None, submit_label="Register patient", registering_user=request.user)

    def register(**data):
        with transaction.atomic():
            form.consume_form_key()
            return services.register_patient(by=request.user, **data)

    if request.method == "POST":
        patient = _save_patient(request, form, register)
        if patient:
            messages.success(request, f"Registered {patient.full_name} ({patient.mrn}).")
            return redirect(patient)
    return render(request, "patients/patient_form.html", {"form": form, "title": "Register a patient"})


def patient_edit(request, pk):
    patient = get_patient_for(request.user, pk, perm="patients.change_patient")
    if refused := refuse_if_read_only(request, patient):
        return refused
    services.log_access(request, patient, AccessLogEntry.What.PATIENT_EDIT)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST":
        saved = _save_patient(request, form, lambda **data: services.update_patient(patient, by=request.user, **data))
        if saved:
            messages.success(request, f"Saved changes to {saved.full_name} ({saved.mrn}).")
            return redirect(saved)
    return render(
        request,
        "patients/patient_form.html",
        {"form": form, "patient": patient, "title": f"Edit {patient.full_name}"},
    )
