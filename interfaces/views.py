"""The message log and its queue: what laboratories sent, and the held messages a clinician resolves."""

from django.contrib import messages as notices
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.forms import add_service_errors
from patients.models import AccessLogEntry
from patients.services import log_access

from . import csv_import, services, upload
from .forms import MatchForm, MessageFilterForm, RejectForm, UploadForm
from .models import InboundMessage
from .oru import Refused, read_oru

MESSAGES_PER_PAGE = 50
# Matching or reprocessing files results, so it needs a clinician's right to enter them too.
ACT = ("interfaces.change_inboundmessage", "labs.add_result")


@permission_required("interfaces.view_inboundmessage", raise_exception=True)
def message_list(request):
    form = MessageFilterForm(request.GET or None)
    messages = InboundMessage.objects.select_related("patient").defer("raw", "ack", "skipped")
    if form.is_valid():
        messages = form.filter(messages)
    page = Paginator(messages.order_by("-received_at", "-id"), MESSAGES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "interfaces/message_list.html", {"form": form, "page": page, "query": query.urlencode()})


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


@permission_required(ACT + ("interfaces.add_inboundmessage",), raise_exception=True)
def upload_file(request):
    """Upload a file of HL7 messages or a results CSV: first a preview (nothing saved), then, confirmed,
    the import."""
    if request.method == "POST" and "confirm" in request.POST:
        return _import_upload(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        file = form.cleaned_data["file"]
        try:
            kind, content, preview = upload.read_and_preview(file.read(upload.MAX_UPLOAD_BYTES + 1), file.name)
        except upload.NotAcceptable as refusal:
            form.add_error("file", str(refusal))
        else:
            # What was previewed waits in the session for the confirmation (at most 2 MB).
            request.session[UPLOAD_SESSION_KEY] = {"name": file.name, "kind": kind, "content": content}
            context = {"form": form, kind: preview, "fingerprint": upload.fingerprint(content)}
            return render(request, "interfaces/upload.html", context)
    return render(request, "interfaces/upload.html", {"form": form}, status=400 if form.errors else 200)


def _import_upload(request):
    pending = request.session.get(UPLOAD_SESSION_KEY)
    if not pending or upload.fingerprint(pending["content"]) != request.POST.get("fingerprint"):
        notices.error(request, "That preview has expired or was replaced by another upload: upload the file again.")
        return redirect("interfaces:upload")
    del request.session[UPLOAD_SESSION_KEY]
    if pending["kind"] == "csv":
        panels, results, refused = csv_import.import_csv(csv_import.plan_csv(pending["content"]), by=request.user)
        notices.success(request, f"{pending['name']}: {results} results recorded in {panels} panels.")
        for reason in refused:
            notices.error(request, reason)
        return redirect("home")
    counts = upload.import_all(pending["content"], by=request.user)
    labels = dict(InboundMessage.Status.choices)
    summary = ", ".join(f"{labels[status].lower()}: {count}" for status, count in sorted(counts.items()))
    notices.success(request, f"{pending['name']}: {sum(counts.values())} messages received ({summary}).")
    return redirect("interfaces:message_list")
