"""A clinician fixes results already saved: a correction with a reason, and a result entered in error.

Both keep what was there before and close the finding the old value opened. Entering results and working
a finding through are in test_clinician_journey.py.
"""

from playwright.sync_api import expect

from .conftest import check_page

POTASSIUM_FINDING = "Potassium imbalance (low and high potassium)"


def test_correction_and_entered_in_error_resolve_their_findings(clinician_page, patient, record):
    page = clinician_page
    # A low potassium and a high creatine kinase, as saved from the entry form: each opens a finding.
    record(patient, {"k": "3.1", "ck": "450"})
    page.goto(f"/patients/{patient.pk}/")
    findings = page.get_by_role("region", name="Findings")
    expect(findings.get_by_role("listitem")).to_have_count(2)
    expect(findings.get_by_role("listitem").filter(has_text=POTASSIUM_FINDING)).to_contain_text("Awaiting review")
    results = page.get_by_role("region", name="Lab results")

    def row(analyte):
        return results.get_by_role("row").filter(has=page.get_by_role("rowheader", name=analyte, exact=True))

    # Correct the potassium: the report said 4.1 mmol/L.
    row("Potassium").get_by_role("link", name="Correct").click()
    expect(page.get_by_role("heading", name="Correct a result")).to_be_visible()
    page.get_by_label("New value (Potassium)").fill("4.1")
    page.get_by_role("button", name="Save correction").click()
    # Without a reason nothing is saved, and the message sits on the reason.
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved. Correct the fields marked below.")
    expect(page.get_by_label("Reason for the correction")).to_have_accessible_description(
        "Give the reason for the correction (it is kept in the result's history)."
    )
    check_page(page, "correct-result-with-error")
    page.get_by_label("Reason for the correction").fill("Transcription error: the report says 4.1")
    page.get_by_role("button", name="Save correction").click()

    expect(page.get_by_role("alert")).to_have_text(
        "Corrected Potassium to 4.1 mmol/L (Normal). The earlier value is kept in the result's history."
    )
    expect(row("Potassium").get_by_role("cell").nth(1)).to_have_text("4.1 mmol/L")
    expect(row("Potassium").get_by_role("cell").nth(3)).to_have_text("Normal")
    expect(row("Potassium").get_by_role("cell").nth(4)).to_contain_text("Transcription error: the report says 4.1")
    # The finding the old value opened is resolved, and says why.
    potassium_finding = findings.get_by_role("listitem").filter(has_text=POTASSIUM_FINDING)
    expect(potassium_finding).to_contain_text("Resolved")

    # The result's history keeps the old value beside the new one, with who and why.
    row("Potassium").get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="History of a Potassium result")).to_be_visible()
    versions = page.get_by_role("table").get_by_role("row")
    expect(versions).to_have_count(3)  # the header, the correction, the first entry
    expect(versions.nth(1)).to_contain_text("Alice Clinician")
    expect(versions.nth(1)).to_contain_text("4.1 mmol/L")
    expect(versions.nth(1)).to_contain_text("Transcription error: the report says 4.1")
    expect(versions.nth(2)).to_contain_text("Entered")
    expect(versions.nth(2)).to_contain_text("3.1 mmol/L")
    expect(versions.nth(2)).to_contain_text("Low")
    check_page(page, "result-history")
    page.get_by_role("link", name=f"Back to {patient.full_name}").click()

    # The creatine kinase belonged to another patient: it stays, struck through, and no longer counts.
    row("Creatine kinase").get_by_role("link", name="Entered in error").click()
    expect(page.get_by_role("heading", name="Mark a result entered in error")).to_be_visible()
    page.get_by_label("Why was this result entered in error?").fill("Wrong patient: sample belongs to another MRN")
    page.get_by_role("button", name="Mark entered in error").click()

    expect(page.get_by_role("alert")).to_have_text(
        "Marked the Creatine kinase result entered in error. It stays visible, struck through."
    )
    expect(row("Creatine kinase").get_by_role("cell").nth(3)).to_have_text("Not counted")
    expect(row("Creatine kinase").get_by_role("cell").nth(4)).to_contain_text(
        "Wrong patient: sample belongs to another MRN"
    )
    expect(row("Creatine kinase").get_by_role("link", name="Correct")).to_have_count(0)
    expect(findings.get_by_role("listitem").filter(has_text="Resolved")).to_have_count(2)
    expect(findings.get_by_text("Awaiting review")).to_have_count(0)

    # With both findings resolved, the worklist has nothing left for this patient.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Worklist").click()
    expect(page.get_by_role("region", name="Reports awaiting review")).to_contain_text("None.")
