"""Journey 1: a clinician's day with one patient, in the browser from login to logout.

Everything the journey creates is typed into the pages; only a colleague's patient exists beforehand, so
the patient search has someone to leave out.
"""

import csv
import io
import json
import re

from django.utils import timezone
from playwright.sync_api import expect

from guidance.models import Finding
from labs.models import Result
from patients.models import Patient

from .conftest import check_page, log_in, log_out

# Marian Thornbury's first panel, as the lab report prints it. Calcium is first typed against the form's
# default unit (mg/dL), the slip the form must catch. analyte: (value, unit chosen or None for the default).
PANEL = {
    "Potassium": ("2.5", None),
    "Magnesium": ("0.55", "mmol/L"),
    "Calcium, total": ("2.1", None),
    "Creatine kinase": ("0.5", "µkat/L"),
}
POTASSIUM_FINDING = "Potassium imbalance (low and high potassium)"


def download(page, links, name):
    """Click the download link `name` among `links`; return the file's suggested name and its bytes."""
    with page.expect_download() as info:
        links.get_by_role("link", name=name, exact=True).click()
    return info.value.suggested_filename, info.value.path().read_bytes()


def test_clinician_journey_from_registration_to_exports(page, clinician, patient_factory):
    patient_factory(mrn="MRN-00077", given_name="Oliver", family_name="Quist", created_by=clinician)

    # --- Log in: the app asks first, then lands where the clinician was going. ---
    page.goto("/patients/")
    expect(page.get_by_role("heading", name="Log in to Myolab")).to_be_visible()
    check_page(page, "login")
    log_in(page, "alice")
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    expect(page.get_by_text("Signed in as Alice Clinician (Clinician)")).to_be_visible()
    # The admin is for administrators only, so a clinician is not offered it.
    expect(page.get_by_role("link", name="Administration")).to_have_count(0)

    # --- Register, with one bad field first: the error sits on that field and nothing is saved. ---
    page.get_by_role("link", name="Register a patient").click()
    expect(page.get_by_role("heading", name="Register a patient")).to_be_visible()
    page.get_by_label("Medical record number").fill("MRN 42!")
    page.get_by_label("Given name").fill("Marian")
    page.get_by_label("Family name").fill("Thornbury")
    # 55 on the collection date below, so the adult (18–59) calcium range applies.
    page.get_by_label("Date of birth").fill("1970-04-23")
    page.get_by_label("Sex (for reference ranges)").select_option(label="Female")
    page.get_by_label("Statin or fibrate use").check()
    page.get_by_role("button", name="Register patient").click()

    expect(page.get_by_role("alert")).to_have_text("Nothing was saved. Correct the fields marked below.")
    mrn = page.get_by_label("Medical record number")
    expect(mrn).to_have_attribute("aria-invalid", "true")
    expect(mrn).to_have_accessible_description(re.compile(r"may contain only letters, digits, '\.', '/' and '-'"))
    # The other answers are kept, so only the bad field needs retyping.
    expect(page.get_by_label("Family name")).to_have_value("Thornbury")
    expect(page.get_by_label("Statin or fibrate use")).to_be_checked()
    check_page(page, "patient-form-with-error")
    assert not Patient.objects.filter(family_name="Thornbury").exists()

    mrn.fill("MRN-00042")
    page.get_by_role("button", name="Register patient").click()
    expect(page.get_by_role("heading", name="Marian Thornbury", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Registered Marian Thornbury (MRN-00042).")
    factors = page.get_by_role("region", name="Contributing factors")
    expect(factors.get_by_role("listitem")).to_have_text(["Statin or fibrate use"])
    expect(page.get_by_role("region", name="Lab results")).to_contain_text("No results recorded yet.")

    # --- Find her again from the patient list, and add a note and a second factor. ---
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Patients").click()
    expect(page.get_by_role("table")).to_contain_text("Quist, Oliver")
    page.get_by_label("Search by name or MRN").fill("thorn")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("table")).to_contain_text("1 patient matching “thorn”")
    expect(page.get_by_role("table")).not_to_contain_text("Quist")
    check_page(page, "patient-list")
    page.get_by_role("link", name="Thornbury, Marian").click()

    page.get_by_role("link", name="Edit patient").click()
    page.get_by_label("Diuretic use").check()
    page.get_by_label("Notes").fill("Night cramps in both calves since March.")
    page.get_by_role("button", name="Save patient").click()
    expect(page.get_by_role("alert")).to_have_text("Saved changes to Marian Thornbury (MRN-00042).")
    expect(factors.get_by_role("listitem")).to_have_text(["Diuretic use", "Statin or fibrate use"])
    patient = Patient.objects.get(mrn="MRN-00042")
    assert {entry.history_user.username for entry in patient.history.all()} == {"alice"}

    # --- Enter a panel in mixed units with one impossible value: the error is beside it, nothing saved. ---
    page.get_by_role("link", name="Enter results").click()
    expect(page.get_by_role("heading", name="Enter results")).to_be_visible()
    page.get_by_label("Collected at").fill("2025-06-02T08:15")
    page.get_by_label("Lab name").fill("North Lab")
    for analyte, (value, unit) in PANEL.items():
        page.get_by_label(analyte, exact=True).fill(value)
        if unit:
            page.get_by_label(f"{analyte} unit").select_option(label=unit)
    page.get_by_role("button", name="Save results").click()

    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved. Correct the fields marked below.")
    calcium = page.get_by_label("Calcium, total", exact=True)
    expect(calcium).to_have_accessible_description(
        "Calcium, total: 2.1 mg/dL is implausible — did you mean mmol/L? Values in mg/dL are accepted from 3.00 to 20.00."
    )
    # Only calcium is marked; the other rows keep what was typed, units included.
    expect(page.get_by_role("group", name="Results").get_by_role("textbox", description=re.compile("."))).to_have_count(
        1
    )
    expect(page.get_by_label("Potassium", exact=True)).to_have_value("2.5")
    expect(page.get_by_label("Magnesium unit").locator("option:checked")).to_have_text("mmol/L")
    check_page(page, "result-entry-with-error")
    assert not Result.objects.filter(patient=patient).exists()
    assert not Finding.objects.exists()

    page.get_by_label("Calcium, total unit").select_option(label="mmol/L")
    page.get_by_role("button", name="Save results").click()

    # --- The patient page: each value in its canonical unit, the range used, the flag in words. ---
    expect(page.get_by_role("alert")).to_have_text("Saved 4 results collected 02 Jun 2025 08:15.")
    results = page.get_by_role("region", name="Lab results")
    expect(results.get_by_role("heading", name="Collected 2 Jun 2025, 08:15")).to_be_visible()
    rows = {
        # analyte: (as entered, in the canonical unit, range applied, flag)
        "Potassium": ("2.5 mmol/L", "2.5 mmol/L", "3.5–5.2 mmol/L", "⚠ Critically low"),
        "Magnesium": ("0.55 mmol/L", "1.34 mg/dL", "1.70–2.60 mg/dL", "Low"),
        "Calcium, total": ("2.1 mmol/L", "8.4 mg/dL", "8.6–10.0 mg/dL", "Low"),
        "Creatine kinase": ("0.5 ukat/L", "30 U/L", "26–192 U/L", "Normal"),
    }
    for analyte, expected in rows.items():
        row = results.get_by_role("row").filter(has=page.get_by_role("rowheader", name=analyte, exact=True))
        expect(row.get_by_role("cell").nth(0)).to_have_text(expected[0])
        expect(row.get_by_role("cell").nth(1)).to_have_text(expected[1])
        expect(row.get_by_role("cell").nth(2)).to_have_text(expected[2])
        expect(row.get_by_role("cell").nth(3)).to_have_text(expected[3])
    # Saving opened the findings at once: the critical potassium, the low calcium, and low magnesium alone
    # and in its patterns with low potassium and low calcium.
    findings = page.get_by_role("region", name="Findings")
    expect(findings.get_by_role("listitem")).to_have_count(5)
    potassium_finding = findings.get_by_role("listitem").filter(has_text=POTASSIUM_FINDING)
    expect(potassium_finding).to_contain_text("Awaiting review Urgent")
    # The explanation names the factor recorded at the edit above.
    expect(potassium_finding).to_contain_text("Recorded for this patient and relevant here: Diuretic use.")
    # One trend chart per analyte measured, each described in words for those who cannot see it.
    trends = page.get_by_role("region", name="Trends")
    expect(trends.get_by_role("img")).to_have_count(4)
    expect(trends.get_by_role("heading", name="Potassium")).to_contain_text("1 result since 2 Jun 2025")
    check_page(page, "patient-page-with-flags")

    # --- The explanation behind the potassium finding. ---
    findings.get_by_role("link", name=f"Explanation: {POTASSIUM_FINDING}").click()
    expect(page.get_by_role("heading", name=POTASSIUM_FINDING, level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="When to escalate")).to_be_visible()
    expect(page.get_by_role("heading", name="Sources")).to_be_visible()
    expect(page.get_by_text("This explanation supports and does not replace clinical judgement.")).to_be_visible()
    check_page(page, "explanation")

    # --- The worklist has the critical potassium at the top. ---
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Worklist").click()
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    # One row for Marian's report, marked critical, with its five findings.
    reports = page.get_by_role("region", name="Reports awaiting review")
    expect(reports.get_by_role("link", name="Thornbury, Marian", exact=True)).to_have_count(1)
    expect(reports.get_by_text("⚠ Critical result awaiting acknowledgement")).to_be_visible()
    expect(reports.get_by_text("⚠ Critically low")).to_be_visible()
    expect(reports).to_contain_text("5 findings")
    check_page(page, "worklist")

    # --- Acknowledge it: a critical result needs a comment, so the first try is refused. ---
    page.get_by_role("link", name="critical results awaiting acknowledgement (1)").click()
    page.get_by_role("link", name=f"Review {POTASSIUM_FINDING} for Marian Thornbury").click()
    expect(page.get_by_role("heading", name=POTASSIUM_FINDING, level=1)).to_be_visible()
    expect(page.get_by_text("⚠ Critical result")).to_be_visible()
    expect(page.get_by_text("range 3.5–5.2 mmol/L · collected 2 Jun 2025 08:15")).to_be_visible()
    check_page(page, "finding")

    comment = page.get_by_label("Comment")
    expect(comment).to_have_accessible_description("Required for a critical result: what you did or will do.")
    page.get_by_role("button", name="Acknowledge").click()
    # Refused with the app's message beside the field; the finding stays open.
    expect(page.get_by_text("This is a critical result: write a comment")).to_be_visible()
    expect(page.get_by_text("Finding acknowledged.")).to_have_count(0)
    assert Finding.objects.get(result__analyte__code="k").status == Finding.Status.OPEN

    comment.fill("Phoned the patient; same-day ECG and repeat arranged")
    # The call is recorded (NPSG.02.03.01): who was told, how, when (now, as filled in), read back.
    page.get_by_label("Who was told").fill("Marian Thornbury (the patient)")
    page.get_by_label("Phone").check()
    page.get_by_label("Value read back").check()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("alert")).to_contain_text("Finding acknowledged.")
    expect(page.get_by_text("Acknowledged by Alice Clinician")).to_contain_text(
        "“Phoned the patient; same-day ECG and repeat arranged”"
    )
    expect(
        page.get_by_text("Critical result communicated: told Marian Thornbury (the patient) (phone)")
    ).to_contain_text("value read back")

    # --- Record a follow-up plan, then mark it done with an outcome. ---
    page.get_by_role("link", name="Plan a follow-up").click()
    expect(page.get_by_role("heading", name="Plan a follow-up")).to_be_visible()
    # Suggested by the potassium rule: repeat the potassium within 7 days, kept by the clinician.
    expect(page.get_by_label("Action")).to_have_value("repeat-test")
    expect(page.get_by_label("Test to repeat").locator("option:checked")).to_have_text("Potassium (mmol/L)")
    due = timezone.localdate() + timezone.timedelta(days=7)
    expect(page.get_by_label("Due date")).to_have_value(f"{due:%Y-%m-%d}")
    expect(page.get_by_label("Owner").locator("option:checked")).to_have_text("Alice Clinician")
    page.get_by_label("Details").fill("Repeat potassium with magnesium")
    check_page(page, "plan-form")
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_role("alert")).to_contain_text("Follow-up planned.")
    plans = page.get_by_role("region", name="Follow-up plans")
    expect(plans).to_contain_text(f"Planned Repeat test: Potassium due {due:%-d %b %Y} · owner Alice Clinician")

    plans.get_by_role("link", name="Mark as done").click()
    expect(page.get_by_role("heading", name="Complete follow-up plan")).to_be_visible()
    page.get_by_label("Outcome note").fill("Repeat potassium 4.0 mmol/L")
    page.get_by_role("button", name="Mark as done").click()
    expect(page.get_by_role("alert")).to_contain_text("Plan marked as done.")
    expect(plans).to_contain_text("Done by Alice Clinician on")
    expect(plans).to_contain_text(": Repeat potassium 4.0 mmol/L")

    # The critical result has left the worklist; the four other findings still wait for a decision.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Worklist").click()
    expect(reports.get_by_text("⚠ Critical result awaiting acknowledgement")).to_have_count(0)
    expect(reports).to_contain_text("4 findings")

    # --- Exports, from the patient page's buttons. ---
    reports.get_by_role("link", name="Thornbury, Marian", exact=True).click()
    expect(potassium_finding).to_contain_text("Follow-up planned")
    exports = page.get_by_role("navigation", name="Export Marian Thornbury's results")
    exports.get_by_role("link", name="Summary (print)").click()
    expect(page.get_by_role("heading", name="Marian Thornbury", level=1)).to_be_visible()
    check_page(page, "summary")
    page.go_back()

    today = f"{timezone.localdate():%Y-%m-%d}"
    filename, pdf = download(page, exports, "PDF")
    assert filename == f"myolab-MRN-00042-summary-{today}.pdf"
    assert pdf.startswith(b"%PDF-")

    filename, data = download(page, exports, "CSV")
    assert filename == f"myolab-MRN-00042-results-{today}.csv"
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 4
    potassium = next(row for row in rows if row["analyte"] == "Potassium")
    assert (potassium["patient MRN"], potassium["LOINC"]) == ("MRN-00042", "2823-3")
    assert (potassium["value as entered"], potassium["unit as entered"]) == ("2.5", "mmol/L")
    assert (potassium["reference range applied"], potassium["flag"]) == ("3.5–5.2 mmol/L", "LL")
    assert potassium["collected at"] == "2025-06-02T08:15:00+01:00"  # British Summer Time

    filename, data = download(page, exports, "FHIR")
    assert filename == f"myolab-MRN-00042-fhir-{today}.json"
    resources = [entry["resource"] for entry in json.loads(data)["entry"]]
    observations = {
        resource["code"]["coding"][0]["code"]: resource
        for resource in resources
        if resource["resourceType"] == "Observation"
    }
    assert observations["2823-3"]["valueQuantity"] == {
        "value": 2.5,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    }
    assert observations["2823-3"]["interpretation"][0]["coding"][0]["code"] == "LL"
    # Magnesium entered in mmol/L is sent in mg/dL: 0.55 × 2.431 = 1.33705, stored to four places.
    assert observations["19123-9"]["valueQuantity"]["value"] == 1.3371
    assert observations["19123-9"]["interpretation"][0]["coding"][0]["code"] == "L"
    # The follow-up plan goes as a Task, closed with its outcome.
    [task] = [resource for resource in resources if resource["resourceType"] == "Task"]
    assert (task["status"], task["description"]) == ("completed", "Repeat potassium with magnesium")
    assert task["note"] == [{"text": "Repeat potassium 4.0 mmol/L"}]

    # --- Log out: the patient page now asks for a login. ---
    log_out(page)
    page.goto(f"/patients/{patient.pk}/")
    expect(page.get_by_role("heading", name="Log in to Myolab")).to_be_visible()
    expect(page.get_by_text("Thornbury")).to_have_count(0)
