"""Lab pages: enter a panel, the patient chart, correct a result, mark it entered in error, its history.

Write views take the service they call as a keyword argument (defaulting to the labs one), so the
project's URLs can pass a wrapper that does more in the same transaction (guidance's findings) without
labs importing guidance and without signals.
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from patients.models import AccessLogEntry
from patients.services import log_access
from patients.views import get_patient_for

from . import services
from .forms import CorrectionForm, EnteredInErrorForm, PanelEntryForm
from .models import Result


def _patient_context(patient):
    """What the shared patient header needs."""
    return {"patient": patient, "factors": patient.contributing_factors.all()}


def get_result_for(user, pk, *, perm):
    """The one way views fetch a result: 404 if missing, 403 without the permission."""
    if not user.has_perm(perm):
        raise PermissionDenied
    return get_object_or_404(Result.objects.select_related("analyte", "patient", "panel"), pk=pk)


@permission_required(["labs.add_panel", "labs.add_result"], raise_exception=True)
def enter_results(request, pk, record_panel=services.record_panel):
    patient = get_patient_for(request.user, pk)
    form = PanelEntryForm(request.POST or None, patient=patient)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            panel = record_panel(
                patient=patient,
                collected_at=data["collected_at"],
                entries=data["entries"],
                by=request.user,
                lab_name=data["lab_name"],
                accession_number=data["accession_number"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            count = len(data["entries"])
            when = timezone.localtime(panel.collected_at)
            messages.success(
                request, f"Saved {count} result{'s' if count != 1 else ''} collected {when:%d %b %Y %H:%M}."
            )
            return redirect(patient)
    return render(request, "labs/enter_results.html", {"form": form, **_patient_context(patient)})


def correct_result(request, pk, correct=services.correct_result):
    result = get_result_for(request.user, pk, perm="labs.change_result")
    if result.status == Result.Status.ENTERED_IN_ERROR:
        messages.error(request, "This result was marked entered in error; it cannot be corrected.")
        return redirect(result.patient)
    form = CorrectionForm(request.POST or None, result=result)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            correct(result, value=data["value"], unit=data["unit"], reason=data["reason"], by=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                f"Corrected {result.analyte.name} to {result.value_entered} {result.unit_entered} "
                f"({result.get_flag_display()}). The earlier value is kept in the result's history.",
            )
            return redirect(result.patient)
    return render(
        request, "labs/correct_result.html", {"form": form, "result": result, **_patient_context(result.patient)}
    )


def mark_entered_in_error(request, pk, mark_in_error=services.mark_entered_in_error):
    result = get_result_for(request.user, pk, perm="labs.change_result")
    if result.status == Result.Status.ENTERED_IN_ERROR:
        messages.info(request, "This result is already marked entered in error.")
        return redirect(result.patient)
    form = EnteredInErrorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mark_in_error(result, reason=form.cleaned_data["reason"], by=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, f"Marked the {result.analyte.name} result entered in error. It stays visible, struck through."
            )
            return redirect(result.patient)
    return render(
        request, "labs/entered_in_error.html", {"form": form, "result": result, **_patient_context(result.patient)}
    )


def result_history(request, pk):
    result = get_result_for(request.user, pk, perm="labs.view_result")
    log_access(request, result.patient, AccessLogEntry.What.RESULT_HISTORY)
    versions = result.history.select_related("updated_by").order_by("-history_date", "-history_id")
    return render(
        request,
        "labs/result_history.html",
        {"result": result, "versions": versions, **_patient_context(result.patient)},
    )
