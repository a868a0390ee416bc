"""The patient page lists every finding that still needs something (a decision, or a follow-up still
planned) first, then only the three most recent others, with a link to all of them: a patient with years
of results must neither bury an overdue plan under old, closed findings nor make the page slower with
every finding (issue 7)."""

import datetime

import pytest
from django.utils import timezone

from guidance import selectors, services
from guidance.models import ActionType, Finding

pytestmark = pytest.mark.django_db


def days_ago(days):
    return timezone.now() - datetime.timedelta(days=days)


def plan(finding, clinician):
    return services.create_plan(
        finding,
        action_type=ActionType.OTHER,
        due_date=timezone.localdate(),
        owner=clinician,
        by=clinician,
        details="Call",
    )


def test_findings_needing_something_first_then_the_three_newest_others(clinician_client, record, patient, clinician):
    # Six old potassium findings, closed: no action needed (oldest first, 60 to 55 days ago).
    # Each decided before the next one comes (which would supersede it undecided).
    for day in range(60, 54, -1):
        panel = record(patient, {"k": "3.1"}, at=days_ago(day))
        services.decide_no_action(Finding.objects.get(result__panel=panel), reason="Known and stable", by=clinician)
    # A magnesium finding 40 days ago whose plan is done: closed too, and newer than the potassium ones.
    record(patient, {"mg": "1.5"}, at=days_ago(40))
    done = plan(Finding.objects.get(result__analyte__code="mg"), clinician)
    services.complete_plan(done, outcome="Repeat was normal", version=done.version, by=clinician)
    # Still needing something: a CK finding 30 days ago with its plan still planned, and an open
    # vitamin D finding from yesterday.
    record(patient, {"ck": "900"}, at=days_ago(30))
    plan(Finding.objects.get(result__analyte__code="ck"), clinician)
    record(patient, {"vitd25": "15.0"}, at=days_ago(1))

    response = clinician_client.get(f"/patients/{patient.pk}/")

    shown = [
        (finding.result.analyte.code, finding.result.collected_at.date()) for finding in response.context["findings"]
    ]
    assert shown == [
        ("vitd25", days_ago(1).date()),  # awaiting a decision
        ("ck", days_ago(30).date()),  # follow-up still planned
        ("mg", days_ago(40).date()),  # then the three newest closed ones
        ("k", days_ago(55).date()),
        ("k", days_ago(56).date()),
    ]
    assert response.context["more_findings"] is True
    assert "Show all findings" in response.content.decode()

    response = clinician_client.get(f"/patients/{patient.pk}/?findings=all")
    assert len(response.context["findings"]) == 9
    assert response.context["more_findings"] is False
    assert "Show all findings" not in response.content.decode()


def test_at_most_twenty_findings_needing_something_are_listed(clinician_client, record, patient):
    # Critical potassiums, not acknowledged: none is superseded by the next, so all 21 need something.
    for day in range(21, 0, -1):
        record(patient, {"k": "2.5"}, at=days_ago(day))
    assert Finding.objects.count() == 21

    response = clinician_client.get(f"/patients/{patient.pk}/")

    assert len(response.context["findings"]) == selectors.ATTENTION_SHOWN == 20
    assert {finding.status for finding in response.context["findings"]} == {"open"}
    assert response.context["more_findings"] is True


def test_no_link_when_every_finding_is_shown(clinician_client, record, patient):
    record(patient, {"k": "3.1", "mg": "1.5"})
    response = clinician_client.get(f"/patients/{patient.pk}/")
    assert len(response.context["findings"]) == 3  # low potassium, low magnesium, and their pattern
    assert response.context["more_findings"] is False
    assert "Show all findings" not in response.content.decode()
