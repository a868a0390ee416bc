"""The patient page keeps its findings summary in the cache as HTML (guidance.selectors.findings_section):
a second look costs fewer queries, and every change to what the summary shows is on the page at once."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guidance import services
from guidance.models import Finding, Topic
from patients.services import set_patient_active

from .conftest import page_section
from .factories import UserFactory
from .recording import plan_repeat

pytestmark = pytest.mark.django_db


def summary(client, patient, query=""):
    return page_section(
        client, f"/patients/{patient.pk}/{query}", starts_at='aria-labelledby="findings-heading"', ends_at="</section>"
    )


def test_a_second_look_reads_the_summary_from_the_cache(clinician_client, patient, low_potassium):
    first = summary(clinician_client, patient)
    assert "3.1 mmol/L" in first
    with CaptureQueriesContext(connection) as second_look:
        second = summary(clinician_client, patient)
    assert second == first
    # Not the findings (with their topics and plans) again: one query of what their version is made of.
    assert not [query for query in second_look.captured_queries if query["sql"].startswith('SELECT "guidance_finding"')]


def decide_no_action(finding, clinician):
    services.decide_no_action(finding, reason="Known and stable", by=clinician)
    return "No action needed"


def plan_a_repeat(finding, clinician):
    plan_repeat(finding, by=clinician)
    return "Repeat in a week"


def complete_the_plan(finding, clinician):
    made = plan_repeat(finding, by=clinician)
    services.complete_plan(made, outcome="Repeat was normal", version=made.version, by=clinician)
    return "Repeat was normal"


def edit_the_plan(finding, clinician):
    made = plan_repeat(finding, by=clinician)
    services.update_plan(made, version=made.version, by=clinician, details="Repeat with magnesium")
    return "Repeat with magnesium"


def correct_the_value(finding, clinician):
    result = finding.result
    services.correct_result(
        result, value=Decimal("3.3"), unit=result.analyte.units.get(unit="mmol/L"), reason="Re-run", by=clinician
    )
    return "3.3 mmol/L"


def retitle_the_explanation(finding, clinician):
    topic = Topic.objects.get(pk=finding.topic_id)
    topic.title = "Potassium: too low"
    topic.save()  # as the admin saves it, with its history
    return "Potassium: too low"


@pytest.mark.parametrize(
    "change",
    [decide_no_action, plan_a_repeat, complete_the_plan, edit_the_plan, correct_the_value, retitle_the_explanation],
    ids=["a decision", "a plan made", "a plan done", "a plan edited", "a correction", "an explanation retitled"],
)
def test_a_change_to_a_finding_its_plans_or_its_result_shows_at_once(
    clinician_client, patient, low_potassium, clinician, change
):
    before = summary(clinician_client, patient)
    shown = change(low_potassium, clinician)
    assert shown not in before
    assert shown in summary(clinician_client, patient)


def test_a_new_finding_shows_at_once(clinician_client, patient, low_potassium, record):
    assert "Magnesium" not in summary(clinician_client, patient)
    record(patient, {"mg": "1.5"})
    assert "Magnesium" in summary(clinician_client, patient)


def test_a_plan_falls_overdue_the_next_day(clinician_client, patient, low_potassium, clinician, monkeypatch):
    plan_repeat(low_potassium, by=clinician, due=timezone.localdate())
    assert "overdue" not in summary(clinician_client, patient)
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: tomorrow)
    assert "Planned, overdue" in summary(clinician_client, patient)


def test_the_links_follow_the_user_and_the_patient(
    clinician_client, client, patient, low_potassium, clinician, administrator
):
    plan_repeat(low_potassium, by=clinician)
    assert "Mark as done" in summary(clinician_client, patient)
    reader = UserFactory()
    reader.user_permissions.add(*Permission.objects.filter(codename__in=["view_patient", "view_result"]))
    client.force_login(reader)
    # The same patient's summary, cached for the clinician, is drawn without the plan's links for the reader.
    assert "Mark as done" not in summary(client, patient)
    set_patient_active(patient, active=False, by=administrator, reason="Duplicate record")
    assert "Mark as done" not in summary(clinician_client, patient)


def test_all_findings_is_its_own(clinician_client, patient, record, clinician):
    for day in range(6, 0, -1):
        panel = record(patient, {"k": "3.1"}, at=timezone.now() - datetime.timedelta(days=day))
        services.decide_no_action(Finding.objects.get(result__panel=panel), reason="Known", by=clinician)
    assert "Show all findings" in summary(clinician_client, patient)
    assert "Show all findings" not in summary(clinician_client, patient, "?findings=all")
    assert "Show all findings" in summary(clinician_client, patient)
