"""Journey 1, continued: a clinician enters a panel in mixed units and reads the flags.

Reviewing the findings is test_guidance_journey.py; the steps still to add are listed in tests/e2e/conftest.py.
"""

from playwright.sync_api import expect

from labs.models import Result

from .conftest import check_page


def test_clinician_enters_a_panel_and_reads_the_flags(clinician_page, clinician, patient_factory):
    page = clinician_page
    # Female, born 15 Jun 1970 (the factory's): 54 on the collection date, so the 18–59 calcium range applies.
    patient = patient_factory(mrn="MRN-00500", given_name="Edith", family_name="Marlowe", created_by=clinician)
    page.goto(f"/patients/{patient.pk}/")

    page.get_by_role("link", name="Enter results").click()
    expect(page.get_by_role("heading", name="Enter results")).to_be_visible()
    page.get_by_label("Collected at").fill("2025-06-02T08:15")
    page.get_by_label("Lab name").fill("North Lab")
    page.get_by_label("Potassium", exact=True).fill("2.5")
    page.get_by_label("Magnesium", exact=True).fill("0.55")
    page.get_by_label("Magnesium unit").select_option(label="mmol/L")
    # Calcium 2.1 is a value in mmol/L typed against mg/dL: implausible, and the message says so.
    page.get_by_label("Calcium, total", exact=True).fill("2.1")
    page.get_by_label("Creatine kinase", exact=True).fill("0.5")
    page.get_by_label("Creatine kinase unit").select_option(label="ukat/L")
    page.get_by_role("button", name="Save results").click()

    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved. Correct the fields marked below.")
    calcium = page.get_by_label("Calcium, total", exact=True)
    expect(calcium).to_have_accessible_description(
        "Calcium, total: 2.1 mg/dL is implausible — did you mean mmol/L? Values in mg/dL are accepted from 3.00 to 20.00."
    )
    # The other rows keep what was typed (the units too: magnesium is saved in mmol/L without choosing again).
    expect(page.get_by_label("Potassium", exact=True)).to_have_value("2.5")
    check_page(page, "result-entry-with-error")
    assert not Result.objects.filter(patient=patient).exists()

    page.get_by_label("Calcium, total unit").select_option(label="mmol/L")
    page.get_by_role("button", name="Save results").click()

    # The patient page: each value in its canonical unit, the range used, and the flag in words.
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
    check_page(page, "patient-page-with-flags")
