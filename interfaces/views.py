"""The message log and its queue: what laboratories sent, and the held messages a clinician resolves."""

from django.contrib import messages as notices
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.forms import add_service_errors
from patients.models import AccessLogEntry
from patients.services import log_access

from . import csv_import, jobs, services, upload
from .forms import ConfirmImportForm, MatchForm, MessageFilterForm, RejectForm, UploadForm
from .models import ImportJob, InboundMessage
from .oru import Refused, read_oru

MESSAGES_PER_PAGE = 50
# Matching or reprocessing files results, so it needs a clinician's right to enter them too.
ACT = ("interfaces.change_inboundmessage", "labs.add_result")


@permission_required("interfaces.view_inboundmessage", raise_exception=True)
def message_list(request):
    form = MessageFilterForm(request.GET or None)
    messages = InboundMessage.objects.select_related("patient").defer("raw", "ack", "skipped")
    job_id = None
    if form.is_valid():
        messages = form.filter(messages)
        job_id = form.cleaned_data["job"]
    page = Paginator(messages.order_by("-received_at", "-id"), MESSAGES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "job_id": job_id}
    return render(request, "interfaces/message_list.html", context)


def _message_page(request, message, *, match_form=None, reject_form=None, status=200):
    try:
        identity = read_oru(message.raw).patient
    except Refused:
        identity = None
    imported = message.imported_results.select_related("result__analyte").order_by("id")
    context = {
        "message": message,
        "identity": identity,
        "imported": imported,
        "match_form": match_form or MatchForm(),
        "reject_form": reject_form or RejectForm(),
        "can_act": message.is_open and request.user.has_perms(ACT),
        # The uploaded file it came in, linked only for who may open it (its uploader, administrators).
        "job_shown": bool(message.import_job_id)
        and jobs.jobs_for(request.user).filter(pk=message.import_job_id).exists(),
    }
    return render(request, "interfaces/message_detail.html", context, status=status)


def _get_message(request, pk):
    message = get_object_or_404(InboundMessage.objects.select_related("patient", "received_by", "reviewed_by"), pk=pk)
    log_access(request, message.patient, AccessLogEntry.What.LAB_MESSAGE)
    return message


@permission_required("interfaces.view_inboundmessage", raise_exception=True)
def message_detail(request, pk):
    return _message_page(request, _get_message(request, pk))


def _act(request, message, form, form_name, action):
    """Validate `form`, call `action(cleaned_data)` (a service), then back to the message with its
    notice; a refusal goes back onto the form (400)."""
    if form.is_valid():
        try:
            notice = action(form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            notices.success(request, notice)
            return redirect("interfaces:message_detail", pk=message.pk)
    return _message_page(request, message, status=400, **{form_name: form})


@require_POST
@permission_required(ACT, raise_exception=True)
def match(request, pk):
    message = _get_message(request, pk)
    form = MatchForm(request.POST)

    def match_and_import(data):
        receipt = services.match_and_import(message, patient=form.patient, note=data["note"], by=request.user)
        return f"Matched to {form.patient.mrn}: {receipt.message.get_status_display().lower()}."

    return _act(request, message, form, "match_form", match_and_import)


@require_POST
@permission_required(ACT, raise_exception=True)
def reprocess(request, pk):
    message = _get_message(request, pk)
    try:
        receipt = services.reprocess(message, by=request.user)
    except ValidationError as error:
        notices.error(request, " ".join(error.messages))
    else:
        notices.success(request, f"Processed again: {receipt.message.get_status_display().lower()}.")
    return redirect("interfaces:message_detail", pk=message.pk)


@require_POST
@permission_required(ACT, raise_exception=True)
def reject(request, pk):
    message = _get_message(request, pk)

    def reject_message(data):
        services.reject(message, reason=data["reason"], by=request.user)
        return "The message is rejected; nothing was imported."

    return _act(request, message, RejectForm(request.POST), "reject_form", reject_message)


UPLOAD_SESSION_KEY = "interfaces_upload"
UPLOAD_PERMISSIONS = ACT + ("interfaces.add_inboundmessage", "interfaces.add_importjob")


@permission_required(UPLOAD_PERMISSIONS, raise_exception=True)
def upload_file(request):
    """Upload a file of HL7 messages or a results CSV: first a preview (nothing imported), then, confirmed,
    the import: HL7 messages in the background (interfaces.jobs), a CSV while the page waits."""
    if request.method == "POST" and "confirm" in request.POST:
        if "job" in request.POST:
            return _confirm_job(request)
        return _import_csv(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        file = form.cleaned_data["file"]
        try:
            kind, content, preview = upload.read_and_preview(file.read(upload.MAX_UPLOAD_BYTES + 1), file.name)
        except upload.NotAcceptable as refusal:
            form.add_error("file", str(refusal))
        else:
            return _show_preview(request, form, file.name, kind, content, preview)
    return render(request, "interfaces/upload.html", {"form": form}, status=400 if form.errors else 200)


def _show_preview(request, form, name, kind, content, preview):
    context = {"form": form, kind: preview, "file_name": name}
    if kind == "csv":
        # A CSV waits in the session for its confirmation (at most upload.MAX_CSV_BYTES).
        request.session[UPLOAD_SESSION_KEY] = {"name": name, "kind": kind, "content": content}
        context["fingerprint"] = upload.fingerprint(content)
    else:
        # HL7 messages wait in their import job, which the confirmation queues.
        job = jobs.create_job(content, file_name=name, by=request.user)
        context["confirm_form"] = ConfirmImportForm(job_id=job.pk, user=request.user)
    return render(request, "interfaces/upload.html", context)


def _confirm_job(request):
    raw_id = request.POST.get("job", "")
    job_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 10 else 0
    form = ConfirmImportForm(request.POST, job_id=job_id, user=request.user)
    if form.is_valid():
        try:
            with transaction.atomic():
                form.consume_form_key()
                job = jobs.confirm_job(form.cleaned_data["job"], by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect("interfaces:import_job", pk=job.pk)
    job = jobs.jobs_for(request.user).filter(pk=job_id).first()
    if job is not None and job.status != ImportJob.Status.PREVIEWED:
        # Pressed again after the import started: the job's page shows how it is going.
        for error in form.non_field_errors():
            notices.error(request, error)
        return redirect("interfaces:import_job", pk=job.pk)
    for error in form.non_field_errors() or ["That preview is not yours or no longer exists: upload the file again."]:
        notices.error(request, error)
    return redirect("interfaces:upload")


def _import_csv(request):
    pending = request.session.get(UPLOAD_SESSION_KEY)
    if not pending or upload.fingerprint(pending["content"]) != request.POST.get("fingerprint"):
        notices.error(request, "That preview has expired or was replaced by another upload: upload the file again.")
        return redirect("interfaces:upload")
    del request.session[UPLOAD_SESSION_KEY]
    panels, results, refused = csv_import.import_csv(csv_import.plan_csv(pending["content"]), by=request.user)
    notices.success(request, f"{pending['name']}: {results} results recorded in {panels} panels.")
    for reason in refused:
        notices.error(request, reason)
    return redirect("home")


# --- uploads imported in the background ------------------------------------------------------------

JOBS_PER_PAGE = 50
# The messages of a finished job that need someone, listed on its page (the rest: the filtered log).
JOB_PROBLEMS_SHOWN = 50


def _get_job(request, pk):
    """The job if `request.user` may see it (their own; administrators every one), else 404."""
    return get_object_or_404(jobs.jobs_for(request.user), pk=pk)


@permission_required("interfaces.view_importjob", raise_exception=True)
def import_jobs(request):
    page = Paginator(jobs.jobs_for(request.user).exclude(status=ImportJob.Status.PREVIEWED), JOBS_PER_PAGE)
    return render(request, "interfaces/import_jobs.html", {"page": page.get_page(request.GET.get("page"))})


def _progress(job):
    counts = {name: getattr(job, name) for name in ("imported", "skipped", "held", "rejected", "errors")}
    return {
        "status": job.status,
        "status_text": job.get_status_display(),
        "total": job.total,
        "done": job.done,
        "percent": job.percent,
        "counts": counts,
        "results_created": job.results_created,
        "over": job.is_over,
        "stalled": job.is_stalled(),
    }


@permission_required("interfaces.view_importjob", raise_exception=True)
def import_job(request, pk):
    job = _get_job(request, pk)
    problems = []
    if job.is_over:
        problems = list(
            job.received_messages.filter(status__in=(*InboundMessage.OPEN, InboundMessage.Status.REJECTED))
            .select_related("patient")
            .only("id", "status", "control_id", "sending_facility", "errors", "received_at", "patient__mrn")
            .order_by("id")[:JOB_PROBLEMS_SHOWN]
        )
    log = reverse("interfaces:message_list") + f"?job={job.pk}"
    context = {
        "job": job,
        "progress": _progress(job),
        "problems": problems,
        "log": log,
        "may_resume": request.user.has_perms(UPLOAD_PERMISSIONS),
    }
    return render(request, "interfaces/import_job.html", context)


@require_POST
@permission_required(UPLOAD_PERMISSIONS, raise_exception=True)
def resume_import_job(request, pk):
    """Enqueue a stalled import again (its worker stopped); it goes on after the last message counted.
    Pressed twice, the second run finds the first importing and leaves the job to it."""
    job = _get_job(request, pk)
    try:
        jobs.resume_job(job)
    except ValidationError as error:
        notices.error(request, " ".join(error.messages))
    else:
        notices.success(request, f"The import of {job.file_name} goes on after message {job.done} of {job.total}.")
    return redirect("interfaces:import_job", pk=job.pk)


@require_GET
@permission_required("interfaces.view_importjob", raise_exception=True)
def import_job_progress(request, pk):
    """The job's counts as JSON, for the progress bar's script (static/js/import_progress.js)."""
    return JsonResponse(_progress(_get_job(request, pk)))
