"""Reviewing a report in one go: acknowledge its results (a comment for a critical one), then decide
each finding, or apply one decision to several findings of that report; a pattern is decided with the
plain findings it explains. Bad input is refused with a message naming what is wrong, nothing changed."""

import datetime

import pytest
from django.utils import timezone

from guidance import services, views
from guidance.models import Finding, FollowUpPlan
from patients.models import AccessLogEntry

from .factories import UserFactory

pytestmark = pytest.mark.django_db

JUNE = timezone.make_aware(datetime.datetime(2026, 6, 1, 9))
NOVEMBER = timezone.make_aware(datetime.datetime(2026, 11, 1, 9))


@pytest.fixture
def report(record, patient):
    """Low potassium with low magnesium (a pattern covering both) and a low vitamin D: two items."""
    return record(patient, {"k": "3.1", "mg": "1.5", "vitd25": "15"}, at=NOVEMBER)


def lead(report, code):
    return Finding.objects.get(result__panel=report, rule__code=code)


def statuses(report):
    return dict(Finding.objects.filter(result__panel=report).values_list("rule__code", "status"))


def snapshot():
    return (
        list(Finding.objects.order_by("pk").values_list("pk", "status", "decided_with", "no_action_reason")),
        FollowUpPlan.objects.count(),
    )


# --- who may see and use it ---------------------------------------------------------------------


def test_permissions_per_role(client, clinician, administrator, report):
    url = f"/guidance/reports/{report.pk}/"
    client.force_login(clinician)
    assert client.get(url).status_code == 200
    client.force_login(administrator)
    assert client.get(url).status_code == 200  # administrators read findings…
    assert client.post(f"{url}acknowledge/", {"comment": "x"}).status_code == 403  # …but do not review them
    assert client.post(f"{url}decide/", {"findings": [1], "decision": "no-action", "reason": "x"}).status_code == 403
    client.force_login(UserFactory(username="norole"))
    assert client.get(url).status_code == 403
    client.logout()
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert set(statuses(report).values()) == {"open"}


def test_a_missing_report_is_not_found(clinician_client):
    assert clinician_client.get("/guidance/reports/999/").status_code == 404
    assert clinician_client.post("/guidance/reports/999/acknowledge/", {"comment": "x"}).status_code == 404


def test_reading_a_report_is_in_the_access_log(clinician_client, clinician, patient, report):
    clinician_client.get(f"/guidance/reports/{report.pk}/")
    entry = AccessLogEntry.objects.get(patient=patient)
    assert (entry.user, entry.what) == (clinician, AccessLogEntry.What.FINDING)


# --- the review in one go -------------------------------------------------------------------------


def test_the_page_shows_the_pattern_with_the_findings_it_explains(clinician_client, report):
    html = clinician_client.get(f"/guidance/reports/{report.pk}/").content.decode()
    assert "4 findings in 2 items" in html
    assert "It explains, and is decided with:" in html
    pattern = lead(report, "magnesium-low-with-potassium-low")
    assert f'name="findings" value="{pattern.pk}"' in html
    # The plain findings it covers are not items of their own.
    assert f'name="findings" value="{lead(report, "magnesium-low").pk}"' not in html


def test_acknowledge_then_one_decision_for_every_item(clinician_client, clinician, report):
    url = f"/guidance/reports/{report.pk}/"
    assert clinician_client.post(f"{url}acknowledge/", {"comment": ""}).status_code == 302
    assert set(statuses(report).values()) == {"acknowledged"}
    pattern, vitamin_d = lead(report, "magnesium-low-with-potassium-low"), lead(report, "vitamin-d-low")
    response = clinician_client.post(
        f"{url}decide/", {"findings": [pattern.pk, vitamin_d.pk], "decision": "no-action", "reason": "Known, treated"}
    )
    assert response.status_code == 302
    assert set(statuses(report).values()) == {"no-action"}
    assert set(Finding.objects.values_list("no_action_reason", flat=True)) == {"Known, treated"}
    # The first ticked finding leads: the others were decided with it.
    assert set(Finding.objects.exclude(pk=pattern.pk).values_list("decided_with", flat=True)) == {pattern.pk}
    assert clinician_client.get("/").context["reports"] == []


def test_one_plan_for_a_pattern_and_what_it_explains_and_cancelling_it_brings_them_back(
    clinician_client, clinician, report
):
    pattern = lead(report, "magnesium-low-with-potassium-low")
    response = clinician_client.post(
        f"/guidance/reports/{report.pk}/decide/",
        {
            "findings": [pattern.pk],
            "decision": "plan",
            "action_type": "supplementation",
            "details": "Magnesium first",
            "due_date": "2026-12-15",
            "owner": clinician.pk,
        },
    )
    assert response.status_code == 302
    plan = FollowUpPlan.objects.get()
    assert (plan.finding, plan.action_type, plan.details) == (pattern, "supplementation", "Magnesium first")
    assert statuses(report) == {
        "magnesium-low-with-potassium-low": "follow-up-planned",
        "magnesium-low": "follow-up-planned",
        "potassium-low": "follow-up-planned",
        "vitamin-d-low": "open",
    }
    services.cancel_plan(plan, outcome="Wrong plan", version=plan.version, by=clinician)
    assert statuses(report) == {
        "magnesium-low-with-potassium-low": "acknowledged",
        "magnesium-low": "acknowledged",
        "potassium-low": "acknowledged",
        "vitamin-d-low": "open",
    }
    assert not Finding.objects.filter(decided_with__isnull=False).exists()


def test_deciding_a_pattern_on_its_own_page_decides_what_it_explains(clinician_client, report):
    pattern = lead(report, "magnesium-low-with-potassium-low")
    clinician_client.post(f"/guidance/findings/{pattern.pk}/no-action/", {"reason": "Known"})
    assert statuses(report) == {
        "magnesium-low-with-potassium-low": "no-action",
        "magnesium-low": "no-action",
        "potassium-low": "no-action",
        "vitamin-d-low": "open",
    }


# --- bad input: refused, named, nothing changed, never a 500 ---------------------------------------


def test_a_critical_result_needs_a_comment_to_acknowledge_the_report(clinician_client, record, patient):
    report = record(patient, {"k": "2.5", "vitd25": "15"})
    before = snapshot()
    response = clinician_client.post(f"/guidance/reports/{report.pk}/acknowledge/", {"comment": "  "})
    assert response.status_code == 400
    assert "This is a critical result: write a comment" in response.content.decode()
    assert snapshot() == before


def test_a_critical_result_is_decided_only_once_acknowledged(clinician_client, record, patient):
    report = record(patient, {"k": "2.5", "vitd25": "15"})
    ids = [Finding.objects.get(rule__code=code).pk for code in ("potassium-low", "vitamin-d-low")]
    before = snapshot()
    response = clinician_client.post(
        f"/guidance/reports/{report.pk}/decide/", {"findings": ids, "decision": "no-action", "reason": "Known"}
    )
    assert response.status_code == 400
    assert "This is a critical result: acknowledge it with a comment before recording a decision." in (
        response.content.decode()
    )
    assert snapshot() == before


def bad_decisions(report, other_report, superseded, decided):
    return [
        ("another patient's report", {"findings": [other_report], "decision": "no-action", "reason": "Known"},
         f"Finding {other_report} is not awaiting a decision in this report"),
        ("a superseded finding", {"findings": [superseded], "decision": "no-action", "reason": "Known"},
         f"Finding {superseded} is not awaiting a decision in this report"),
        ("an already decided finding", {"findings": [decided], "decision": "no-action", "reason": "Known"},
         f"Finding {decided} is not awaiting a decision in this report"),
        ("nothing ticked", {"decision": "no-action", "reason": "Known"},
         "Choose at least one finding of this report to decide."),
        ("no reason", {"findings": [report], "decision": "no-action", "reason": " "},
         "Give the reason no action is needed"),
        ("a plan without its due date", {"findings": [report], "decision": "plan", "action_type": "other"},
         "Due date is required."),
        ("not a number", {"findings": ["x"], "decision": "no-action", "reason": "Known"},
         "Findings are chosen by their numbers"),
        ("an unknown decision", {"findings": [report], "decision": "delete", "reason": "Known"},
         "Choose one of the listed decisions."),
    ]  # fmt: skip


@pytest.mark.parametrize("case", range(8))
def test_a_bad_group_decision_is_refused_naming_what_is_wrong(
    clinician_client, record, patient, patient_factory, clinician, case
):
    record(patient, {"k": "3.1"}, at=JUNE)
    superseded = Finding.objects.get().pk
    report = record(patient, {"k": "3.2", "vitd25": "15", "mg": "1.5"}, at=NOVEMBER)
    decided = lead(report, "vitamin-d-low")
    services.decide_no_action(decided, reason="Known", by=clinician)
    other = record(patient_factory(created_by=clinician), {"mg": "1.5"})
    name, data, message = bad_decisions(
        lead(report, "magnesium-low-with-potassium-low").pk,
        Finding.objects.get(result__panel=other).pk,
        superseded,
        decided.pk,
    )[case]
    before = snapshot()
    response = clinician_client.post(f"/guidance/reports/{report.pk}/decide/", data)
    assert response.status_code == 400, name
    assert message in response.content.decode(), name
    assert "Nothing was saved." in response.content.decode()
    assert snapshot() == before


def test_acknowledging_a_report_with_nothing_to_acknowledge_is_refused(clinician_client, clinician, report):
    services.acknowledge_report(report, comment="", by=clinician)
    response = clinician_client.post(f"/guidance/reports/{report.pk}/acknowledge/", {"comment": ""})
    assert response.status_code == 400
    assert "Nothing in this report awaits acknowledgement; nothing was changed." in response.content.decode()


# --- the full list of reports, a page at a time ----------------------------------------------------


@pytest.mark.parametrize("size", [1, 6])
def test_the_reports_list_query_count_does_not_grow(
    clinician_client, django_assert_num_queries, record, patient_factory, clinician, monkeypatch, size
):
    monkeypatch.setattr(views, "REPORTS_PAGE_SIZE", 4)
    for _ in range(size):
        record(patient_factory(created_by=clinician), {"k": "2.5", "mg": "1.5", "ca": "8.0", "alb": "3.0"})
    # 1 session, 2 user, 3 permissions, 4 the reports with a critical result waiting (all of these),
    # 5 count of the others for the paginator (none, so no query for their ids), 6 the review settings,
    # 7 the page's reports with their patients, 8 their abnormal results, 9 their findings awaiting a
    # decision, 10 those findings' topics' titles, 11 roles for the navigation bar.
    with django_assert_num_queries(11):
        response = clinician_client.get("/guidance/worklist/reports/")
    assert len(response.context["reports"]) == min(size, 4)
    assert response.context["page"].paginator.count == size
    assert [len(row.abnormal) for row in response.context["reports"]] == [4] * min(size, 4)


def test_the_finding_page_links_its_report_and_the_finding_it_was_decided_with(clinician_client, report):
    pattern = lead(report, "magnesium-low-with-potassium-low")
    html = clinician_client.get(pattern.get_absolute_url()).content.decode()
    assert f'<a href="/guidance/reports/{report.pk}/">Review the whole report</a>' in html
    assert "A decision on this pattern also decides the findings of the report it explains." in html
    clinician_client.post(f"/guidance/findings/{pattern.pk}/no-action/", {"reason": "Known"})
    html = clinician_client.get(lead(report, "potassium-low").get_absolute_url()).content.decode()
    assert f'Decided together with <a href="/guidance/findings/{pattern.pk}/">finding {pattern.pk}</a>' in html
