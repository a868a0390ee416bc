"""Journey 1: a clinician registers a patient, finds them again, edits them and logs out.

Entering results is test_results_journey.py; the steps still to add are listed in tests/e2e/conftest.py.
"""

import re

from playwright.sync_api import expect

from patients.models import Patient

from .conftest import check_page, log_in, log_out


def test_clinician_registers_finds_and_edits_a_patient(page, clinician, patient_factory):
    # Someone else's patient, so the search has something to leave out.
    patient_factory(mrn="MRN-00077", given_name="Oliver", family_name="Quist", created_by=clinician)

    # Opening the app asks for a login, then lands where the clinician was going.
    page.goto("/patients/")
    expect(page.get_by_role("heading", name="Log in to Myolab")).to_be_visible()
    check_page(page, "login")
    log_in(page, "alice")
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    expect(page.get_by_text("Signed in as Alice Clinician (Clinician)")).to_be_visible()
    # The admin is for administrators only, so a clinician is not offered it.
    expect(page.get_by_role("link", name="Administration")).to_have_count(0)

    # Register, with one bad field first: the error sits on that field and nothing is saved.
    page.get_by_role("link", name="Register a patient").click()
    expect(page.get_by_role("heading", name="Register a patient")).to_be_visible()
    page.get_by_label("Medical record number").fill("MRN 42!")
    page.get_by_label("Given name").fill("Marian")
    page.get_by_label("Family name").fill("Thornbury")
    page.get_by_label("Date of birth").fill("1958-04-23")
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

    # The patient page.
    expect(page.get_by_role("heading", name="Marian Thornbury", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Registered Marian Thornbury (MRN-00042).")
    expect(page.get_by_text("MRN MRN-00042")).to_be_visible()
    factors = page.get_by_role("region", name="Contributing factors")
    expect(factors.get_by_role("listitem")).to_have_text(["Statin or fibrate use"])
    check_page(page, "patient-page")

    # Find them again from the patient list.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Patients").click()
    expect(page.get_by_role("table")).to_contain_text("Quist, Oliver")
    page.get_by_label("Search by name or MRN").fill("thorn")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("table")).to_contain_text("1 patient matching “thorn”")
    expect(page.get_by_role("table")).not_to_contain_text("Quist")
    check_page(page, "patient-list")
    page.get_by_role("link", name="Thornbury, Marian").click()

    # Edit: add a note and a second factor.
    page.get_by_role("link", name="Edit patient").click()
    expect(page.get_by_role("heading", name="Edit Marian Thornbury")).to_be_visible()
    page.get_by_label("Diuretic use").check()
    page.get_by_label("Notes").fill("Night cramps in both calves since March.")
    page.get_by_role("button", name="Save patient").click()

    expect(page.get_by_role("alert")).to_have_text("Saved changes to Marian Thornbury (MRN-00042).")
    expect(factors.get_by_role("listitem")).to_have_text(["Diuretic use", "Statin or fibrate use"])
    expect(page.get_by_text("Night cramps in both calves since March.")).to_be_visible()

    # Every change made in the browser records who made it.
    patient = Patient.objects.get(mrn="MRN-00042")
    history = patient.history.order_by("history_id")
    assert {entry.history_user.username for entry in history} == {"alice"}
    assert history.first().history_type == "+"
    assert history.last().notes == "Night cramps in both calves since March."

    # Logging out ends the session: the app asks for a login again.
    log_out(page)
    page.goto(f"/patients/{patient.pk}/")
    expect(page.get_by_role("heading", name="Log in to Myolab")).to_be_visible()
