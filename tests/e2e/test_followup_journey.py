"""After the first decision: a repeat result meets its plan, "no action needed", a cancelled plan, and the
cohort export (an administrator's download, a clinician's refusal).

Each test starts from results saved through the services (the `save` and `record` fixtures), since
entering a panel and working a finding through its first steps are in test_clinician_journey.py.
"""

import csv
import datetime
import io
import re

from django.utils import timezone
from playwright.sync_api import expect

from exports.csv_export import HEADER
from exports.models import PatientExport
from guidance.models import Finding, FollowUpPlan

from .conftest import check_page

POTASSIUM_FINDING = "Potassium imbalance (low and high potassium)"
CK_FINDING = "Raised creatine kinase (muscle injury)"


def nav(page, name):
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name=name).click()


def test_repeat_result_meets_the_plan_on_the_worklist_then_the_plan_is_done(clinician_page, patient, record):
    page = clinician_page
    # A low potassium (3.1 mmol/L, not critical), saved yesterday: the potassium rule suggests a repeat in 7 days.
    record(patient, {"k": "3.1"})
    finding = Finding.objects.get(patient=patient)
    due = timezone.localdate() + datetime.timedelta(days=7)

    # --- Plan the repeat from the finding, keeping the rule's suggestion. ---
    page.goto(f"/patients/{patient.pk}/")
    findings = page.get_by_role("region", name="Findings")
    findings.get_by_role("listitem").filter(has_text=POTASSIUM_FINDING).get_by_role("link", name="Review").click()
    page.get_by_role("link", name="Plan a follow-up").click()
    expect(page.get_by_label("Action")).to_have_value("repeat-test")
    expect(page.get_by_label("Test to repeat").locator("option:checked")).to_have_text("Potassium (mmol/L)")
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_role("alert")).to_contain_text("Follow-up planned.")

    # Due in a week, so the worklist does not list it yet.
    nav(page, "Worklist")
    follow_ups = page.get_by_role("region", name="Follow-ups due or overdue")
    expect(follow_ups).to_contain_text("None of yours.")

    # --- The repeat potassium comes back normal and is entered from the patient page. ---
    nav(page, "Patients")
    page.get_by_role("link", name=f"{patient.family_name}, {patient.given_name}").click()
    page.get_by_role("link", name="Enter results").click()
    collected = timezone.localtime().replace(second=0, microsecond=0)
    page.get_by_label("Collected at").fill(f"{collected:%Y-%m-%dT%H:%M}")
    page.get_by_label("Potassium", exact=True).fill("4.0")
    page.get_by_role("button", name="Save results").click()
    expect(page.get_by_role("alert")).to_have_text(f"Saved 1 result collected {collected:%d %b %Y %H:%M}.")
    received = f"✔ Repeat result received: Potassium 4.0 mmol/L (normal), collected {collected:%-d %b %Y}."
    expect(findings.get_by_role("listitem").filter(has_text=POTASSIUM_FINDING)).to_contain_text(received)

    # --- The worklist now lists the plan, before its due date, with the new result beside the old one. ---
    nav(page, "Worklist")
    expect(follow_ups.get_by_role("heading")).to_have_text("Follow-ups due or overdue 1")
    rows = follow_ups.get_by_role("row")
    expect(rows).to_have_count(2)  # the header and this plan
    row = rows.nth(1)
    expect(row.get_by_role("cell").nth(0)).to_have_text(re.compile(rf"^\s*{due:%-d %b %Y}\s+Result received\s*$"))
    expect(row.get_by_role("cell").nth(0)).not_to_contain_text("Overdue")
    expect(row.get_by_role("link", name=f"{patient.family_name}, {patient.given_name}")).to_be_visible()
    expect(row.get_by_role("cell").nth(2)).to_contain_text("Repeat test: Potassium")
    expect(row.get_by_role("cell").nth(2)).to_contain_text("New result: Potassium 4.0 mmol/L Normal")
    expect(row.get_by_role("cell").nth(3)).to_contain_text("Potassium 3.1 mmol/L Low")
    expect(row.get_by_role("cell").nth(4)).to_have_text("Alice Clinician")
    check_page(page, "worklist-repeat-result-received")

    # --- Open it and close the plan with the outcome. ---
    row.get_by_role("link", name=f"Open plan for {patient.full_name}").click()
    expect(page.get_by_role("heading", name=POTASSIUM_FINDING, level=1)).to_be_visible()
    plans = page.get_by_role("region", name="Follow-up plans")
    expect(plans).to_contain_text(received)
    expect(plans).to_contain_text(f"Planned Repeat test: Potassium due {due:%-d %b %Y} · owner Alice Clinician")
    plans.get_by_role("link", name="Mark as done").click()
    expect(page.get_by_role("heading", name="Complete follow-up plan")).to_be_visible()
    # The form repeats the plan it closes, new result included.
    expect(page.get_by_text(received)).to_be_visible()
    check_page(page, "plan-complete-form")
    page.get_by_label("Outcome note").fill("Potassium back to 4.0 mmol/L; no change to treatment")
    page.get_by_role("button", name="Mark as done").click()

    expect(page.get_by_role("alert")).to_contain_text("Plan marked as done.")
    expect(plans).to_contain_text("Done Repeat test: Potassium")
    expect(plans).to_contain_text(received)
    expect(plans).to_contain_text("Done by Alice Clinician on")
    expect(plans).to_contain_text(": Potassium back to 4.0 mmol/L; no change to treatment")
    expect(plans.get_by_role("link", name="Mark as done")).to_have_count(0)
    plan = FollowUpPlan.objects.get(finding=finding)
    assert plan.status == FollowUpPlan.Status.DONE
    assert (plan.met_result.analyte.code, plan.met_result.value) == ("k", 4)

    # Done, it leaves the worklist.
    nav(page, "Worklist")
    expect(follow_ups).to_contain_text("None of yours.")


def test_no_action_needs_a_reason_and_a_cancelled_plan_puts_the_finding_back(clinician_page, patient, record):
    page = clinician_page
    # A low potassium and a raised CK (450 U/L, under 5× the upper limit): two routine-or-prompt findings.
    record(patient, {"k": "3.1", "ck": "450"})
    who = f"for {patient.full_name}"

    # --- The CK: known and stable, so no action; the first try has no reason and is refused. ---
    nav(page, "Worklist")
    reports = page.get_by_role("region", name="Reports awaiting review")
    expect(reports).to_contain_text("2 findings")
    # The findings one by one, from the link under the reports.
    page.get_by_role("link", name="other findings awaiting review (2)").click()
    expect(page.get_by_role("link", name=re.compile(r"^Review "))).to_have_count(2)
    page.get_by_role("link", name=f"Review {CK_FINDING} {who}").click()
    expect(page.get_by_role("heading", name=CK_FINDING, level=1)).to_be_visible()
    expect(page.get_by_text("Awaiting review", exact=True)).to_be_visible()

    page.get_by_role("button", name="Record: no action needed").click()
    reason = page.get_by_label("Reason no action is needed")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(reason).to_have_accessible_description(
        "Give the reason no action is needed (e.g. known and stable, already treated)."
    )
    expect(page.get_by_text("Recorded: no action needed.")).to_have_count(0)
    check_page(page, "finding-no-action-with-error")
    ck_finding = Finding.objects.get(result__analyte__code="ck")
    assert ck_finding.status == Finding.Status.OPEN

    reason.fill("Known and stable: CK has run at 400–500 U/L since 2019")
    page.get_by_role("button", name="Record: no action needed").click()
    expect(page.get_by_role("alert")).to_have_text("Recorded: no action needed.")
    expect(page.get_by_text("No action needed", exact=True)).to_be_visible()  # the status beside the title
    # Decided, so the review forms are gone; the page says who decided, and why.
    expect(page.get_by_role("region", name="Review")).to_have_count(0)
    history = page.get_by_role("region", name="Who did what")
    expect(history.get_by_text("Decided by Alice Clinician on")).to_contain_text(
        "no action needed, “Known and stable: CK has run at 400–500 U/L since 2019”"
    )
    expect(history.get_by_role("listitem").last).to_contain_text(
        "No action needed · Alice Clinician (no action needed)"
    )
    check_page(page, "finding-no-action")

    # --- The potassium: a repeat is planned, then cancelled; the cancellation needs an outcome note. ---
    page.get_by_role("link", name=f"{patient.full_name} ({patient.mrn})").click()
    findings = page.get_by_role("region", name="Findings")
    expect(findings.get_by_role("listitem").filter(has_text=CK_FINDING)).to_contain_text("No action needed")
    findings.get_by_role("listitem").filter(has_text=POTASSIUM_FINDING).get_by_role("link", name="Review").click()
    page.get_by_role("link", name="Plan a follow-up").click()
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_role("alert")).to_contain_text("Follow-up planned.")
    expect(page.get_by_text("Follow-up planned", exact=True)).to_be_visible()

    plans = page.get_by_role("region", name="Follow-up plans")
    plans.get_by_role("link", name="Cancel plan").click()
    expect(page.get_by_role("heading", name="Cancel follow-up plan")).to_be_visible()
    page.get_by_role("button", name="Cancel plan").click()
    expect(page.get_by_role("alert")).to_have_text("Nothing was saved: see below.")
    outcome = page.get_by_label("Outcome note")
    expect(outcome).to_have_attribute("aria-invalid", "true")
    expect(outcome).to_have_accessible_description(
        "Write an outcome note: what happened, or why the plan is cancelled."
    )
    check_page(page, "plan-cancel-with-error")
    assert FollowUpPlan.objects.get().status == FollowUpPlan.Status.PLANNED

    outcome.fill("Care transferred to her new GP, who will repeat it")
    page.get_by_role("button", name="Cancel plan").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Plan cancelled. If it was the finding's only plan, the finding awaits a decision again."
    )
    expect(plans).to_contain_text("Cancelled Repeat test: Potassium")
    expect(plans).to_contain_text("Cancelled by Alice Clinician on")
    expect(plans).to_contain_text(": Care transferred to her new GP, who will repeat it")
    expect(plans.get_by_role("link", name="Cancel plan")).to_have_count(0)
    # A cancelled plan is no decision: the finding awaits one again, and the page offers it.
    expect(page.get_by_text("Acknowledged, awaiting decision", exact=True)).to_be_visible()
    review = page.get_by_role("region", name="Review")
    expect(review.get_by_role("link", name="Plan a follow-up")).to_be_visible()
    expect(review.get_by_role("button", name="Record: no action needed")).to_be_visible()
    history = page.get_by_role("region", name="Who did what")
    expect(history.get_by_text("Decided by")).to_have_count(0)
    expect(history.get_by_role("listitem").last).to_contain_text(
        "Acknowledged, awaiting decision · Alice Clinician (only follow-up plan cancelled: awaiting a decision again)"
    )
    check_page(page, "finding-plan-cancelled")

    # The worklist shows the potassium again, and not the CK decided above.
    nav(page, "Worklist")
    expect(reports).to_contain_text("1 finding")
    page.get_by_role("link", name="other findings awaiting review (1)").click()
    expect(page.get_by_role("link", name=re.compile(r"^Review "))).to_have_count(1)
    expect(page.get_by_role("link", name=f"Review {POTASSIUM_FINDING} {who}")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("Acknowledged, awaiting decision")


def test_administrator_downloads_the_cohort_csv(admin_page, administrator, clinician, patient_factory, record):
    page = admin_page
    ruth = patient_factory(mrn="MRN-00314", given_name="Ruth", family_name="Ashdown", created_by=clinician)
    other = patient_factory(mrn="MRN-00777", given_name="Tom", family_name="Early", created_by=clinician)
    march = timezone.make_aware(datetime.datetime(2026, 3, 2, 9, 30))  # before British Summer Time
    record(ruth, {"k": ("3.0", "mmol/L"), "mg": ("0.8", "mmol/L")}, at=march, lab_name="North Lab")
    # Collected the evening before the range starts: not in the file.
    record(other, {"k": ("4.2", "mmol/L")}, at=timezone.make_aware(datetime.datetime(2026, 2, 28, 23, 30)))

    nav(page, "Cohort export")
    expect(page.get_by_role("heading", name="Cohort export (CSV)")).to_be_visible()
    check_page(page, "cohort-export")

    # A range back to front is refused beside the end date, and nothing is exported.
    page.get_by_label("From (collection date)").fill("2026-03-31")
    page.get_by_label("To (collection date, inclusive)").fill("2026-03-01")
    page.get_by_role("button", name="Download CSV").click()
    end = page.get_by_label("To (collection date, inclusive)")
    expect(end).to_have_attribute("aria-invalid", "true")
    expect(end).to_have_accessible_description(
        "The end date (01 Mar 2026) is before the start date (31 Mar 2026); swap them."
    )
    check_page(page, "cohort-export-with-error")
    assert not PatientExport.objects.exists()

    page.get_by_label("From (collection date)").fill("2026-03-01")
    end.fill("2026-03-31")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    assert info.value.suggested_filename == "myolab-cohort-2026-03-01-to-2026-03-31.csv"
    text = info.value.path().read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")  # the byte order mark Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == HEADER  # spelled out in tests/test_exports_csv.py
    data = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [(row["patient MRN"], row["analyte"]) for row in data] == [
        ("MRN-00314", "Magnesium"),
        ("MRN-00314", "Potassium"),
    ]
    potassium = data[1]
    assert potassium == {
        "patient MRN": "MRN-00314",
        "patient name": "Ruth Ashdown",
        "collected at": "2026-03-02T09:30:00+00:00",
        "analyte": "Potassium",
        "LOINC": "2823-3",
        "comparator": "",
        "value as entered": "3",
        "unit as entered": "mmol/L",
        "value (canonical unit)": "3",
        "canonical unit": "mmol/L",
        "reference range applied": "3.5–5.2 mmol/L",
        "range from": "Myolab default",
        "Myolab default range": "",
        "flag": "L",
        "flag meaning": "Low",
        "status": "Final",
        "status reason": "",
        "lab": "North Lab",
        "accession number": "",
        "entered by": "Alice Clinician",
        "specimen condition": "",
        "panel comment": "",
        "result comment": "",
    }
    # Magnesium entered in mmol/L is exported in mg/dL too: 0.8 × 2.431 = 1.9448.
    assert (data[0]["value as entered"], data[0]["unit as entered"]) == ("0.8", "mmol/L")
    assert (data[0]["value (canonical unit)"], data[0]["canonical unit"]) == ("1.9448", "mg/dL")
    [export] = PatientExport.objects.all()
    assert (export.user, export.format, export.patient) == (administrator, PatientExport.Format.COHORT_CSV, None)
    assert export.detail == "collected 2026-03-01 to 2026-03-31"


def test_clinician_is_refused_the_cohort_export(clinician_page):
    page = clinician_page
    expect(page.get_by_role("navigation", name="Main navigation")).to_contain_text("Worklist")
    expect(page.get_by_role("link", name="Cohort export")).to_have_count(0)

    response = page.goto("/exports/cohort/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="You do not have permission to do that")).to_be_visible()
    expect(page.get_by_role("heading", name="Cohort export (CSV)")).to_have_count(0)
    check_page(page, "forbidden")
    page.get_by_role("link", name="Back to the worklist").click()
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()

    # The file's own URL is refused too, and nothing is logged as exported.
    response = page.goto("/exports/cohort.csv?from=2026-03-01&to=2026-03-31")
    assert response.status == 403
    expect(page.get_by_role("heading", name="You do not have permission to do that")).to_be_visible()
    assert not PatientExport.objects.exists()
