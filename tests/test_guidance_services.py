"""Findings opened when results are saved and corrected, the review flow, plans, concurrency and the
retest link, all through guidance.services."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from guidance import services
from guidance.models import ActionType, Finding, FollowUpPlan, Severity
from labs.models import Result
from patients.models import ContributingFactor

from .recording import PHONED

pytestmark = pytest.mark.django_db


def unit(analytes, code):
    return analytes[code].units.get(unit=analytes[code].canonical_unit)


def findings(patient):
    return sorted(
        (f.rule.code if f.rule else "", f.status)
        for f in Finding.objects.filter(patient=patient).select_related("rule")
    )


# --- findings when results are saved -------------------------------------------------------------


def test_normal_panel_makes_no_finding(record, patient):
    record(patient, {"k": "4.0", "mg": "2.0"})
    assert not Finding.objects.exists()


def test_each_abnormal_result_and_pattern_becomes_an_open_finding(record, patient):
    record(patient, {"mg": "1.50", "k": "3.1", "ca": "9.0"})
    assert findings(patient) == [
        ("magnesium-low", "open"),
        ("magnesium-low-with-potassium-low", "open"),
        ("potassium-low", "open"),
    ]
    pattern = Finding.objects.get(rule__code="magnesium-low-with-potassium-low")
    assert (pattern.result.analyte.code, pattern.partner_result.analyte.code) == ("mg", "k")
    assert pattern.topic.slug == "magnesium-deficiency"
    assert "correct magnesium first (Huang & Kuo, JASN 2007)" in pattern.summary


def test_summary_names_the_patients_relevant_factors(record, patient):
    patient.contributing_factors.set(ContributingFactor.objects.filter(code__in=["diuretic", "statin", "limited-sun"]))
    record(patient, {"k": "3.1"})
    finding = Finding.objects.get()
    assert finding.summary.startswith("Potassium 3.1 mmol/L. Low potassium")
    # Diuretic bears on low potassium; a statin and limited sun do not.
    assert finding.summary.endswith("Recorded for this patient and relevant here: Diuretic use.")


def test_calcium_with_albumin_pattern_states_the_corrected_calcium(record, patient):
    record(patient, {"ca": "8.0", "alb": "3.0"})  # 8.0 + 0.8 × (4.0 − 3.0) = 8.80 mg/dL
    pattern = Finding.objects.get(rule__code="calcium-low-with-albumin-low")
    assert "Albumin-corrected calcium: 8.80 mg/dL (normal, range 8.6–10.0 mg/dL). Payne 1973." in pattern.summary


def test_summary_without_relevant_factors_names_none(record, patient):
    record(patient, {"k": "3.1"})
    assert "Recorded for this patient" not in Finding.objects.get().summary


def test_abnormal_result_without_a_rule_still_makes_a_finding(record, patient):
    record(patient, {"vitd25": "95"})
    finding = Finding.objects.get()
    assert (finding.rule, finding.topic, finding.severity) == (None, None, Severity.ROUTINE)
    assert finding.summary == (
        "25-hydroxyvitamin D 95.0 ng/mL, high: no guidance rule covers this result; review it with the full "
        "clinical picture."
    )


def test_critical_result_makes_an_urgent_critical_finding(record, patient):
    record(patient, {"k": "2.5"})
    finding = Finding.objects.get()
    assert (finding.critical, finding.severity) == (True, Severity.URGENT)


def test_ck_over_ten_times_is_urgent_with_the_eas_wording(record, patient):
    record(patient, {"ck": "2000"})  # female ULN 192: 10× = 1920
    finding = Finding.objects.get()
    assert (finding.rule.code, finding.severity, finding.critical) == ("ck-over-10x", Severity.URGENT, False)
    assert "EAS 2015" in finding.summary and "40 times with kidney injury is rhabdomyolysis" in finding.summary


# --- corrections and withdrawals -------------------------------------------------------------------


def test_correction_back_into_range_resolves_the_finding_with_a_note(record, patient, analytes, other_clinician):
    panel = record(patient, {"k": "3.1"})
    result = panel.results.get()
    services.correct_result(result, value=Decimal("3.9"), unit=unit(analytes, "k"), reason="Typo", by=other_clinician)
    finding = Finding.objects.get()
    assert finding.status == Finding.Status.RESOLVED
    assert finding.resolved_by == other_clinician
    assert finding.resolution_note == "Potassium corrected to 3.9 mmol/L (normal): Typo"


def test_correction_to_abnormal_opens_a_finding(record, patient, analytes):
    panel = record(patient, {"k": "4.0"})
    services.correct_result(
        panel.results.get(), value=Decimal("3.0"), unit=unit(analytes, "k"), reason="Typo", by=patient.created_by
    )
    assert findings(patient) == [("potassium-low", "open")]


def test_correction_that_keeps_the_same_finding_keeps_its_review(record, patient, analytes, clinician):
    panel = record(patient, {"k": "3.1"})
    finding = Finding.objects.get()
    services.acknowledge(finding, comment="", by=clinician)
    services.correct_result(
        panel.results.get(), value=Decimal("3.2"), unit=unit(analytes, "k"), reason="Re-read", by=clinician
    )
    assert findings(patient) == [("potassium-low", "acknowledged")]


def test_correction_to_critical_needs_a_fresh_acknowledgement(record, patient, analytes, clinician):
    panel = record(patient, {"k": "3.1"})
    services.acknowledge(Finding.objects.get(), comment="", by=clinician)
    services.correct_result(
        panel.results.get(), value=Decimal("2.5"), unit=unit(analytes, "k"), reason="Re-read", by=clinician
    )
    assert sorted(Finding.objects.values_list("status", "critical")) == [("open", True), ("resolved", False)]


def test_correcting_the_partner_resolves_the_pattern(record, patient, analytes, clinician):
    panel = record(patient, {"mg": "1.50", "k": "3.1"})
    services.correct_result(
        panel.results.get(analyte__code="k"),
        value=Decimal("4.0"),
        unit=unit(analytes, "k"),
        reason="Typo",
        by=clinician,
    )
    assert findings(patient) == [
        ("magnesium-low", "open"),
        ("magnesium-low-with-potassium-low", "resolved"),
        ("potassium-low", "resolved"),
    ]


def test_entered_in_error_resolves_its_findings(record, patient, clinician):
    panel = record(patient, {"mg": "1.50", "k": "3.1"})
    services.mark_entered_in_error(panel.results.get(analyte__code="mg"), reason="Wrong patient", by=clinician)
    assert findings(patient) == [
        ("magnesium-low", "resolved"),
        ("magnesium-low-with-potassium-low", "resolved"),
        ("potassium-low", "open"),
    ]
    assert Finding.objects.get(rule__code="magnesium-low").resolution_note == (
        "Magnesium marked entered in error: Wrong patient"
    )


def test_failed_panel_saves_no_findings(record, patient):
    with pytest.raises(ValidationError):
        record(patient, {"k": "3.1", "mg": "-1"})  # the abnormal potassium is saved before magnesium fails
    assert not Finding.objects.exists() and not Result.objects.exists()


# --- reviewing ---------------------------------------------------------------------------------


def test_critical_finding_needs_a_comment_to_acknowledge(record, patient, clinician):
    record(patient, {"k": "2.5"})
    finding = Finding.objects.get()
    with pytest.raises(ValidationError) as error:
        services.acknowledge(finding, comment="  ", by=clinician)
    assert "write a comment" in error.value.message_dict["comment"][0]
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN
    services.acknowledge(finding, comment="Phoned patient, ECG arranged", call=PHONED, by=clinician)
    finding.refresh_from_db()
    assert (finding.status, finding.acknowledged_by) == (Finding.Status.ACKNOWLEDGED, clinician)


def test_critical_finding_cannot_be_decided_before_acknowledgement(record, patient, clinician):
    record(patient, {"k": "2.5"})
    with pytest.raises(ValidationError, match="acknowledge it with a comment before"):
        services.decide_no_action(Finding.objects.get(), reason="Known", by=clinician)
    assert Finding.objects.get().status == Finding.Status.OPEN


def test_no_action_needs_a_reason_and_records_who(record, patient, clinician):
    record(patient, {"k": "3.4"})
    finding = Finding.objects.get()
    with pytest.raises(ValidationError):
        services.decide_no_action(finding, reason="", by=clinician)
    services.decide_no_action(finding, reason="Known, stable on review", by=clinician)
    finding.refresh_from_db()
    assert finding.status == Finding.Status.NO_ACTION
    assert (finding.acknowledged_by, finding.decided_by) == (clinician, clinician)
    assert finding.no_action_reason == "Known, stable on review"


def test_a_decided_finding_cannot_be_decided_again(record, patient, clinician):
    record(patient, {"k": "3.4"})
    finding = services.decide_no_action(Finding.objects.get(), reason="Known", by=clinician)
    with pytest.raises(ValidationError, match="already no action needed"):
        services.decide_no_action(finding, reason="Again", by=clinician)


def test_every_state_change_is_in_history_with_who(record, patient, clinician, other_clinician):
    record(patient, {"k": "2.5"})
    finding = Finding.objects.get()
    services.acknowledge(finding, comment="Seen", call=PHONED, by=clinician)
    plan = services.create_plan(
        finding,
        action_type=ActionType.REPEAT_TEST,
        analyte=finding.result.analyte,
        due_date=timezone.localdate(),
        owner=other_clinician,
        by=other_clinician,
    )
    services.complete_plan(plan, outcome="Repeat normal", version=plan.version, by=other_clinician)
    rows = list(finding.history.order_by("history_id").values_list("status", "history_change_reason"))
    assert rows == [("open", "opened"), ("acknowledged", "acknowledged"), ("follow-up-planned", "follow-up planned")]
    plan_rows = list(plan.history.order_by("history_id").values_list("status", "history_change_reason"))
    assert plan_rows == [("planned", "planned"), ("done", "done")]


# --- plans -------------------------------------------------------------------------------------


@pytest.fixture
def planned(record, patient, clinician):
    record(patient, {"k": "3.1"}, at=timezone.now() - datetime.timedelta(days=10))
    finding = Finding.objects.get()
    return services.create_plan(
        finding,
        action_type=ActionType.REPEAT_TEST,
        analyte=finding.result.analyte,
        due_date=services.default_due_date(finding),
        owner=clinician,
        details="Repeat with magnesium",
        by=clinician,
    )


def test_creating_a_plan_is_the_findings_disposition(planned, clinician):
    finding = planned.finding
    finding.refresh_from_db()
    assert finding.status == Finding.Status.FOLLOW_UP_PLANNED
    assert (finding.decided_by, planned.created_by, planned.version) == (clinician, clinician, 1)


def test_default_due_date_comes_from_the_rules_retest_interval(record, patient):
    record(patient, {"k": "3.1"})  # potassium-low: 7 days
    assert services.default_due_date(Finding.objects.get(), today=datetime.date(2026, 1, 30)) == datetime.date(
        2026, 2, 6
    )


def test_repeat_test_needs_an_analyte(record, patient, clinician):
    record(patient, {"k": "3.1"})
    with pytest.raises(ValidationError) as error:
        services.create_plan(
            Finding.objects.get(),
            action_type=ActionType.REPEAT_TEST,
            due_date=timezone.localdate(),
            owner=clinician,
            by=clinician,
        )
    assert "choose the analyte" in error.value.message_dict["analyte"][0]
    assert not FollowUpPlan.objects.exists()
    assert Finding.objects.get().status == Finding.Status.OPEN


def test_stale_version_is_refused_and_changes_nothing(planned, clinician, other_clinician):
    # Both open the edit form at version 1; Carol saves first.
    services.update_plan(planned, version=1, details="Carol's change", by=other_clinician)
    with pytest.raises(ValidationError) as error:
        services.update_plan(planned, version=1, details="Alice's change", by=clinician)
    assert "Carol Clinician changed this plan" in error.value.messages[0]
    assert "your changes were not saved" in error.value.messages[0]
    planned.refresh_from_db()
    assert (planned.details, planned.version, planned.updated_by) == ("Carol's change", 2, other_clinician)


def test_stale_version_refuses_completion_too(planned, clinician, other_clinician):
    services.update_plan(planned, version=1, details="Changed", by=other_clinician)
    with pytest.raises(ValidationError, match="after you opened it"):
        services.complete_plan(planned, outcome="Done", version=1, by=clinician)
    planned.refresh_from_db()
    assert planned.status == FollowUpPlan.Status.PLANNED


def test_new_result_for_the_analyte_meets_the_repeat_test(planned, record, patient):
    panel = record(patient, {"k": "3.9", "mg": "2.0"}, at=timezone.now() - datetime.timedelta(hours=2))
    planned.refresh_from_db()
    assert planned.met_result == panel.results.get(analyte__code="k")
    assert planned.met_at is not None
    assert planned.version == 2  # an open edit form from before is now stale
    assert planned.status == FollowUpPlan.Status.PLANNED  # the clinician closes it with an outcome


def test_result_for_another_analyte_or_patient_does_not_meet_it(planned, record, patient, patient_factory, clinician):
    record(patient, {"mg": "2.0"}, at=timezone.now() - datetime.timedelta(hours=2))
    record(patient_factory(created_by=clinician), {"k": "4.0"}, at=timezone.now() - datetime.timedelta(hours=2))
    planned.refresh_from_db()
    assert planned.met_result is None


def test_result_collected_before_the_finding_does_not_meet_it(planned, record, patient):
    record(patient, {"k": "4.0"}, at=timezone.now() - datetime.timedelta(days=20))  # a late-entered older panel
    planned.refresh_from_db()
    assert planned.met_result is None


def test_a_repeat_result_entered_in_error_no_longer_meets_the_plan(planned, record, patient, other_clinician):
    # The repeat came back normal, then turned out to be another patient's sample.
    repeat = record(patient, {"k": "4.0"}, at=timezone.now() - datetime.timedelta(hours=2)).results.get()
    planned.refresh_from_db()
    assert planned.met_result == repeat
    services.mark_entered_in_error(repeat, reason="Wrong patient's sample", by=other_clinician)

    planned.refresh_from_db()
    assert (planned.met_result, planned.met_at) == (None, None)
    assert (planned.version, planned.updated_by) == (3, other_clinician)  # a form opened before is stale
    assert planned.history.latest().history_change_reason == "repeat test result entered in error"
    # Not due for a week and no valid repeat back: off the worklist until one is entered.
    assert not FollowUpPlan.objects.needing_attention(today=timezone.localdate()).exists()
    again = record(patient, {"k": "3.8"}, at=timezone.now() - datetime.timedelta(hours=1)).results.get()
    planned.refresh_from_db()
    assert planned.met_result == again


def test_a_withdrawn_repeat_result_gives_way_to_a_later_valid_one(planned, record, patient, clinician):
    first = record(patient, {"k": "4.0"}, at=timezone.now() - datetime.timedelta(hours=5)).results.get()
    second = record(patient, {"k": "4.2"}, at=timezone.now() - datetime.timedelta(hours=2)).results.get()
    planned.refresh_from_db()
    assert planned.met_result == first
    services.mark_entered_in_error(first, reason="Haemolysed sample", by=clinician)
    planned.refresh_from_db()
    assert planned.met_result == second
    assert planned.met_at is not None


def test_complete_needs_an_outcome_and_records_who(planned, clinician):
    with pytest.raises(ValidationError):
        services.complete_plan(planned, outcome=" ", version=1, by=clinician)
    plan = services.complete_plan(planned, outcome="K 3.9, normal", version=1, by=clinician)
    assert (plan.status, plan.closed_by, plan.outcome_note) == (FollowUpPlan.Status.DONE, clinician, "K 3.9, normal")
    with pytest.raises(ValidationError, match="already done"):
        services.cancel_plan(plan, outcome="x", version=plan.version, by=clinician)


def test_cancelling_the_only_plan_puts_the_finding_back_on_the_worklist(planned, clinician):
    services.cancel_plan(planned, outcome="Patient moved practice", version=1, by=clinician)
    finding = Finding.objects.get()
    assert finding.status == Finding.Status.ACKNOWLEDGED
    assert finding in Finding.objects.awaiting_decision()


def test_cancelling_one_of_two_plans_keeps_the_disposition(planned, clinician):
    services.create_plan(
        planned.finding,
        action_type=ActionType.DIETARY_ADVICE,
        due_date=timezone.localdate(),
        owner=clinician,
        by=clinician,
    )
    services.cancel_plan(planned, outcome="Not needed", version=1, by=clinician)
    assert Finding.objects.get().status == Finding.Status.FOLLOW_UP_PLANNED
