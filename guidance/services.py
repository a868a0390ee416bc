"""Writes to lab results, findings and follow-up plans. Each function is one user action in one transaction.

A lab result is saved, corrected or withdrawn only here, and each of those writes brings the findings of
its panel in line in the same transaction: no caller (a view, an import, a script) can save a result
without its findings, and labs, below this app, never needs to call up to it.
"""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from core.text import display_name
from labs.deltas import fired
from labs.interpretation import LabRange
from labs.models import Analyte, AnalyteUnit, DeltaRule, Panel, Result, SpecimenCondition, read_neighbours
from labs.services import Entry, accession_clash, canonical_or_refuse, interpret_result
from patients.models import Patient
from patients.services import check_writable, touch_patient

from .findings import ReviewItem, build_finding, corrected_calcium_for, finding_severity, review_items
from .models import ActionType, CriticalCall, Finding, FollowUpPlan, Rule, Severity, Topic
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
    specimen_condition: SpecimenCondition | None = None,
    comment: str = "",
) -> Panel:
    """Save a panel and its results whole, or nothing (raises ValidationError); open the findings they
    call for and meet the planned repeat tests they answer."""
    check_writable(patient)
    if not entries:
        raise ValidationError("Enter at least one result: the panel is empty.")
    analyte_ids = [entry.analyte.pk for entry in entries]
    if len(set(analyte_ids)) != len(analyte_ids):
        raise ValidationError("The same analyte appears twice in this panel; enter each analyte once.")
    for entry in entries:
        if entry.unit.analyte_id != entry.analyte.pk:
            raise ValidationError(f"{entry.unit.unit} is not a unit of {entry.analyte.name}.")
    # Each analyte with all its range versions, for the whole panel: the entry form's own (read from the
    # catalogue with their ranges in this request), else two queries. Either proves the analytes exist,
    # which full_clean() would otherwise check with a query per result.
    catalogue = {entry.analyte.pk: entry.analyte for entry in entries if _ranges_read(entry.analyte)}
    if len(catalogue) < len(entries):
        catalogue |= Analyte.objects.prefetch_related("ranges").in_bulk(set(analyte_ids) - set(catalogue))
    missing = [entry.analyte.name for entry in entries if entry.analyte.pk not in catalogue]
    if missing:
        raise ValidationError(f"Not in the analyte catalogue: {', '.join(missing)}.")
    panel = Panel(
        patient=patient,
        collected_at=collected_at,
        lab_name=lab_name.strip(),
        accession_number=accession_number.strip(),
        source=source,
        specimen_condition=specimen_condition,
        comment=comment.strip(),
        entered_by=by,
    )
    clash = accession_clash(panel.lab_name, panel.accession_number)
    if clash:
        raise ValidationError({"accession_number": clash})
    # Its one constraint (panel_accession_unique_per_lab) was asked just above, with a sentence naming the
    # earlier panel, and the insert enforces it. The patient and the user are rows this request has read.
    panel.full_clean(exclude=["patient", "entered_by"], validate_constraints=False)
    try:
        # A savepoint to come back to if the insert loses that race; without an accession number there
        # is none to lose (the constraint leaves those panels out), so no savepoint's round trips.
        with transaction.atomic(savepoint=bool(panel.accession_number)):
            panel.save()
    except IntegrityError:
        # Another save of the same accession number committed between the check above and this insert
        # (the unique constraint panel_accession_unique_per_lab made this one wait for it): say which.
        raise ValidationError(
            {"accession_number": accession_clash(panel.lab_name, panel.accession_number) or "Not saved."}
        ) from None
    results = []
    for entry in entries:
        analyte = catalogue[entry.analyte.pk]
        result = Result(
            panel=panel,
            patient=patient,
            collected_at=collected_at,
            analyte=analyte,
            comparator=entry.comparator,
            comment=entry.comment.strip(),
            value_entered=entry.value,
            unit_entered=entry.unit.unit,
            value=canonical_or_refuse(analyte, entry.value, entry.unit),
            status=Result.Status.PRELIMINARY if entry.preliminary else Result.Status.FINAL,
            updated_by=by,
        )
        interpret_result(result, patient, entry.lab_range)
        result.full_clean(exclude=CHECKED_FOR_THE_PANEL, validate_constraints=False)
        results.append(result)
    # One insert for the results and one for their history rows (the audit trail), whatever their number.
    # With their ids (the insert returns them on PostgreSQL and SQLite) and their analytes; all valid. In
    # the catalogue's order, as Result's own ordering reads a panel, so findings open in that order.
    results = sorted(bulk_create_with_history(results, Result, default_user=by), key=lambda r: r.analyte.sort_order)
    touch_patient(patient)
    evaluate_panel(panel, by=by, note="", results=results, new=True)
    evaluate_deltas(results, by=by, note="", new=True)
    _bring_superseding_in_line(patient, analyte_ids, by=by)
    _meet_repeat_plans(panel, results, by=by)
    return panel


@transaction.atomic
def correct_result(
    result: Result,
    *,
    value: Decimal,
    unit: AnalyteUnit,
    reason: str,
    by,
    comparator: str = "",
    lab_range: LabRange | None = None,
    status: str = Result.Status.CORRECTED,
) -> Result:
    """Replace a result's value, keeping the earlier one in history with who, when and why, and bring the
    panel's findings in line with the new value. `lab_range`: the laboratory's limits sent with the
    correction; without them a result read against the laboratory's limits keeps them. `status`: the
    new one: corrected; or final (or preliminary) when a laboratory's final (or newer preliminary) result
    replaces its preliminary one."""
    check_writable(result.patient)
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the correction."})
    if result.status == Result.Status.ENTERED_IN_ERROR:
        raise ValidationError("This result was marked entered in error and cannot be corrected.")
    if status not in (Result.Status.CORRECTED, Result.Status.FINAL, Result.Status.PRELIMINARY):
        raise ValueError(f"A correction cannot make a result {status}.")
    if status != Result.Status.CORRECTED and result.status != Result.Status.PRELIMINARY:
        raise ValidationError(
            "Only a preliminary result is replaced by a final or preliminary one; correct it instead."
        )
    result.comparator = comparator
    result.value_entered = value
    result.unit_entered = unit.unit
    result.value = canonical_or_refuse(result.analyte, value, unit)
    interpret_result(result, result.patient, lab_range or result.lab_range)
    result.status = status
    result.status_reason = reason.strip()
    result.updated_by = by
    result.full_clean()
    result._change_reason = reason.strip()  # django-simple-history stores it on the history row
    result.save()
    touch_patient(result.patient)
    shown = f"{result.display_value} {result.analyte.canonical_unit} ({result.get_flag_display().lower()})"
    verb = "corrected to" if status == Result.Status.CORRECTED else f"replaced by the {status} result"
    note = f"{result.analyte.name} {verb} {shown}: {reason.strip()}"
    evaluate_panel(result.panel, by=by, note=note)
    evaluate_deltas([result], by=by, note=note)
    _bring_superseding_in_line(result.patient, [result.analyte_id], by=by)
    return result


@transaction.atomic
def mark_entered_in_error(result: Result, *, reason: str, by) -> Result:
    """Withdraw a result that should never have been recorded (it stays visible, struck through), resolve
    the findings that relied on it and take it back from the planned repeat tests it met."""
    check_writable(result.patient)
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
    _bring_superseding_in_line(result.patient, [result.analyte_id], by=by, withdrawn=result)
    _unmeet_repeat_plans(result, by=by)
    return result


def _ranges_read(analyte: Analyte) -> bool:
    """Whether `analyte` came with its range versions (prefetch_related("ranges"))."""
    return "ranges" in getattr(analyte, "_prefetched_objects_cache", {})


def evaluate_panel(panel: Panel, *, by, note: str, results: list[Result] | None = None, new: bool = False) -> None:
    """Bring the panel's findings in line with its results.

    A finding still called for is left as it is (with its review); one no longer called for (value back
    in range, result withdrawn, pattern broken, criticality changed) is resolved with `note`; a newly
    called-for one is opened. Findings are keyed by result, rule, pattern partner, criticality and
    severity, so a value that turns critical on correction needs a fresh acknowledgement, and so does a
    low calcium the corrected albumin no longer explains (guidance.findings.finding_severity). `results`
    are the panel's valid results with their analytes, when the caller has them already; `new` says the
    panel has just been recorded, so it has no findings yet to read. Delta findings, which compare results
    across panels, are evaluate_deltas'.

    The queries do not grow with the panel: the rules, the open findings and the patient's factors are
    read once, and the findings resolved and opened are written with their history rows in bulk.
    """
    if results is None:
        results = list(panel.results.valid().select_related("analyte"))
    factor_names = {factor.pk: factor.name for factor in panel.patient.contributing_factors.all()}
    # A finding needs only its rule's topic id, so the topics' long texts are not read; and the factors
    # each rule names only when the patient has some to name.
    rules = Rule.objects.filter(active=True)
    rules = list(rules.prefetch_related("relevant_factors") if factor_names else rules)
    wanted = {}
    for match in match_rules(results, rules):
        severity = finding_severity(match, corrected_calcium_for(match, results))
        rule_pk = match.rule.pk if match.rule else None
        wanted[(match.result.pk, rule_pk, _pk(match.partner), match.result.is_critical, severity)] = match
    # Delta findings compare results across panels: evaluate_deltas keeps those.
    existing = (
        []
        if new
        else Finding.objects.filter(result__panel=panel, delta_rule__isnull=True).exclude(
            status=Finding.Status.RESOLVED
        )
    )
    now = timezone.now()
    _resolve_unwanted(
        existing,
        wanted,
        key=lambda f: (f.result_id, f.rule_id, f.partner_result_id, f.critical, f.severity),
        note=note or "The result no longer calls for this finding.",
        by=by,
        now=now,
    )
    condition = panel.specimen_condition.code if panel.specimen_condition_id else None
    opened = [
        build_finding(
            match, factor_names=factor_names, opened_at=now, panel_results=results, specimen_condition=condition
        )
        for match in wanted.values()
    ]
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


def evaluate_deltas(written: list[Result], *, by, note: str, new: bool = False) -> None:
    """Bring the delta findings in line after `written` results were recorded, corrected or withdrawn.

    A delta finding says a result changed from the patient's previous valid result of the test (collected
    earlier, within the analyte's delta rule's window) by more than the rule allows (labs.deltas). A write
    changes the comparison for the result itself and for the next valid result of its test, whose
    previous result it is, was or now is (a result entered late, corrected or withdrawn): both are
    checked. Findings are keyed by result, rule and previous result, so one still called for keeps its
    review; one no longer called for is resolved with `note`.

    At most four queries whatever the number of results: the written results' previous and next ones
    (labs.models.read_neighbours, one query), the next ones with their previous ones (when there are),
    the rules and the findings there are (only those of the next results when `written` are `new`, just
    recorded, so without findings; none when there is no next result); then the findings written in
    bulk (and, when one opens, the delta-check topic's id).
    """
    written_ids = [result.pk for result in written]
    # The written results' previous and next ones; the next ones (a result entered late, corrected or
    # withdrawn has some) with their previous ones, only when there are.
    read_neighbours(written)
    to_check = [result for result in written if not result.is_entered_in_error]
    next_ids = {result.next_id for result in written if result.next_id is not None} - set(written_ids)
    if next_ids:
        to_check += Result.objects.valid().filter(pk__in=next_ids).select_related("analyte").with_previous()
    checked_ids = set(written_ids) | next_ids
    analyte_ids = {result.analyte_id for result in to_check}
    rules = {rule.analyte_id: rule for rule in DeltaRule.objects.filter(active=True, analyte_id__in=analyte_ids)}
    wanted = {}
    for result in to_check:
        rule = rules.get(result.analyte_id)
        if fired(rule, result) is not None:
            wanted[(result.pk, rule.pk, result.previous_id)] = (result, rule)
    with_findings = checked_ids - set(written_ids) if new else checked_ids
    existing = (
        Finding.objects.filter(result_id__in=with_findings, delta_rule__isnull=False).exclude(
            status=Finding.Status.RESOLVED
        )
        if with_findings
        else []
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
            panel_id=result.panel_id,
            collected_at=result.collected_at,
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


SUPERSEDED_FIELDS = ["status", "superseded_by", "superseded_at"]

# _bring_superseding_in_line's candidates, each with the newest valid result of its test for the patient
# (newest_id). In SQL because Django took 2.5 ms to build and read this query through the ORM on every
# save, longer than the database took to run it.
CANDIDATES_SQL = """
SELECT f.*,
    (SELECT r.id FROM labs_result r
     WHERE r.patient_id = f.patient_id AND r.analyte_id = own.analyte_id AND r.status <> %s
     ORDER BY r.collected_at DESC, r.id DESC LIMIT 1) AS newest_id
FROM guidance_finding f
JOIN labs_result own ON own.id = f.result_id  -- the finding's own result
WHERE f.patient_id = %s AND own.analyte_id IN ({analytes})
  AND (f.status IN ({undecided}) {also_superseded})
ORDER BY f.created_at, f.id{lock}
"""


def _bring_superseding_in_line(patient: Patient, analyte_ids, *, by, withdrawn: Result | None = None) -> None:
    """A finding still awaiting a decision is superseded by the patient's newest valid result of its test
    when that is a newer one: the older value no longer needs a decision of its own, and the worklist
    shows the newer one. A critical result not yet acknowledged is never superseded (it needs its own
    acknowledgement), and decided findings keep their decision (and follow-ups). A superseded finding
    whose newer result is withdrawn moves to the next newer valid result, or awaits its decision again.

    Worked out from what the database holds after each write, for the tests `analyte_ids` just written:
    one query reads the candidates (findings awaiting a decision, and those superseded by `withdrawn`, the
    result a withdrawal has just marked entered in error, with the newest valid result of their test for
    the patient, from result_patient_analyte_idx); changes are one bulk update and one insert of history
    rows. Only a withdrawal can leave a superseded finding in need of a change, so the superseded findings
    of a long history are not read on every save.
    """
    analyte_ids = list(analyte_ids)
    undecided = list(Finding.UNDECIDED)
    also_superseded = "OR (f.status = %s AND f.superseded_by_id = %s)" if withdrawn is not None else ""
    params = [
        Result.Status.ENTERED_IN_ERROR,
        patient.pk,
        *analyte_ids,
        *undecided,
        *([Finding.Status.SUPERSEDED, withdrawn.pk] if withdrawn is not None else []),
    ]
    # Locked, so a clinician's decision on one of them waits for this (and a decision taken first is seen).
    lock = " FOR UPDATE OF f" if connection.features.has_select_for_update_of else ""
    candidates = Finding.objects.raw(
        CANDIDATES_SQL.format(
            analytes=", ".join(["%s"] * len(analyte_ids)),
            undecided=", ".join(["%s"] * len(undecided)),
            also_superseded=also_superseded,
            lock=lock,
        ),
        params,
    )
    now = timezone.now()
    superseded, linked_again, restored = [], [], []
    for finding in candidates:
        replaced = finding.newest_id is not None and finding.newest_id != finding.result_id
        if finding.status != Finding.Status.SUPERSEDED:
            if replaced and not (finding.critical and finding.status == Finding.Status.OPEN):
                finding.status = Finding.Status.SUPERSEDED
                finding.superseded_by_id, finding.superseded_at = finding.newest_id, now
                superseded.append(finding)
        elif replaced:  # superseded by `withdrawn`: by the next newer result now
            finding.superseded_by_id = finding.newest_id
            linked_again.append(finding)
        else:
            finding.status = Finding.Status.ACKNOWLEDGED if finding.acknowledged_at else Finding.Status.OPEN
            finding.superseded_by_id = finding.superseded_at = None
            restored.append(finding)
    for changed, reason in [
        (superseded, "superseded by a newer result of the same test"),
        (linked_again, "the newer result was entered in error: superseded by the next newer one"),
        (restored, "the newer result was entered in error: awaiting a decision again"),
    ]:
        for finding in changed:
            _check_built(finding)
        if changed:
            bulk_update_with_history(changed, Finding, SUPERSEDED_FIELDS, default_user=by, default_change_reason=reason)


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


CALL_FIELDS = ("told", "method", "told_at", "read_back")


def _acknowledge_into(finding: Finding, *, comment: str, by, call: dict | None = None) -> CriticalCall | None:
    """Acknowledge `finding` (unsaved). A critical result needs a comment and the record of its
    communication (`call`: CALL_FIELDS), returned unsaved and checked, to save once the finding is."""
    if finding.critical and not comment.strip():
        raise ValidationError(
            {"comment": "This is a critical result: write a comment (what you did or will do) to acknowledge it."}
        )
    record = None
    if finding.critical:
        record = _critical_call(finding, call or {}, by=by)
    finding.status = Finding.Status.ACKNOWLEDGED
    finding.acknowledged_at, finding.acknowledged_by = timezone.now(), by
    finding.acknowledgement_comment = comment.strip()
    return record


def _critical_call(finding: Finding, call: dict, *, by) -> CriticalCall:
    unknown = set(call) - set(CALL_FIELDS)
    if unknown:
        raise ValueError(f"Not fields of a critical call: {sorted(unknown)}")
    missing = {}
    if not (call.get("told") or "").strip():
        missing["told"] = "A critical result: say who was told it (name and role)."
    if not call.get("method"):
        missing["method"] = "A critical result: say how they were told (phone, in person or message)."
    if missing:
        raise ValidationError(missing)
    record = CriticalCall(
        finding=finding,
        told=call["told"].strip(),
        method=call["method"],
        told_at=call.get("told_at") or timezone.now(),
        read_back=bool(call.get("read_back")),
        recorded_by=by,
    )
    record.full_clean(exclude=["finding", "recorded_by"], validate_constraints=False)
    return record


def _save_call(record: CriticalCall | None) -> None:
    if record is not None:
        record.finding_id = record.finding.pk
        record._history_user = record.recorded_by  # who, also where no request says it (imports, scripts)
        _save(record, reason="critical result communicated")


def _lock(model, obj):
    """Re-read `obj` (a finding or a plan) with a row lock, so two clinicians' decisions are applied one
    after the other; refused if its patient has been deactivated (the record is then read-only)."""
    locked = model.objects.select_for_update(of=("self",)).select_related("patient").get(pk=obj.pk)
    check_writable(locked.patient)
    return locked


@transaction.atomic
def acknowledge(finding: Finding, *, comment: str = "", call: dict | None = None, by) -> Finding:
    """Record that a clinician has seen the finding. A critical result needs a comment and how it was
    communicated (`call`: who was told, how, when, read back)."""
    finding = _lock(Finding, finding)
    if finding.status != Finding.Status.OPEN:
        raise ValidationError(f"This finding is already {finding.get_status_display().lower()}; nothing was changed.")
    record = _acknowledge_into(finding, comment=comment, call=call, by=by)
    _save(finding, reason="acknowledged")
    _save_call(record)
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


NO_ACTION_REASON_MISSING = "Give the reason no action is needed (e.g. known and stable, already treated)."


def _report_items(panel_id: int) -> list[ReviewItem]:
    """The report's findings awaiting a decision as review items (a pattern with the plain findings it
    covers), locked so that two clinicians' decisions are applied one after the other."""
    findings = (
        Finding.objects.awaiting_decision()
        .filter(result__panel_id=panel_id)
        .select_related("rule")
        .select_for_update(of=("self",))
    )
    return review_items(findings)


def _item_of(finding: Finding) -> list[Finding]:
    """The finding and, when it leads a review item (a pattern), the plain findings it covers, locked:
    deciding the pattern decides them with it. Any other finding is decided alone."""
    if not (finding.partner_result_id and finding.rule_id and finding.rule.covers != Rule.Covers.NONE):
        return [finding]
    for item in _report_items(finding.result.panel_id):
        if item.lead.pk == finding.pk:
            return item.findings
    return [finding]


def _decide_together(findings: list[Finding], *, status: str, by, reason: str = "") -> None:
    """Record one decision for `findings` (the first leads: the others are decided with it), or none of
    it (raises before saving when one of them cannot take it)."""
    for finding in findings:
        try:
            _decide_into(finding, status=status, by=by)
        except ValidationError as refusal:
            if finding is findings[0]:
                raise
            raise ValidationError(
                f"{finding.title}, decided with it, is a critical result: acknowledge it with a comment first; "
                "nothing was changed."
            ) from refusal
        if status == Finding.Status.NO_ACTION:
            finding.no_action_reason = reason.strip()
    for finding in findings[1:]:
        finding.decided_with = findings[0]


def _save_decided(findings: list[Finding], *, reason: str) -> None:
    _save(findings[0], reason=reason)
    for finding in findings[1:]:
        _save(finding, reason=f"{reason}, decided together with finding {findings[0].pk}")


@transaction.atomic
def decide_no_action(finding: Finding, *, reason: str, by) -> Finding:
    """No action needed, with the reason; a pattern's finding decides the plain findings it covers too."""
    finding = _lock(Finding, finding)
    if not reason.strip():
        raise ValidationError({"reason": NO_ACTION_REASON_MISSING})
    together = _item_of(finding)
    _decide_together(together, status=Finding.Status.NO_ACTION, by=by, reason=reason)
    _save_decided(together, reason="no action needed")
    return together[0]


@transaction.atomic
def acknowledge_report(panel: Panel, *, comment: str = "", call: dict | None = None, by) -> list[Finding]:
    """Acknowledge every finding of a report still awaiting acknowledgement. When one of them is a
    critical result, a comment and how it was communicated (`call`) are required, and each critical
    finding keeps its own record of that call. All of them or none."""
    findings = [finding for item in _report_items(panel.pk) for finding in item.findings]
    awaiting = [finding for finding in findings if finding.status == Finding.Status.OPEN]
    if not awaiting:
        raise ValidationError("Nothing in this report awaits acknowledgement; nothing was changed.")
    records = [_acknowledge_into(finding, comment=comment, call=call, by=by) for finding in awaiting]
    for finding, record in zip(awaiting, records, strict=True):
        _save(finding, reason="acknowledged with its report")
        _save_call(record)
    return awaiting


@transaction.atomic
def decide_report(panel: Panel, *, leads: list[int], by, reason: str = "", plan: dict | None = None) -> list[Finding]:
    """One decision for several review items of one report: "no action needed" with `reason`, or, with
    `plan` (create_plan's fields), one follow-up plan held by the first item's finding, the others
    decided together with it. `leads` are the items' leading findings' ids; an id that is not one of
    this report's items awaiting a decision is refused, and nothing is changed."""
    items = {item.lead.pk: item for item in _report_items(panel.pk)}
    if not leads:
        raise ValidationError({"findings": "Choose at least one finding of this report to decide."})
    strangers = [str(pk) for pk in leads if pk not in items]
    if strangers:
        raise ValidationError(
            {
                "findings": f"Finding {', '.join(strangers)} is not awaiting a decision in this report (it belongs "
                "to another report or patient, or is already decided or superseded); nothing was changed."
            }
        )
    together = [finding for pk in dict.fromkeys(leads) for finding in items[pk].findings]
    if plan is None:
        if not reason.strip():
            raise ValidationError({"reason": NO_ACTION_REASON_MISSING})
        _decide_together(together, status=Finding.Status.NO_ACTION, by=by, reason=reason)
        _save_decided(together, reason="no action needed")
    else:
        _check_plan_fields(plan)
        _decide_together(together, status=Finding.Status.FOLLOW_UP_PLANNED, by=by)
        _save(_new_plan(together[0], by=by, **plan), reason="planned")
        _save_decided(together, reason="follow-up planned")
    return together


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
    if finding.status in (Finding.Status.RESOLVED, Finding.Status.NO_ACTION, Finding.Status.SUPERSEDED):
        raise ValidationError(f"This finding is {finding.get_status_display().lower()}, so it takes no new plan.")
    together = _item_of(finding) if finding.is_undecided else []
    if together:
        _decide_together(together, status=Finding.Status.FOLLOW_UP_PLANNED, by=by)
    plan = _new_plan(
        finding, action_type=action_type, due_date=due_date, owner=owner, details=details, analyte=analyte, by=by
    )
    _save(plan, reason="planned")
    if together:
        _save_decided(together, reason="follow-up planned")
    return plan


def _new_plan(
    finding: Finding, *, action_type: str, due_date: datetime.date, owner, details: str = "", analyte=None, by
) -> FollowUpPlan:
    now = timezone.now()
    return FollowUpPlan(
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


def _lock_plan_at(plan: FollowUpPlan, version: int) -> FollowUpPlan:
    """The plan, locked, if nobody has saved it since the form showed `version`; otherwise refuse."""
    current = (
        FollowUpPlan.objects.select_for_update(of=("self",)).select_related("updated_by", "patient").get(pk=plan.pk)
    )
    check_writable(current.patient)
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
        # The findings decided together with it (a pattern's, a group decision) had this plan as theirs too.
        with_it = finding.decided_together.select_for_update().filter(status=Finding.Status.FOLLOW_UP_PLANNED)
        for each in [finding, *with_it]:
            each.status = Finding.Status.ACKNOWLEDGED
            each.decided_at = each.decided_by = each.decided_with = None
            _save(each, reason="only follow-up plan cancelled: awaiting a decision again")
    return plan
