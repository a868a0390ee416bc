"""Writes to lab results, findings and follow-up plans. Each function is one user action in one transaction.

A lab result is saved, corrected or withdrawn only here, and each of those writes brings the findings of
its panel in line in the same transaction: no caller (a view, an import, a script) can save a result
without its findings, and labs, below this app, never needs to call up to it.
"""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from core.text import display_name
from labs.deltas import fired
from labs.models import Analyte, AnalyteUnit, DeltaRule, Panel, Result
from labs.services import Entry, canonical_or_refuse, interpret_result
from patients.models import Patient
from patients.services import touch_patient

from .findings import build_finding
from .models import ActionType, Finding, FollowUpPlan, Rule, Severity, Topic
from .rules import match_rules

# --- results ---------------------------------------------------------------------------------------

# What record_results checks once for all of a panel's results instead of per result in full_clean(): the
# panel (just saved), its patient and user (the panel's full_clean), the analytes (loaded from the
# catalogue) and their ranges (chosen among those loaded). Its constraints are checked before saving too:
# one result per analyte (the duplicate check) and no negative value (canonical_or_refuse).
CHECKED_FOR_THE_PANEL = ["panel", "patient", "analyte", "reference_range", "updated_by"]


@transaction.atomic
def record_results(
    *,
    patient: Patient,
    collected_at: datetime.datetime,
    entries: list[Entry],
    by,
    lab_name: str = "",
    accession_number: str = "",
    source: str = Panel.Source.MANUAL,
) -> Panel:
    """Save a panel and its results whole, or nothing (raises ValidationError); open the findings they
    call for and meet the planned repeat tests they answer."""
    if not entries:
        raise ValidationError("Enter at least one result: the panel is empty.")
    analyte_ids = [entry.analyte.pk for entry in entries]
    if len(set(analyte_ids)) != len(analyte_ids):
        raise ValidationError("The same analyte appears twice in this panel; enter each analyte once.")
    for entry in entries:
        if entry.unit.analyte_id != entry.analyte.pk:
            raise ValidationError(f"{entry.unit.unit} is not a unit of {entry.analyte.name}.")
    # Each analyte and all its range versions in two queries for the whole panel; this also proves the
    # analytes exist, which full_clean() would otherwise check with a query per result.
    catalogue = Analyte.objects.prefetch_related("ranges").in_bulk(analyte_ids)
    missing = [entry.analyte.name for entry in entries if entry.analyte.pk not in catalogue]
    if missing:
        raise ValidationError(f"Not in the analyte catalogue: {', '.join(missing)}.")
    panel = Panel(
        patient=patient,
        collected_at=collected_at,
        lab_name=lab_name.strip(),
        accession_number=accession_number.strip(),
        source=source,
        entered_by=by,
    )
    panel.full_clean()
    panel.save()
    results = []
    for entry in entries:
        analyte = catalogue[entry.analyte.pk]
        result = Result(
            panel=panel,
            patient=patient,
            collected_at=collected_at,
            analyte=analyte,
            value_entered=entry.value,
            unit_entered=entry.unit.unit,
            value=canonical_or_refuse(analyte, entry.value, entry.unit),
            updated_by=by,
        )
        interpret_result(result, patient)
        result.full_clean(exclude=CHECKED_FOR_THE_PANEL, validate_constraints=False)
        results.append(result)
    # One insert for the results and one for their history rows (the audit trail), whatever their number.
    bulk_create_with_history(results, Result, default_user=by)
    touch_patient(patient)
    results = list(panel.results.select_related("analyte"))  # with their ids; all valid, just recorded
    evaluate_panel(panel, by=by, note="", results=results)
    evaluate_deltas(results, by=by, note="")
    _meet_repeat_plans(panel, results, by=by)
    return panel


@transaction.atomic
def correct_result(result: Result, *, value: Decimal, unit: AnalyteUnit, reason: str, by) -> Result:
    """Replace a result's value, keeping the earlier one in history with who, when and why, and bring the
    panel's findings in line with the new value."""
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the correction."})
    if result.status == Result.Status.ENTERED_IN_ERROR:
        raise ValidationError("This result was marked entered in error and cannot be corrected.")
    result.value_entered = value
    result.unit_entered = unit.unit
    result.value = canonical_or_refuse(result.analyte, value, unit)
    interpret_result(result, result.patient)
    result.status = Result.Status.CORRECTED
    result.status_reason = reason.strip()
    result.updated_by = by
    result.full_clean()
    result._change_reason = reason.strip()  # django-simple-history stores it on the history row
    result.save()
    touch_patient(result.patient)
    shown = f"{result.display_value} {result.analyte.canonical_unit} ({result.get_flag_display().lower()})"
    note = f"{result.analyte.name} corrected to {shown}: {reason.strip()}"
    evaluate_panel(result.panel, by=by, note=note)
    evaluate_deltas([result], by=by, note=note)
    return result


@transaction.atomic
def mark_entered_in_error(result: Result, *, reason: str, by) -> Result:
    """Withdraw a result that should never have been recorded (it stays visible, struck through), resolve
    the findings that relied on it and take it back from the planned repeat tests it met."""
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason the result was entered in error."})
    result.status = Result.Status.ENTERED_IN_ERROR
    result.status_reason = reason.strip()
    result.updated_by = by
    result._change_reason = reason.strip()
    result.save()
    touch_patient(result.patient)
    note = f"{result.analyte.name} marked entered in error: {reason.strip()}"
    evaluate_panel(result.panel, by=by, note=note)
    evaluate_deltas([result], by=by, note=note)
    _unmeet_repeat_plans(result, by=by)
    return result


def evaluate_panel(panel: Panel, *, by, note: str, results: list[Result] | None = None) -> None:
    """Bring the panel's findings in line with its results.

    A finding still called for is left as it is (with its review); one no longer called for (value back
    in range, result withdrawn, pattern broken, criticality changed) is resolved with `note`; a newly
    called-for one is opened. Findings are keyed by result, rule, pattern partner and criticality, so a
    value that turns critical on correction needs a fresh acknowledgement. `results` are the panel's
    valid results with their analytes, when the caller has them already.

    The queries do not grow with the panel: the rules, the open findings and the patient's factors are
    read once, and the findings resolved and opened are written with their history rows in bulk.
    """
    if results is None:
        results = list(panel.results.valid().select_related("analyte"))
    # A finding needs only its rule's topic id, so the topics' long texts are not read.
    rules = list(Rule.objects.filter(active=True).prefetch_related("relevant_factors"))
    wanted = {}
    for match in match_rules(results, rules):
        wanted[
            (match.result.pk, match.rule.pk if match.rule else None, _pk(match.partner), match.result.is_critical)
        ] = match
    # Delta findings compare results across panels: evaluate_deltas keeps those.
    existing = Finding.objects.filter(result__panel=panel, delta_rule__isnull=True).exclude(
        status=Finding.Status.RESOLVED
    )
    now = timezone.now()
    _resolve_unwanted(
        existing,
        wanted,
        key=lambda finding: (finding.result_id, finding.rule_id, finding.partner_result_id, finding.critical),
        note=note or "The result no longer calls for this finding.",
        by=by,
        now=now,
    )
    factor_names = {factor.pk: factor.name for factor in panel.patient.contributing_factors.all()}
    opened = [build_finding(match, factor_names=factor_names, opened_at=now) for match in wanted.values()]
    for finding in opened:
        _check_built(finding)
    if opened:
        bulk_create_with_history(opened, Finding, default_user=by, default_change_reason="opened")


def _resolve_unwanted(existing, wanted: dict, *, key, note: str, by, now) -> None:
    """Resolve, with `note` and in bulk with their history, the `existing` findings whose `key` is not in
    `wanted`; take those that are out of `wanted`, so what is left there is to be opened."""
    resolved = []
    for finding in existing:
        if wanted.pop(key(finding), None) is None:
            finding.status = Finding.Status.RESOLVED
            finding.resolved_at, finding.resolved_by = now, by
            finding.resolution_note = note
            _check_built(finding)
            resolved.append(finding)
    if resolved:
        bulk_update_with_history(
            resolved,
            Finding,
            ["status", "resolved_at", "resolved_by", "resolution_note"],
            default_user=by,
            default_change_reason="resolved",
        )


DELTA_TOPIC = "delta-check"


def evaluate_deltas(written: list[Result], *, by, note: str) -> None:
    """Bring the delta findings in line after `written` results were recorded, corrected or withdrawn.

    A delta finding says a result changed from the patient's previous valid result of the test (collected
    earlier, within the analyte's delta rule's window) by more than the rule allows (labs.deltas). A write
    changes the comparison for the result itself and for the next valid result of its test, whose
    previous result it is, was or now is (a result entered late, corrected or withdrawn): both are
    checked. Findings are keyed by result, rule and previous result, so one still called for keeps its
    review; one no longer called for is resolved with `note`.

    Four queries whatever the number of results: the next results, the results to check with their
    previous ones, the rules and the findings there are; then the findings written in bulk (and, when
    one opens, the delta-check topic's id).
    """
    same_test_after = Result.objects.valid().filter(
        patient_id=OuterRef("patient_id"), analyte_id=OuterRef("analyte_id"), collected_at__gt=OuterRef("collected_at")
    )
    written_ids = [result.pk for result in written]
    next_ids = Result.objects.filter(pk__in=written_ids).annotate(
        next_id=Subquery(same_test_after.order_by("collected_at", "id").values("pk")[:1])
    )
    checked_ids = set(written_ids) | {pk for pk in next_ids.values_list("next_id", flat=True) if pk is not None}
    to_check = list(Result.objects.valid().filter(pk__in=checked_ids).select_related("analyte").with_previous())
    analyte_ids = {result.analyte_id for result in to_check}
    rules = {rule.analyte_id: rule for rule in DeltaRule.objects.filter(active=True, analyte_id__in=analyte_ids)}
    wanted = {}
    for result in to_check:
        rule = rules.get(result.analyte_id)
        if fired(rule, result) is not None:
            wanted[(result.pk, rule.pk, result.previous_id)] = (result, rule)
    existing = Finding.objects.filter(result_id__in=checked_ids, delta_rule__isnull=False).exclude(
        status=Finding.Status.RESOLVED
    )
    now = timezone.now()
    _resolve_unwanted(
        existing,
        wanted,
        key=lambda finding: (finding.result_id, finding.delta_rule_id, finding.previous_result_id),
        note=note or "The change from the previous result no longer calls for this finding.",
        by=by,
        now=now,
    )
    if not wanted:
        return
    topic_id = Topic.objects.filter(slug=DELTA_TOPIC).values_list("pk", flat=True).first()
    opened = [
        Finding(
            patient_id=result.patient_id,
            result=result,
            previous_result_id=previous_id,
            delta_rule=rule,
            topic_id=topic_id,
            severity=Severity.PROMPT,
            # The result's own critical finding, if it is critical, carries the acknowledgement.
            critical=False,
            summary=(
                f"{result.analyte.name} changed by more than its delta rule allows ({rule.describe()}) since the "
                "previous result, even if both values are within range: an acute change in the patient, or a "
                "problem with one of the samples (haemolysis, the wrong patient, a drip arm) or a different "
                "laboratory's method. Check which before acting on either value."
            ),
            created_at=now,
        )
        for (_result_id, _rule_id, previous_id), (result, rule) in wanted.items()
    ]
    for finding in opened:
        _check_built(finding)
    bulk_create_with_history(opened, Finding, default_user=by, default_change_reason="opened")


def _pk(obj):
    return obj.pk if obj is not None else None


def _meet_repeat_plans(panel: Panel, results: list[Result], *, by) -> None:
    """A planned repeat test is met by a later result of its analyte for the patient: link the two.

    `results` are the panel's valid results; the plans they meet are updated in bulk with their history.
    """
    results = {result.analyte_id: result for result in results}
    plans = FollowUpPlan.objects.planned().filter(
        patient=panel.patient,
        action_type=ActionType.REPEAT_TEST,
        analyte_id__in=results,
        met_result__isnull=True,
        finding__result__collected_at__lt=panel.collected_at,
    )
    now = timezone.now()
    met = list(plans.select_for_update())
    for plan in met:
        plan.met_result = results[plan.analyte_id]
        plan.met_at = now
        plan.version += 1
        plan.updated_at, plan.updated_by = now, by
        _check_built(plan)
    if met:
        bulk_update_with_history(
            met,
            FollowUpPlan,
            ["met_result", "met_at", "version", "updated_at", "updated_by"],
            default_user=by,
            default_change_reason="repeat test result received",
        )


def _unmeet_repeat_plans(result: Result, *, by) -> None:
    """A result entered in error no longer counts, so it no longer meets a planned repeat test: the plan
    goes to the next valid result of its test collected after the finding's, or back to waiting for one,
    and the worklist stops offering to close it on the withdrawn value. Closed plans keep their record."""
    plans = FollowUpPlan.objects.planned().filter(met_result=result).select_related("finding__result")
    now = timezone.now()
    for plan in plans.select_for_update():
        plan.met_result = (
            Result.objects.valid()
            .filter(
                patient_id=plan.patient_id,
                analyte_id=plan.analyte_id,
                collected_at__gt=plan.finding.result.collected_at,
            )
            .order_by("collected_at", "id")
            .first()
        )
        plan.met_at = now if plan.met_result else None
        plan.version += 1
        plan.updated_at, plan.updated_by = now, by
        _save(plan, reason="repeat test result entered in error")


def _check_built(obj) -> None:
    """full_clean() for findings and plans that saving results builds or updates in bulk.

    Their foreign keys point at rows this transaction has just read or written (the patient, the
    results, the rules and topics, the acting user), so checking each again would cost a query apiece
    and prove nothing; their constraints are mirrored in clean(), which runs.
    """
    relations = [field.name for field in obj._meta.concrete_fields if field.is_relation]
    obj.full_clean(exclude=relations, validate_constraints=False)


def _save(obj, *, reason: str) -> None:
    obj.full_clean()
    obj._change_reason = reason  # django-simple-history keeps it on the history row
    obj.save()


# --- reviewing findings -------------------------------------------------------------------------


def _check_undecided(finding: Finding) -> None:
    if not finding.is_undecided:
        raise ValidationError(f"This finding is already {finding.get_status_display().lower()}; nothing was changed.")


def _acknowledge_into(finding: Finding, *, comment: str, by) -> None:
    if finding.critical and not comment.strip():
        raise ValidationError(
            {"comment": "This is a critical result: write a comment (what you did or will do) to acknowledge it."}
        )
    finding.status = Finding.Status.ACKNOWLEDGED
    finding.acknowledged_at, finding.acknowledged_by = timezone.now(), by
    finding.acknowledgement_comment = comment.strip()


def _lock(model, obj):
    """Re-read `obj` with a row lock, so two clinicians' decisions are applied one after the other."""
    return model.objects.select_for_update().get(pk=obj.pk)


@transaction.atomic
def acknowledge(finding: Finding, *, comment: str = "", by) -> Finding:
    """Record that a clinician has seen the finding. Critical results need a comment."""
    finding = _lock(Finding, finding)
    if finding.status != Finding.Status.OPEN:
        raise ValidationError(f"This finding is already {finding.get_status_display().lower()}; nothing was changed.")
    _acknowledge_into(finding, comment=comment, by=by)
    _save(finding, reason="acknowledged")
    return finding


def _decide_into(finding: Finding, *, status: str, by) -> None:
    """A decision also acknowledges an open, non-critical finding; a critical one must be acknowledged first."""
    _check_undecided(finding)
    if finding.status == Finding.Status.OPEN:
        if finding.critical:
            raise ValidationError(
                "This is a critical result: acknowledge it with a comment before recording a decision."
            )
        _acknowledge_into(finding, comment="", by=by)
    finding.status = status
    finding.decided_at, finding.decided_by = timezone.now(), by


@transaction.atomic
def decide_no_action(finding: Finding, *, reason: str, by) -> Finding:
    finding = _lock(Finding, finding)
    if not reason.strip():
        raise ValidationError(
            {"reason": "Give the reason no action is needed (e.g. known and stable, already treated)."}
        )
    _decide_into(finding, status=Finding.Status.NO_ACTION, by=by)
    finding.no_action_reason = reason.strip()
    _save(finding, reason="no action needed")
    return finding


def default_due_date(finding: Finding, *, today: datetime.date | None = None) -> datetime.date:
    """Today plus the rule's suggested retest interval (28 days when there is no rule or interval)."""
    days = finding.rule.retest_days if finding.rule_id and finding.rule.retest_days is not None else 28
    return (today or timezone.localdate()) + datetime.timedelta(days=days)


# --- follow-up plans ----------------------------------------------------------------------------

PLAN_FIELDS = ("action_type", "analyte", "details", "due_date", "owner")


def _check_plan_fields(fields: dict) -> None:
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise ValueError(f"Not plan fields: {sorted(unknown)}")


@transaction.atomic
def create_plan(
    finding: Finding,
    *,
    action_type: str,
    due_date: datetime.date,
    owner,
    details: str = "",
    analyte: Analyte | None = None,
    by,
) -> FollowUpPlan:
    """Plan a follow-up for a finding; the first plan is the finding's disposition."""
    finding = _lock(Finding, finding)
    if finding.status in (Finding.Status.RESOLVED, Finding.Status.NO_ACTION):
        raise ValidationError(f"This finding is {finding.get_status_display().lower()}, so it takes no new plan.")
    deciding = finding.is_undecided
    if deciding:
        _decide_into(finding, status=Finding.Status.FOLLOW_UP_PLANNED, by=by)
    now = timezone.now()
    plan = FollowUpPlan(
        finding=finding,
        patient_id=finding.patient_id,
        action_type=action_type,
        analyte=analyte if action_type == ActionType.REPEAT_TEST else None,
        details=details.strip(),
        due_date=due_date,
        owner=owner,
        created_by=by,
        created_at=now,
        updated_by=by,
        updated_at=now,
    )
    _save(plan, reason="planned")
    if deciding:
        _save(finding, reason="follow-up planned")
    return plan


def _lock_plan_at(plan: FollowUpPlan, version: int) -> FollowUpPlan:
    """The plan, locked, if nobody has saved it since the form showed `version`; otherwise refuse."""
    current = FollowUpPlan.objects.select_for_update().select_related("updated_by").get(pk=plan.pk)
    if current.version != version:
        who = display_name(current.updated_by)
        raise ValidationError(
            f"{who} changed this plan at {timezone.localtime(current.updated_at):%d %b %Y %H:%M} after you opened it, "
            "so your changes were not saved. Reload the plan, check their changes and make yours again."
        )
    return current


def _check_planned(plan: FollowUpPlan) -> None:
    if plan.status != FollowUpPlan.Status.PLANNED:
        raise ValidationError(f"This plan is already {plan.get_status_display().lower()}; nothing was changed.")


@transaction.atomic
def update_plan(plan: FollowUpPlan, *, version: int, by, **fields) -> FollowUpPlan:
    _check_plan_fields(fields)
    plan = _lock_plan_at(plan, version)
    _check_planned(plan)
    for name, value in fields.items():
        setattr(plan, name, value.strip() if isinstance(value, str) else value)
    if plan.action_type != ActionType.REPEAT_TEST:
        plan.analyte = None
    plan.version += 1
    plan.updated_at, plan.updated_by = timezone.now(), by
    _save(plan, reason="edited")
    return plan


def _close(plan: FollowUpPlan, *, status: str, outcome: str, version: int, by) -> FollowUpPlan:
    plan = _lock_plan_at(plan, version)
    _check_planned(plan)
    if not outcome.strip():
        raise ValidationError({"outcome": "Write an outcome note: what happened, or why the plan is cancelled."})
    now = timezone.now()
    plan.status = status
    plan.outcome_note = outcome.strip()
    plan.closed_at = plan.updated_at = now
    plan.closed_by = plan.updated_by = by
    plan.version += 1
    _save(plan, reason=status)
    return plan


@transaction.atomic
def complete_plan(plan: FollowUpPlan, *, outcome: str, version: int, by) -> FollowUpPlan:
    return _close(plan, status=FollowUpPlan.Status.DONE, outcome=outcome, version=version, by=by)


@transaction.atomic
def cancel_plan(plan: FollowUpPlan, *, outcome: str, version: int, by) -> FollowUpPlan:
    """Cancel a plan. If it was the finding's only live plan, the finding goes back to awaiting a
    decision: a cancelled plan is not a disposition, and the worklist must show the finding again."""
    plan = _close(plan, status=FollowUpPlan.Status.CANCELLED, outcome=outcome, version=version, by=by)
    finding = _lock(Finding, plan.finding)
    others = finding.plans.exclude(status=FollowUpPlan.Status.CANCELLED)
    if finding.status == Finding.Status.FOLLOW_UP_PLANNED and not others.exists():
        finding.status = Finding.Status.ACKNOWLEDGED
        finding.decided_at = finding.decided_by = None
        _save(finding, reason="only follow-up plan cancelled: awaiting a decision again")
    return plan
