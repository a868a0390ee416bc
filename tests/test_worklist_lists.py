"""The worklist shows the first rows of each list with the list's full count, and links to the whole
list a page at a time, so that nothing abnormal drops off the home page unseen."""

import datetime
from dataclasses import replace

import pytest
from django.core.cache import cache
from django.utils import timezone

from guidance import selectors, services, views
from guidance.models import ActionType, Finding
from guidance.services import record_results
from patients.services import set_patient_active

from .recording import PHONED, entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_awaiting(record, patient_factory, clinician):
    """Three patients with a low magnesium each, entered in this order: three findings awaiting review."""
    patients = [patient_factory(created_by=clinician) for _ in range(3)]
    for patient in patients:
        record(patient, {"mg": "1.5"})
    return list(Finding.objects.order_by("created_at", "id"))


def test_counts_are_of_the_whole_list(clinician_client, record, patient_factory, clinician):
    open_critical, acknowledged_critical, open_low, decided = (patient_factory(created_by=clinician) for _ in range(4))
    record(open_critical, {"k": "6.5"})
    record(acknowledged_critical, {"k": "2.4"})
    record(open_low, {"mg": "1.5"})
    record(decided, {"ck": "300"})
    services.acknowledge(
        Finding.objects.get(patient=acknowledged_critical), comment="Phoned the patient", call=PHONED, by=clinician
    )
    services.decide_no_action(Finding.objects.get(patient=decided), reason="After a marathon", by=clinician)

    context = clinician_client.get("/").context
    # The acknowledged critical finding still awaits a decision; the decided one is off the worklist.
    assert context["critical_count"] == 1
    assert context["awaiting_count"] == 2
    assert context["reports_count"] == 3
    assert [row.panel.patient for row in context["reports"]] == [open_critical, acknowledged_critical, open_low]


def test_home_page_shows_the_first_rows_and_links_to_all(clinician_client, monkeypatch, three_awaiting):
    monkeypatch.setattr(selectors, "REPORTS_SHOWN", 2)
    response = clinician_client.get("/")
    assert [row.items[0].lead for row in response.context["reports"]] == three_awaiting[:2]
    assert response.context["reports_count"] == 3
    html = response.content.decode()
    assert '<span class="badge text-bg-warning">3</span>' in html
    assert "3 reports with 3 findings awaiting a decision." in html
    assert '<a href="/guidance/worklist/reports/">Show all 3</a>' in html
    monkeypatch.setattr(selectors, "REPORTS_SHOWN", 3)
    cache.clear()  # the sections of two rows are in the cache, and nothing they show has changed
    # A list no longer than what is shown has no link.
    assert "Show all" not in clinician_client.get("/").content.decode()


def test_every_row_is_reachable_a_page_at_a_time(clinician_client, monkeypatch, three_awaiting):
    monkeypatch.setattr(views, "WORKLIST_PAGE_SIZE", 2)
    first = clinician_client.get("/guidance/worklist/awaiting/")
    second = clinician_client.get("/guidance/worklist/awaiting/?page=2")
    assert list(first.context["page"]) == three_awaiting[:2]
    assert list(second.context["page"]) == three_awaiting[2:]
    assert "Page 1 of 2" in first.content.decode()
    assert "Abnormal results awaiting review" in first.content.decode()
    assert three_awaiting[2].get_absolute_url() in second.content.decode()


def test_critical_list_holds_only_critical_findings(clinician_client, record, patient_factory, clinician):
    critical, other = patient_factory(created_by=clinician), patient_factory(created_by=clinician)
    record(critical, {"k": "6.5"})
    record(other, {"mg": "1.5"})
    response = clinician_client.get("/guidance/worklist/critical/")
    assert [f.patient for f in response.context["page"]] == [critical]
    assert "Critical results awaiting acknowledgement" in response.content.decode()


def test_plans_list_is_mine_or_everyones_and_pages_keep_the_choice(
    client, monkeypatch, clinician, other_clinician, three_awaiting
):
    monkeypatch.setattr(views, "WORKLIST_PAGE_SIZE", 1)
    mine, theirs, also_theirs = (
        services.create_plan(
            finding,
            action_type=ActionType.OTHER,
            due_date=timezone.localdate() - datetime.timedelta(days=days_overdue),
            owner=owner,
            by=clinician,
        )
        for finding, owner, days_overdue in zip(
            three_awaiting, [clinician, other_clinician, other_clinician], [1, 3, 2], strict=True
        )
    )
    client.force_login(clinician)
    assert list(client.get("/guidance/worklist/plans/").context["page"]) == [mine]
    everyone = client.get("/guidance/worklist/plans/?plans=everyone")
    assert list(everyone.context["page"]) == [theirs]  # earliest due first
    assert everyone.context["page"].paginator.count == 3
    assert "?plans=everyone&amp;page=2" in everyone.content.decode()
    assert list(client.get("/guidance/worklist/plans/?plans=everyone&page=3").context["page"]) == [mine]


def test_unknown_list_is_not_found(clinician_client):
    assert clinician_client.get("/guidance/worklist/everything/").status_code == 404


def test_anonymous_is_sent_to_login(client):
    response = client.get("/guidance/worklist/awaiting/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def make_plans(record, patient_factory, clinician, size):
    """`size` patients, each with a repeat calcium planned and its result back, a critical finding and
    one awaiting review."""
    for _ in range(size):
        patient = patient_factory(created_by=clinician)
        record(patient, {"ca": "8.0", "alb": "4.0", "k": "6.5", "mg": "1.5"})
        finding = Finding.objects.get(patient=patient, rule__code="calcium-low")
        services.create_plan(
            finding,
            action_type=ActionType.REPEAT_TEST,
            analyte=finding.result.analyte,
            due_date=timezone.localdate() + datetime.timedelta(days=30),
            owner=clinician,
            by=clinician,
        )
        record(patient, {"ca": "9.2"})  # the repeat test comes back


@pytest.mark.parametrize("size", [1, 6])
def test_home_page_query_count_with_repeat_results_back(
    clinician_client, django_assert_num_queries, record, patient_factory, clinician, size
):
    make_plans(record, patient_factory, clinician, size)
    # 1 session, 2 user, 3 permissions (the user's own and their groups'), 4 count of critical findings,
    # 5 count of undecided findings, 6 recent panels with their counts, 7 the review settings, 8 the
    # reports with a critical result waiting, 9 the ids of the other reports shown, 10 the reports shown,
    # 11 their abnormal results, 12 their findings awaiting a decision, 13 those findings' topics'
    # titles, 14 count of the other reports, 15 plans due, 16 the plans' analytes, 17 the repeat results
    # that came back, 18 their analytes, 19 the analytes of the findings' results, 20 count of plans due
    # by today, 21 count of plans due later whose repeat result is back, 22 roles for the navigation bar;
    # and around those, the cache (guidance.selectors.worklist_sections): the newest history ids before,
    # the read (a miss) and the write after (count of entries, savepoint, existing key, insert, release).
    with django_assert_num_queries(22 + 7):
        response = clinician_client.get("/")
    assert [plan.met_result.analyte.code for plan in response.context["plans"]] == ["ca"] * size
    # Each patient's first report (critical first): the critical potassium, and the magnesium pattern with
    # the low magnesium under it (the low calcium it also covers has its plan); then each repeat calcium's
    # report, whose change from 8.0 to 9.2 mg/dL (+15 %) is a delta finding. The home page shows 10.
    assert [row.finding_count for row in response.context["reports"]] == ([3] * size + [1] * size)[:10]
    assert "Result received" in response.content.decode()


@pytest.mark.parametrize("size", [1, 6])
def test_full_list_query_count_does_not_grow(clinician_client, django_assert_num_queries, make_awaiting, size):
    make_awaiting(size)
    # 1 session, 2 user, 3 permissions, 4 count for the paginator, 5 the page's findings with their
    # patients, results and analytes, 6 their topics' titles, 7 roles for the navigation bar.
    with django_assert_num_queries(7):
        response = clinician_client.get("/guidance/worklist/awaiting/")
    assert len(response.context["page"]) == 2 * size


@pytest.fixture
def make_awaiting(record, patient_factory, clinician):
    def make(size):
        for _ in range(size):
            record(patient_factory(created_by=clinician), {"mg": "1.5", "vitd25": "15"})

    return make


def test_plans_count_counts_due_and_results_back_once_each(clinician_client, record, patient_factory, clinician):
    """The home page counts the plans due in two counts (due by today; due later with the result back):
    each plan needing attention once, and no other plan."""
    plans = {}
    for name, action, due_in_days in [
        ("due today", ActionType.OTHER, 0),
        ("due tomorrow", ActionType.OTHER, 1),
        ("due later, result back", ActionType.REPEAT_TEST, 30),
        ("overdue, result back", ActionType.REPEAT_TEST, -1),
        ("overdue, done", ActionType.OTHER, -1),
    ]:
        patient = patient_factory(created_by=clinician)
        record(patient, {"ca": "8.0", "alb": "4.0"})
        finding = Finding.objects.get(patient=patient, rule__code="calcium-low")
        plans[name] = services.create_plan(
            finding,
            action_type=action,
            analyte=finding.result.analyte if action == ActionType.REPEAT_TEST else None,
            due_date=timezone.localdate() + datetime.timedelta(days=due_in_days),
            owner=clinician,
            by=clinician,
        )
        if name.endswith("result back"):
            record(patient, {"ca": "9.2"})
    done = plans["overdue, done"]
    services.complete_plan(done, outcome="Seen in clinic", version=done.version, by=clinician)

    context = clinician_client.get("/?plans=everyone").context
    assert context["plans_count"] == 3
    assert {plan.pk for plan in context["plans"]} == {
        plans[name].pk for name in ("due today", "due later, result back", "overdue, result back")
    }


def test_every_finding_carries_its_results_report_and_collection_time(record, patient):
    # The worklist orders reports by the findings' own copies (finding_worklist_reports_idx): a pattern,
    # a plain finding and a delta finding (potassium 3.6 then 5.1 two days later) each copy their result's.
    two_days_ago = timezone.now() - datetime.timedelta(days=2)
    earlier = record(patient, {"k": "3.6"}, at=two_days_ago)
    later = record(patient, {"k": "5.1", "mg": "1.5"}, at=two_days_ago + datetime.timedelta(days=2))

    findings = Finding.objects.filter(patient=patient)
    assert sorted((f.result.analyte.code, f.delta_rule_id is not None, f.panel_id) for f in findings) == [
        ("k", True, later.pk),
        ("mg", False, later.pk),
    ]
    assert {f.collected_at for f in findings} == {later.collected_at}
    assert earlier.collected_at != later.collected_at


def test_reports_come_critical_first_then_oldest_collected_first(record, patient_factory, clinician):
    now = timezone.now()
    oldest, newest_critical, middle, older_critical = (patient_factory(created_by=clinician) for _ in range(4))
    record(oldest, {"mg": "1.5"}, at=now - datetime.timedelta(days=9))
    record(newest_critical, {"k": "6.5"}, at=now - datetime.timedelta(days=1))
    record(middle, {"mg": "1.5"}, at=now - datetime.timedelta(days=5))
    record(older_critical, {"k": "2.4"}, at=now - datetime.timedelta(days=3))

    reports = selectors.ReportsAwaitingReview()

    assert reports.count() == 4
    assert [panel.patient for panel in reports[0:4]] == [older_critical, newest_critical, oldest, middle]
    assert [panel.critical_waiting for panel in reports[0:4]] == [True, True, False, False]
    # A page that starts among the critical reports and ends among the others, and one past them.
    assert [panel.patient for panel in reports[1:3]] == [newest_critical, oldest]
    assert [panel.patient for panel in reports[3:10]] == [middle]


def test_a_preliminary_result_says_so_on_the_worklist_and_the_finding_page(clinician_client, clinician, patient):
    record_results(
        patient=patient,
        collected_at=timezone.now() - datetime.timedelta(hours=1),
        entries=[replace(entry("k", "2.4"), preliminary=True)],
        by=clinician,
    )
    finding = Finding.objects.get()

    worklist = clinician_client.get("/").content.decode()
    page = clinician_client.get(f"/guidance/findings/{finding.pk}/").content.decode()

    assert worklist.count("<small>(preliminary)</small>") == 1  # the report's abnormal value
    assert "<small>(preliminary)</small>" in page  # the value and its last values
    assert finding.critical  # a critical preliminary result does not wait for the final one


def test_a_deactivated_patients_report_says_why_it_cannot_be_decided_here(
    clinician_client, administrator, record, patient
):
    record(patient, {"mg": "1.5"})
    set_patient_active(patient, active=False, by=administrator, reason="Duplicate record")

    html = clinician_client.get("/").content.decode()

    assert ">Patient deactivated: read-only</span>" in html
