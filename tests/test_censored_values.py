"""Censored values (issue 12, point 4): "<5", "< 0.95", ">1000", "≤", "≥" accepted, stored with a comparator
beside the number, flagged only when everything they admit shares the flag, and shown as entered on every
page and export."""

import datetime
import io
import json

import pytest
from django.utils import timezone
from pypdf import PdfReader

from guidance.models import Finding
from labs.interpretation import Flag
from labs.models import Panel, Result

from .test_exports_csv import read_csv
from .test_exports_fhir import get_bundle, observation_for
from .test_labs_forms import entry_data, entry_form
from .test_labs_views import post_panel

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "code, text, unit, message",
    [
        ("vitd25", "<", "ng/mL", "25-hydroxyvitamin D: “<” is not a number."),
        ("vitd25", "<<5", "ng/mL", "25-hydroxyvitamin D: “<<5” is not a number."),
        ("vitd25", "<abc", "ng/mL", "25-hydroxyvitamin D: “<abc” is not a number."),
        ("vitd25", "5<", "ng/mL", "25-hydroxyvitamin D: “5<” is not a number."),
        ("vitd25", "=<5", "ng/mL", "25-hydroxyvitamin D: “=<5” is not a number."),
        ("vitd25", "< -1", "ng/mL", "25-hydroxyvitamin D: < -1 ng/mL is negative; a lab value cannot be below zero."),
        ("vitd25", "<0", "ng/mL", "25-hydroxyvitamin D: <0 ng/mL admits no value: nothing is below zero."),
        ("vitd25", "<0.55", "ng/mL", "25-hydroxyvitamin D: <0.55 ng/mL has 2 decimal places"),
        ("ck", ">2000000", "U/L", "Creatine kinase: >2000000 U/L is implausible"),
    ],
)
def test_bad_censored_values_are_refused_with_what_is_allowed(adult, code, text, unit, message):
    form = entry_form(entry_data({code: (text, unit)}), patient=adult)
    assert not form.is_valid()
    error = form.errors[f"{code}_value"][0]
    assert error.startswith(message)
    if "is not a number" in message:
        assert "or a value the lab reports as beyond a limit, e.g. <5 or >1000: one of <, ≤, >, ≥" in error


@pytest.mark.parametrize(
    "code, text, unit, comparator, value",
    [
        ("vitd25", "<5", "ng/mL", "<", "5"),
        ("ca", "< 2.10", "mmol/L", "<", "2.10"),
        ("ck", ">1000", "U/L", ">", "1000"),
        ("vitd25", "≤4", "ng/mL", "<=", "4"),
        ("vitd25", "<=4", "ng/mL", "<=", "4"),
        ("ck", "≥ 5000", "U/L", ">=", "5000"),
        ("ck", ">=5000", "U/L", ">=", "5000"),
        ("k", "4.1", "mmol/L", "", "4.1"),
    ],
)
def test_censored_values_as_labs_send_them_are_accepted(adult, code, text, unit, comparator, value):
    form = entry_form(entry_data({code: (text, unit)}), patient=adult)
    assert form.is_valid(), form.errors
    (entry,) = form.cleaned_data["entries"]
    assert (entry.comparator, str(entry.value)) == (comparator, value)


@pytest.fixture
def adult(clinician, patient_factory):
    return patient_factory(date_of_birth=datetime.date(1970, 6, 15), sex="female", created_by=clinician)


def test_a_censored_panel_is_stored_flagged_and_shown_as_entered_everywhere(clinician_client, adult):
    response = post_panel(
        clinician_client,
        adult,
        {"vitd25": ("<5", "ng/mL"), "ck": (">1000", "U/L"), "carn_free": ("<25", "umol/L")},
        follow=True,
    )
    assert response.status_code == 200
    vitamin_d, ck, carnitine = (Result.objects.get(analyte__code=code) for code in ("vitd25", "ck", "carn_free"))
    assert (vitamin_d.comparator, vitamin_d.value, vitamin_d.flag) == ("<", 5, Flag.LOW)
    assert (ck.comparator, ck.value, ck.flag) == (">", 1000, Flag.HIGH)
    # <25 µmol/L against the range 25–54: everything it admits is below 25, so it is low.
    assert carnitine.flag == Flag.LOW
    # Guidance claims only what the value proves: > 1000 U/L is more than 5 × 192, not necessarily 10 ×.
    rules = sorted(f.rule.code for f in Finding.objects.filter(result=ck).select_related("rule"))
    assert rules == ["ck-over-5x"]

    page = response.content.decode()
    assert "&lt;5 ng/mL" in page and "&lt;5.0" in page
    assert "&gt;1000 U/L" in page

    rows = read_csv(clinician_client.get(f"/patients/{adult.pk}/results.csv"))
    header = rows[0]
    by_analyte = {row[3]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert (by_analyte["Creatine kinase"]["comparator"], by_analyte["Creatine kinase"]["value as entered"]) == (
        ">",
        "1000",
    )
    assert by_analyte["25-hydroxyvitamin D"]["comparator"] == "<"

    bundle = get_bundle(clinician_client, adult)  # validated as FHIR R4
    quantity = observation_for(bundle, ck)["valueQuantity"]
    assert (quantity["comparator"], quantity["value"], quantity["code"]) == (">", 1000, "U/L")
    assert observation_for(bundle, carnitine)["valueQuantity"]["comparator"] == "<"

    summary = clinician_client.get(f"/patients/{adult.pk}/summary/").content.decode()
    assert "&lt;5.0" in summary and "&gt;1000" in summary
    pdf = clinician_client.get(f"/patients/{adult.pk}/summary.pdf")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "<5.0" in text and ">1000" in text


def test_a_censored_value_spanning_a_limit_is_not_judged_and_says_so(clinician_client, adult):
    post_panel(clinician_client, adult, {"vitd25": ("<25", "ng/mL")})
    result = Result.objects.get()
    assert (result.flag, result.get_flag_display()) == (Flag.INDETERMINATE, "Cannot be judged against the range")
    assert not Finding.objects.exists()  # nothing abnormal is proven
    page = clinician_client.get(f"/patients/{adult.pk}/").content.decode()
    assert "Cannot be judged against the range" in page
    bundle = json.loads(clinician_client.get(f"/patients/{adult.pk}/fhir/").content)
    (observation,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observation["interpretation"][0]["coding"][0]["code"] == "IND"


def test_no_derived_value_is_worked_out_from_a_censored_input(clinician_client, adult):
    post_panel(clinician_client, adult, {"ca": ("<2.10", "mmol/L"), "alb": ("30", "g/L")})
    page = clinician_client.get(f"/patients/{adult.pk}/").content.decode()
    assert Panel.objects.count() == 1 and "Albumin-corrected calcium" not in page


def test_a_result_is_corrected_to_a_censored_value_and_back_with_history(clinician_client, adult, record):
    result = record(adult, {"vitd25": "12"}, at=timezone.now() - datetime.timedelta(hours=2)).results.get()
    url = f"/results/{result.pk}/correct/"
    unit = str(result.analyte.units.get(unit="ng/mL").pk)
    assert clinician_client.post(url, {"value": "<4", "unit": unit, "reason": "Lab re-issued"}).status_code == 302
    result.refresh_from_db()
    assert (result.comparator, result.value, result.flag) == ("<", 4, Flag.LOW)
    history = clinician_client.get(f"/results/{result.pk}/history/").content.decode()
    assert "&lt;4 ng/mL" in history and "12 ng/mL" in history
