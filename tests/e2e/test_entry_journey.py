"""Entering a panel at a clinician's pace (issue 12): keyboard only within the Tab budget, Back then Save,
a wrong unit asked and confirmed, a censored vitamin D, a haemolysed potassium, and the form at 390 px."""

import re

from playwright.sync_api import expect

from labs.models import Panel, Result

from .conftest import check_page, screenshot

# Six analytes in their default units, typed in the catalogue's row order; the carnitines are skipped.
SIX = [("30", 1), ("2.0", 1), ("9.5", 1), ("4.2", 1), ("100", 3), ("4.2", 0)]  # (digits, Tabs after them)


def test_a_six_analyte_panel_with_the_keyboard_in_seven_tabs_and_one_enter(clinician_page, patient_factory, clinician):
    patient = patient_factory(given_name="Kim", family_name="Keys", created_by=clinician)
    page = clinician_page
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("link", name="Enter results").click()
    expect(page.get_by_label("25-hydroxyvitamin D", exact=True)).to_be_focused()
    tabs = 0
    for digits, tabs_after in SIX:
        page.keyboard.type(digits)
        for _ in range(tabs_after):
            page.keyboard.press("Tab")
            tabs += 1
    expect(page.get_by_label("Albumin", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Saved 6 results collected")).to_be_visible()
    assert tabs == 7
    assert sorted(Result.objects.values_list("analyte__code", flat=True)) == ["alb", "ca", "ck", "k", "mg", "vitd25"]


def test_back_then_save_and_a_double_click_store_one_panel(clinician_page, patient_factory, clinician):
    patient = patient_factory(created_by=clinician)
    page = clinician_page
    page.goto(f"/patients/{patient.pk}/results/new/")
    page.get_by_label("Collected at").fill("2026-01-15T09:30")
    page.get_by_label("Potassium", exact=True).fill("4.1")
    page.get_by_role("button", name="Save results").dblclick()
    # The browser shows the answer to the first submission or the second ("already saved"), as timing has it.
    expect(page.get_by_text(re.compile("Saved 1 result collected|This form was already saved at"))).to_be_visible()
    assert Panel.objects.count() == 1  # the double click saved once
    # Back shows the form again (Chromium fetches it anew, with a new key, and puts back what was typed):
    # saving it again is caught as the same panel, and nothing more is stored.
    page.go_back()
    page.get_by_role("button", name="Save results").click()
    expect(page.get_by_text("This looks like the panel saved at")).to_be_visible()
    assert Panel.objects.count() == 1


def test_a_wrong_unit_is_asked_then_confirmed_and_the_form_fits_390_px(page, clinician, patient_factory):
    from .conftest import log_in

    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, clinician.username)
    patient = patient_factory(created_by=clinician)
    page.goto(f"/patients/{patient.pk}/results/new/")
    screenshot(page, "entry-390px")
    magnesium = page.get_by_label("Magnesium", exact=True)
    magnesium.fill("0.68 mEq/L")
    # Read live, as typed, by the server's own interpretation (static/js/entry.js).
    expect(page.locator("#id_mg_value-live")).to_contain_text("0.83 mg/dL · Critically low · range 1.70–2.60 mg/dL")
    expect(page.locator("#id_mg_value-live")).to_contain_text("in mmol/L it would be 1.65 mg/dL")
    page.get_by_label("25-hydroxyvitamin D", exact=True).fill("<5")
    page.get_by_label("Potassium", exact=True).fill("6.5")
    page.get_by_label("Specimen condition").select_option(label="Haemolysed")
    page.keyboard.press("Enter")
    expect(page.get_by_text("in mmol/L it would be 1.65 mg/dL, low but not critical")).to_be_visible()
    expect(page.get_by_label("Magnesium", exact=True)).to_be_focused()
    check_page(page, "entry-wrong-unit-390px")
    page.get_by_label("Unit checked: the value is in the unit chosen").check()
    page.get_by_role("button", name="Save results").click()
    expect(page.get_by_text("Saved 3 results collected")).to_be_visible()
    expect(page.get_by_text("Specimen: haemolysed")).to_be_visible()
    screenshot(page, "patient-page-censored-haemolysed-390px")
    assert Result.objects.get(analyte__code="vitd25").comparator == "<"
