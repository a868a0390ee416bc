import datetime

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.forms import add_service_errors
from core.pagination import IdsFirstPaginator
from labs.access import get_result_for
from labs.forms import CorrectionForm, EnteredInErrorForm, PanelEntryForm, interpret_typed
from labs.models import Analyte, Panel, Result
from labs.selectors import results_sections
from labs.trends import DEFAULT_SPAN, UnknownSpan, parse_span, patient_analytes, trend_section
from patients.access import get_patient_for, patient_header_context, refuse_if_read_only
from patients.models import AccessLogEntry
from patients.services import log_access

from . import selectors, services
from .forms import AcknowledgeForm, NoActionForm, OutcomeForm, PlanForm, ReportDecisionForm
from .models import ActionType, Finding, FollowUpPlan, Topic


def _require(user, perm):
    if not user.has_perm(perm):
        raise PermissionDenied


def get_finding_for(user, pk, *, perm="guidance.view_finding"):
    """The one way views fetch a finding: 403 without the permission, 404 if missing."""
    _require(user, perm)
    try:
        return selectors.finding_detail(pk)
    except Finding.DoesNotExist as exc:
        raise Http404("No such finding.") from exc


def get_plan_for(user, pk, *, perm="guidance.change_followupplan"):
    _require(user, perm)
    return get_object_or_404(
        FollowUpPlan.objects.select_related("patient", "finding__result__analyte", "owner", "updated_by"), pk=pk
    )


# --- worklist ------------------------------------------------------------------------------------


@permission_required("guidance.view_finding", raise_exception=True)
def worklist(request):
    everyone = request.GET.get("plans") == "everyone"
    today = timezone.localdate()
    sections = selectors.worklist_sections(user=request.user, everyone=everyone, today=today)
    return render(request, "guidance/worklist.html", {"sections": sections})


WORKLIST_PAGE_SIZE = 50
REPORTS_PAGE_SIZE = 20
WORKLIST_TITLES = {
    "reports": "Reports awaiting review",
    "critical": "Critical results awaiting acknowledgement",
    "awaiting": "Abnormal results awaiting review",
    "plans": "Follow-ups due or overdue",
}


@permission_required("guidance.view_finding", raise_exception=True)
def worklist_list(request, which):
    """One of the worklist's lists in full, a page at a time: the home page shows only its first rows."""
    if which not in WORKLIST_TITLES:
        raise Http404("No such worklist.")
    everyone = request.GET.get("plans") == "everyone"
    today = timezone.localdate()
    if which == "reports":
        page = Paginator(selectors.ReportsAwaitingReview(), REPORTS_PAGE_SIZE).get_page(request.GET.get("page"))
        return render(
            request,
            "guidance/worklist_list.html",
            {
                "which": which,
                "title": WORKLIST_TITLES[which],
                "page": page,
                "reports": selectors.report_rows(
                    page.object_list, overdue_before=selectors.critical_overdue_before(timezone.now())
                ),
                "query": "",
            },
        )
    rows = {
        "critical": selectors.critical_findings,
        "awaiting": selectors.findings_awaiting_review,
        "plans": lambda: selectors.plans_needing_attention(user=request.user, everyone=everyone, today=today),
    }[which]()
    page = IdsFirstPaginator(rows, WORKLIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "guidance/worklist_list.html",
        {
            "which": which,
            "critical_list": which == "critical",
            "title": WORKLIST_TITLES[which],
            "page": page,
            "everyone": everyone,
            "today": today,
            "query": "plans=everyone" if which == "plans" and everyone else "",
        },
    )


# --- reviewing a report in one go -----------------------------------------------------------------


def get_report_for(user, pk, *, perm="guidance.view_finding"):
    """A report (panel) with its results and review items: 403 without the permission, 404 if missing."""
    _require(user, perm)
    try:
        return selectors.report_detail(pk)
    except Panel.DoesNotExist as exc:
        raise Http404("No such report.") from exc


def _report_page(request, report, *, acknowledge_form=None, decision_form=None, status=200):
    panel, results, items = report
    log_access(request, panel.patient, AccessLogEntry.What.FINDING)
    findings = [finding for item in items for finding in item.findings]
    to_acknowledge = [finding for finding in findings if finding.status == Finding.Status.OPEN]
    acknowledge_form = acknowledge_form or AcknowledgeForm(critical=any(f.critical for f in to_acknowledge))
    acknowledge_form.helper.form_action = reverse("guidance:report_acknowledge", args=[panel.pk])
    decision_form = decision_form or ReportDecisionForm(
        initial={"owner": request.user, "due_date": timezone.localdate() + datetime.timedelta(days=28)}
    )
    ticked = set(decision_form["findings"].value() or []) if decision_form.is_bound else set()
    return render(
        request,
        "guidance/report_review.html",
        {
            "panel": panel,
            "patient": panel.patient,
            "results": results,
            "items": items,
            "finding_count": len(findings),
            "to_acknowledge": to_acknowledge,
            "acknowledge_form": acknowledge_form,
            "decision_form": decision_form,
            "ticked": {str(pk) for pk in ticked},
        },
        status=status,
    )


def report_review(request, pk):
    return _report_page(request, get_report_for(request.user, pk))


@require_POST
def report_acknowledge(request, pk):
    report = get_report_for(request.user, pk, perm="guidance.change_finding")
    panel, _results, items = report
    critical = any(f.critical and f.status == Finding.Status.OPEN for item in items for f in item.findings)
    form = AcknowledgeForm(request.POST, critical=critical)
    if form.is_valid():
        try:
            done = services.acknowledge_report(
                panel, comment=form.cleaned_data["comment"], call=form.call(), by=request.user
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, f"Acknowledged {len(done)} finding{'s' if len(done) != 1 else ''} of this report."
            )
            return redirect("guidance:report", pk=panel.pk)
    return _report_page(request, report, acknowledge_form=form, status=400)


@require_POST
def report_decide(request, pk):
    report = get_report_for(request.user, pk, perm="guidance.change_finding")
    panel = report[0]
    form = ReportDecisionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        planning = data["decision"] == ReportDecisionForm.PLAN
        if planning:
            _require(request.user, "guidance.add_followupplan")
        try:
            decided = services.decide_report(
                panel,
                leads=data["findings"],
                reason=data["reason"],
                plan=form.plan_fields() if planning else None,
                by=request.user,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            what = "one follow-up planned" if planning else "no action needed"
            messages.success(request, f"Decided {len(decided)} finding{'s' if len(decided) != 1 else ''}: {what}.")
            return redirect("guidance:report", pk=panel.pk)
    return _report_page(request, report, decision_form=form, status=400)


# --- reviewing a finding ---------------------------------------------------------------------------


def _finding_page(request, finding, *, acknowledge_form=None, no_action_form=None, status=200):
    log_access(request, finding.patient, AccessLogEntry.What.FINDING)
    acknowledge_form = acknowledge_form or AcknowledgeForm(critical=finding.critical)
    acknowledge_form.helper.form_action = reverse("guidance:acknowledge", args=[finding.pk])
    no_action_form = no_action_form or NoActionForm()
    no_action_form.helper.form_action = reverse("guidance:no_action", args=[finding.pk])
    return render(
        request,
        "guidance/finding_detail.html",
        {
            "finding": finding,
            "patient": finding.patient,
            "acknowledge_form": acknowledge_form,
            "no_action_form": no_action_form,
            "history": finding.history.select_related("history_user").order_by("history_date", "history_id"),
            **selectors.finding_context(finding),
        },
        status=status,
    )


def finding_detail(request, pk):
    return _finding_page(request, get_finding_for(request.user, pk))


@require_POST
def finding_acknowledge(request, pk):
    finding = get_finding_for(request.user, pk, perm="guidance.change_finding")
    form = AcknowledgeForm(request.POST, critical=finding.critical)
    if form.is_valid():
        try:
            services.acknowledge(finding, comment=form.cleaned_data["comment"], call=form.call(), by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Finding acknowledged. It stays on the worklist until you record a decision.")
            return redirect("guidance:finding", pk=finding.pk)
    return _finding_page(request, finding, acknowledge_form=form)


@require_POST
def finding_no_action(request, pk):
    finding = get_finding_for(request.user, pk, perm="guidance.change_finding")
    form = NoActionForm(request.POST)
    if form.is_valid():
        try:
            services.decide_no_action(finding, reason=form.cleaned_data["reason"], by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Recorded: no action needed.")
            return redirect("guidance:finding", pk=finding.pk)
    return _finding_page(request, finding, no_action_form=form)


# --- follow-up plans -----------------------------------------------------------------------------


def plan_create(request, pk):
    finding = get_finding_for(request.user, pk, perm="guidance.add_followupplan")
    _require(request.user, "guidance.change_finding")
    if refused := refuse_if_read_only(request, finding.patient):
        return refused
    rule = finding.rule
    action = rule.action_type if rule else ActionType.REPEAT_TEST
    initial = {
        "action_type": action,
        "analyte": finding.result.analyte if action == ActionType.REPEAT_TEST else None,
        "due_date": services.default_due_date(finding),
        "owner": request.user,
    }
    form = PlanForm(
        request.POST or None, initial=initial, submit_label="Save plan", new_plan_for=finding, user=request.user
    )
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                form.consume_form_key()
                services.create_plan(finding, by=request.user, **form.plan_fields())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Follow-up planned.")
            return redirect("guidance:finding", pk=finding.pk)
    return render(
        request,
        "guidance/plan_form.html",
        {"form": form, "finding": finding, "patient": finding.patient, "title": "Plan a follow-up"},
    )


def plan_edit(request, pk):
    plan = get_plan_for(request.user, pk)
    if refused := refuse_if_read_only(request, plan.patient):
        return refused
    initial = {name: getattr(plan, name) for name in services.PLAN_FIELDS} | {"version": plan.version}
    form = PlanForm(request.POST or None, initial=initial, submit_label="Save changes")
    if request.method == "POST" and form.is_valid():
        try:
            services.update_plan(plan, version=form.cleaned_data["version"], by=request.user, **form.plan_fields())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Plan saved.")
            return redirect("guidance:finding", pk=plan.finding_id)
    return render(
        request,
        "guidance/plan_form.html",
        {"form": form, "plan": plan, "finding": plan.finding, "patient": plan.patient, "title": "Edit follow-up plan"},
    )


def _plan_close(request, pk, *, close, title, submit_label, done_message):
    plan = get_plan_for(request.user, pk)
    if refused := refuse_if_read_only(request, plan.patient):
        return refused
    form = OutcomeForm(request.POST or None, initial={"version": plan.version}, submit_label=submit_label)
    if request.method == "POST" and form.is_valid():
        try:
            close(plan, outcome=form.cleaned_data["outcome"], version=form.cleaned_data["version"], by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, done_message)
            return redirect("guidance:finding", pk=plan.finding_id)
    return render(
        request,
        "guidance/plan_form.html",
        {"form": form, "plan": plan, "finding": plan.finding, "patient": plan.patient, "title": title},
    )


def plan_complete(request, pk):
    return _plan_close(
        request,
        pk,
        close=services.complete_plan,
        title="Complete follow-up plan",
        submit_label="Mark as done",
        done_message="Plan marked as done.",
    )


def plan_cancel(request, pk):
    return _plan_close(
        request,
        pk,
        close=services.cancel_plan,
        title="Cancel follow-up plan",
        submit_label="Cancel plan",
        done_message="Plan cancelled. If it was the finding's only plan, the finding awaits a decision again.",
    )


# --- explanations ------------------------------------------------------------------------------


@permission_required("guidance.view_topic", raise_exception=True)
def topic_index(request):
    return render(request, "guidance/topic_index.html", {"topics": Topic.objects.filter(active=True)})


@permission_required("guidance.view_topic", raise_exception=True)
def topic_detail(request, slug):
    topics = (
        Topic.objects.all() if request.user.has_perm("guidance.change_topic") else Topic.objects.filter(active=True)
    )
    topic = get_object_or_404(topics, slug=slug)
    sections = [(label, getattr(topic, name)) for name, label in Topic.SECTIONS if getattr(topic, name).strip()]
    return render(request, "guidance/topic_detail.html", {"topic": topic, "sections": sections})


# --- the patient page and the results written from it -------------------------------------------


@permission_required("labs.view_result", raise_exception=True)
def patient_page(request, pk):
    """The patient page: labs' cumulative view and results, with this app's findings, trend charts and
    export links."""
    patient = get_patient_for(request.user, pk)
    log_access(request, patient, AccessLogEntry.What.PATIENT_PAGE)
    context = patient_header_context(patient)
    try:
        span, refused = parse_span(request.GET.get("span")), ""
    except UnknownSpan as error:
        span, refused = DEFAULT_SPAN, str(error)
    analytes = patient_analytes(patient, span=span)  # for the trends and the cached sections
    context["findings_section"] = selectors.findings_section(
        patient, analytes, user=request.user, everything=request.GET.get("findings") == "all"
    )
    context["trend_section"] = trend_section(patient, analytes=analytes, span=span, refused=refused)
    context["results"] = results_sections(
        patient,
        analytes,
        cumulative_page=request.GET.get("cumulative"),
        results_page=request.GET.get("page"),
        can_change=request.user.has_perm("labs.change_result"),
    )
    # A page of dates that does not exist, or a span not offered, is refused with a message on the page
    # (the rest of the page as usual) and a 404 or 400 status.
    status = 404 if context["results"].cumulative_refused else 400 if refused else 200
    return render(request, "guidance/patient_page.html", context, status=status)


@permission_required(["labs.add_panel", "labs.add_result"], raise_exception=True)
def enter_results(request, pk):
    patient = get_patient_for(request.user, pk)
    if refused := refuse_if_read_only(request, patient):
        return refused
    form = PanelEntryForm(request.POST or None, patient=patient, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                form.consume_form_key()
                panel = services.record_results(
                    patient=patient,
                    collected_at=data["collected_at"],
                    entries=data["entries"],
                    by=request.user,
                    lab_name=data["lab_name"],
                    accession_number=data["accession_number"],
                    specimen_condition=data["specimen_condition"],
                    comment=data["comment"],
                )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            count = len(data["entries"])
            when = timezone.localtime(panel.collected_at)
            messages.success(
                request, f"Saved {count} result{'s' if count != 1 else ''} collected {when:%d %b %Y %H:%M}."
            )
            return redirect(patient)
    return render(request, "guidance/enter_results.html", {"form": form, **patient_header_context(patient)})


@permission_required(["labs.add_panel", "labs.add_result"], raise_exception=True)
def interpret_value(request, pk):
    """The entry page's live reading of one typed value (static/js/entry.js asks as the clinician types):
    labs.forms.interpret_typed, the save's own checks and interpretation, as JSON. Saves nothing."""
    patient = get_patient_for(request.user, pk)
    analyte = (
        Analyte.objects.filter(active=True, code=request.GET.get("analyte", ""))
        .prefetch_related("units", "ranges")
        .first()
    )
    if analyte is None:
        return JsonResponse({"error": "No such analyte in the catalogue."}, status=400)
    unit = next((u for u in analyte.units.all() if str(u.pk) == request.GET.get("unit") and u.active), None)
    try:
        collected_at = timezone.make_aware(
            datetime.datetime.strptime(request.GET.get("collected_at", ""), "%Y-%m-%dT%H:%M")
        )
    except ValueError:
        collected_at = timezone.now()  # the range for today while the collection time is not typed yet
    return JsonResponse(interpret_typed(patient, analyte, request.GET.get("value", "")[:100], unit, collected_at))


def correct_result(request, pk):
    result = get_result_for(request.user, pk, perm="labs.change_result")
    if result.status == Result.Status.ENTERED_IN_ERROR:
        messages.error(request, "This result was marked entered in error; it cannot be corrected.")
        return redirect(result.patient)
    if refused := refuse_if_read_only(request, result.patient):
        return refused
    form = CorrectionForm(request.POST or None, result=result)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.correct_result(
                result,
                value=data["value"],
                unit=data["unit"],
                comparator=data["comparator"],
                reason=data["reason"],
                by=request.user,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                f"Corrected {result.analyte.name} to {result.entered_text} {result.unit_entered} "
                f"({result.get_flag_display()}). The earlier value is kept in the result's history.",
            )
            return redirect(result.patient)
    return render(
        request,
        "guidance/correct_result.html",
        {"form": form, "result": result, **patient_header_context(result.patient)},
    )


def mark_entered_in_error(request, pk):
    result = get_result_for(request.user, pk, perm="labs.change_result")
    if result.status == Result.Status.ENTERED_IN_ERROR:
        messages.info(request, "This result is already marked entered in error.")
        return redirect(result.patient)
    if refused := refuse_if_read_only(request, result.patient):
        return refused
    form = EnteredInErrorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.mark_entered_in_error(result, reason=form.cleaned_data["reason"], by=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, f"Marked the {result.analyte.name} result entered in error. It stays visible, struck through."
            )
            return redirect(result.patient)
    return render(
        request,
        "guidance/entered_in_error.html",
        {"form": form, "result": result, **patient_header_context(result.patient)},
    )
