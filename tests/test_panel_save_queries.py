"""Saving a panel in the browser costs the same queries however many analytes it holds, and the bulk
writes behind that keep every history row (the audit trail) with who made the change."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from guidance import services
from guidance.models import ActionType, Finding
from labs.models import Result

from .form_keys import form_key
from .test_labs_views import panel_post, post_panel

pytestmark = pytest.mark.django_db

TWO = {"k": ("3.1", "mmol/L"), "mg": ("1.20", "mg/dL")}
SIX = {
    **TWO,
    "ca": ("8.0", "mg/dL"),
    "alb": ("3.0", "g/dL"),
    "ck": ("1500", "U/L"),
    "vitd25": ("12.0", "ng/mL"),
}


@pytest.fixture
def repeat_potassium(record, patient, clinician):
    """A planned repeat potassium test from a panel collected before the one the tests enter."""
    record(patient, {"k": "3.2"}, at=timezone.make_aware(datetime.datetime(2026, 1, 1, 9)))
    return services.create_plan(
        Finding.objects.get(),
        action_type=ActionType.REPEAT_TEST,
        analyte=Finding.objects.get().result.analyte,
        due_date=datetime.date(2026, 1, 29),
        owner=clinician,
        by=clinician,
    )


TWO_FINDINGS = ["magnesium-low", "magnesium-low-with-potassium-low", "potassium-low"]
SIX_FINDINGS = [
    "",  # low albumin: no rule covers it, so a rule-less finding asks for review
    "calcium-low",
    "calcium-low-with-albumin-low",
    "ck-over-5x",  # 1500 U/L is 7.8 × the female upper limit of 192
    "magnesium-low",
    "magnesium-low-with-calcium-low",
    "magnesium-low-with-potassium-low",
    "potassium-low",
    "vitamin-d-low",
]


@pytest.mark.parametrize("values, rules", [(TWO, TWO_FINDINGS), (SIX, SIX_FINDINGS)])
def test_saving_a_panel_costs_the_same_queries_for_two_or_six_analytes(
    clinician_client, patient, repeat_potassium, django_assert_num_queries, values, rules
):
    url = f"/patients/{patient.pk}/results/new/"
    data = panel_post(values, form_key=form_key(clinician_client, url))
    # 1 session, 2 user, 3 the user's own and group permissions (one query), 4 patient, 5–7 the form's analytes,
    # units and range versions (for the wrong-unit question, and reused by the save), 8 the one-time key
    # not used yet, 9 a recent panel with the same collection time (none); 10 savepoint (the view's
    # transaction), 11–13 savepoint, the key consumed, release; 14 savepoint (record_results), 15 the
    # panel (no accession number, so no savepoint for a concurrent save of the same one), 16 its history
    # row, 17 the results (one insert, returning their ids), 18 their history rows (one insert), 19 the
    # patient's last activity, 20 the patient's contributing factors (none, so the rules' relevant ones
    # are not read), 21 the active rules (a new panel has no findings to read), 22 the findings (one
    # insert), 23 their history rows (one insert), the delta checks (evaluate_deltas): 24 the results with
    # their previous and next results of their test, 25 the delta rules (no next result, so no delta
    # findings to read; no change here is large enough to open one); 26 the patient's findings of these
    # tests awaiting a decision or superseded by a result since withdrawn, with the newest valid result of
    # each test (none superseded here: the earlier potassium's has a plan), 27 the open repeat-test plans
    # (locked), 28 the plans met (one update), 29 their history rows (one insert), 30–31 release
    # (record_results, the view). (No session write: the idle expiry moves on at most once a minute,
    # tests/test_sessions.py.)
    with django_assert_num_queries(31):
        response = clinician_client.post(url, data)
    assert response.status_code == 302
    assert Result.objects.filter(panel__lab_name="City Lab").count() == len(values)
    opened = Finding.objects.filter(result__panel__lab_name="City Lab").select_related("rule")
    assert sorted(finding.rule.code if finding.rule else "" for finding in opened) == rules
    repeat_potassium.refresh_from_db()
    assert repeat_potassium.met_result == Result.objects.get(panel__lab_name="City Lab", analyte__code="k")


def test_bulk_saved_results_findings_and_met_plans_keep_their_history_with_who(
    clinician_client, patient, repeat_potassium, clinician
):
    post_panel(clinician_client, patient, TWO)
    results = Result.objects.filter(panel__lab_name="City Lab")
    for result in results:
        assert list(result.history.values_list("history_type", "history_user", "value_entered", "flag")) == [
            ("+", clinician.pk, result.value_entered, "L")
        ]
    opened = Finding.objects.filter(result__panel__lab_name="City Lab")
    assert opened.count() == 3
    for finding in opened:
        assert list(finding.history.values_list("history_type", "history_user", "history_change_reason")) == [
            ("+", clinician.pk, "opened")
        ]
    rows = repeat_potassium.history.order_by("history_id").values_list(
        "history_type", "history_change_reason", "version", "met_result"
    )
    met = results.get(analyte__code="k")
    assert list(rows) == [("+", "planned", 1, None), ("~", "repeat test result received", 2, met.pk)]
    assert repeat_potassium.history.order_by("history_id").last().history_user == clinician


def test_correction_resolves_findings_in_bulk_with_history(clinician_client, patient, other_clinician):
    post_panel(clinician_client, patient, TWO)
    potassium = Result.objects.get(analyte__code="k")
    services.correct_result(
        potassium,
        value=Decimal("4.1"),
        unit=potassium.analyte.units.get(unit="mmol/L"),
        reason="Typo",
        by=other_clinician,
    )
    resolved = Finding.objects.filter(status=Finding.Status.RESOLVED).select_related("rule")
    assert sorted(f.rule.code for f in resolved) == ["magnesium-low-with-potassium-low", "potassium-low"]
    for finding in resolved:
        assert finding.resolution_note == "Potassium corrected to 4.1 mmol/L (normal): Typo"
        newest = finding.history.order_by("-history_id").first()
        assert (newest.history_type, newest.history_user, newest.history_change_reason, newest.status) == (
            "~",
            other_clinician,
            "resolved",
            "resolved",
        )
    assert Finding.objects.get(rule__code="magnesium-low").status == Finding.Status.OPEN
