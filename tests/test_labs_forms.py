"""The panel entry and correction forms: every refusal names the analyte, the value, the unit and the limits."""

import datetime

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import form_keys
from labs.forms import CorrectionForm, PanelEntryForm
from labs.models import AnalyteUnit

from .factories import PatientFactory

pytestmark = pytest.mark.django_db


def unit_id(code, unit):
    return AnalyteUnit.objects.get(analyte__code=code, unit=unit).pk


def entry_data(values=None, **extra):
    """POST data for the entry form: values = {"k": ("4.0", "mmol/L")}."""
    data = {"collected_at": "2026-01-15T09:30", "lab_name": "", "accession_number": ""}
    for code, (value, unit) in (values or {}).items():
        data[f"{code}_value"] = value
        data[f"{code}_unit"] = str(unit_id(code, unit))
    return {**data, **extra}


def entry_form(data=None, *, patient):
    """The entry form as the patient's registering clinician opens it, with a genuine one-time key."""
    if data is not None:
        data = {"form_key": form_keys.issue(purpose=f"enter_results:{patient.pk}", user=patient.created_by), **data}
    return PanelEntryForm(data, patient=patient, user=patient.created_by)


@pytest.fixture
def adult(clinician):
    return PatientFactory(date_of_birth=datetime.date(1970, 6, 15), created_by=clinician)


def test_units_offered_are_the_analytes_active_units_canonical_first(adult):
    AnalyteUnit.objects.filter(analyte__code="ca", unit="meq/L").update(active=False)
    form = entry_form(patient=adult)
    assert [label for _, label in form.fields["ca_unit"].choices] == ["mg/dL", "mmol/L"]
    assert [label for _, label in form.fields["vitd25_unit"].choices] == ["ng/mL", "nmol/L"]


def test_valid_entry_gives_entries_in_the_chosen_units(adult):
    form = entry_form(entry_data({"ca": ("2.30", "mmol/L"), "k": ("4", "mmol/L")}), patient=adult)
    assert form.is_valid(), form.errors
    entries = {e.analyte.code: (str(e.value), e.unit.unit) for e in form.cleaned_data["entries"]}
    assert entries == {"ca": ("2.30", "mmol/L"), "k": ("4", "mmol/L")}


@pytest.mark.parametrize(
    "code, value, unit, message",
    [
        ("k", "four", "mmol/L", "Potassium: “four” is not a number."),
        ("k", "4..1", "mmol/L", "Potassium: “4..1” is not a number."),
        ("k", "1e5", "mmol/L", "Potassium: “1e5” is not a number."),
        ("k", "NaN", "mmol/L", "Potassium: “NaN” is not a number."),
        ("k", "-3.1", "mmol/L", "Potassium: -3.1 mmol/L is negative; a lab value cannot be below zero."),
        ("k", "4.123", "mmol/L", "Potassium: 4.123 mmol/L has 3 decimal places; values in mmol/L take at most 2"),
        (
            "ck",
            "150.5",
            "U/L",
            "Creatine kinase: 150.5 U/L has 1 decimal places; values in U/L take whole numbers only.",
        ),
        (
            "k",
            "12",
            "mmol/L",
            "Potassium: 12 mmol/L is implausible (a typo or the wrong unit?). Values in mmol/L are "
            "accepted from 1.00 to 10.00.",
        ),
        # The wrong-unit hint, worked out from the other units' factors and the plausible limits.
        (
            "ca",
            "2.3",
            "mg/dL",
            "Calcium, total: 2.3 mg/dL is implausible — did you mean mmol/L? Values in mg/dL are "
            "accepted from 3.00 to 20.00.",
        ),
        (
            "ca",
            "9.2",
            "mmol/L",
            "Calcium, total: 9.2 mmol/L is implausible — did you mean mg/dL? Values in mmol/L are "
            "accepted from 0.75 to 4.99.",
        ),
        # Plausible limits converted into the chosen unit: 1/0.4006 and 500/0.4006 nmol/L.
        # No hint when no other unit makes it plausible (1300 ng/mL is implausible too).
        (
            "vitd25",
            "1300",
            "nmol/L",
            "25-hydroxyvitamin D: 1300 nmol/L is implausible (a typo or the wrong unit?). "
            "Values in nmol/L are accepted from 2.5 to 1248.1.",
        ),
    ],
)
def test_bad_values_are_refused_on_the_analytes_field(adult, code, value, unit, message):
    form = entry_form(entry_data({code: (value, unit), "mg": ("1.9", "mg/dL")}), patient=adult)
    assert not form.is_valid()
    assert message in " ".join(form.errors[f"{code}_value"])
    assert "mg_value" not in form.errors


# The wrong-unit question, for a patient of 52 (magnesium 1.70–2.60 mg/dL, critical below 1.0; calcium
# 8.6–10.0 mg/dL, critical below 6.6; vitamin D 20–80 ng/mL).
@pytest.mark.parametrize(
    "code, value, unit, question",
    [
        # 0.68 × 1.2153 = 0.83 mg/dL, critically low; × 2.431 = 1.65 mg/dL, low only (in mg/dL: critical too).
        (
            "mg",
            "0.68",
            "meq/L",
            "Magnesium: 0.68 mEq/L is critically low (0.83 mg/dL); in mmol/L it would be 1.65 mg/dL, low but not "
            "critical. Confirm the unit: check it on the lab report and, if mEq/L is right, tick “Unit checked”",
        ),
        # 2.31 × 2.004 = 4.63 mg/dL, critically low; × 4.008 = 9.26 mg/dL, normal (2.31 mg/dL is implausible).
        (
            "ca",
            "2.31",
            "meq/L",
            "Calcium, total: 2.31 mEq/L is critically low (4.6 mg/dL); in mmol/L it would be 9.3 mg/dL, normal.",
        ),
        # Abnormal in the chosen unit, normal in the other: 150 ng/mL is high; 150 nmol/L is 60.1 ng/mL.
        (
            "vitd25",
            "150",
            "ng/mL",
            "25-hydroxyvitamin D: 150 ng/mL is high (150.0 ng/mL); in nmol/L it would be 60.1 ng/mL, normal.",
        ),
    ],
)
def test_a_value_that_means_less_in_another_unit_asks_to_confirm_the_unit(adult, code, value, unit, question):
    data = entry_data({code: (value, unit)})
    form = entry_form(data, patient=adult)
    assert not form.is_valid()
    assert question in form.errors[f"{code}_value"][0]
    assert [confirm for *_, confirm in form.rows() if confirm][0].name == f"{code}_confirm"
    confirmed = entry_form({**data, f"{code}_confirm": "on"}, patient=adult)
    assert confirmed.is_valid(), confirmed.errors


@pytest.mark.parametrize(
    "code, value, unit",
    [
        ("mg", "0.35", "mmol/L"),  # 0.85 mg/dL; 0.35 mg/dL; 0.43 mg/dL: critically low in every unit
        ("mg", "0.68", "mmol/L"),  # 1.65 mg/dL, low: the unit meant in the issue, nothing to ask
        ("ca", "2.31", "mmol/L"),  # 9.26 mg/dL, normal
        ("k", "7.0", "meq/L"),  # mEq/L and mmol/L are the same for potassium: critically high in both
        ("mg", "1.1", "mg/dL"),  # low; in mmol/L 2.67 mg/dL, high: abnormal either way
        ("vitd25", "60", "nmol/L"),  # normal in the unit chosen
    ],
)
def test_a_value_that_reads_the_same_in_every_plausible_unit_saves_without_the_question(adult, code, value, unit):
    form = entry_form(entry_data({code: (value, unit)}), patient=adult)
    assert form.is_valid(), form.errors
    assert not [confirm for *_, confirm in form.rows() if confirm]


def test_a_child_without_a_range_is_not_asked(clinician):
    child = PatientFactory(date_of_birth=timezone.localdate() - datetime.timedelta(days=3 * 365), created_by=clinician)
    form = entry_form(
        entry_data({"mg": ("0.68", "meq/L")}, collected_at=timezone.localtime().strftime("%Y-%m-%dT%H:%M")),
        patient=child,
    )
    assert form.is_valid(), form.errors


def test_units_are_offered_as_labs_write_them(adult):
    form = entry_form(patient=adult)
    assert [label for _, label in form.fields["mg_unit"].choices] == ["mg/dL", "mmol/L", "mEq/L"]
    assert [label for _, label in form.fields["carn_free_unit"].choices] == ["µmol/L", "nmol/mL"]
    assert [label for _, label in form.fields["ck_unit"].choices] == ["U/L", "µkat/L"]


def test_empty_panel_is_refused(adult):
    form = entry_form(entry_data(), patient=adult)
    assert not form.is_valid()
    assert form.non_field_errors() == ["The panel is empty: enter at least one result."]


def test_collection_in_the_future_or_before_birth_is_refused(adult):
    tomorrow = (timezone.localtime() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    future = entry_form(entry_data({"k": ("4", "mmol/L")}, collected_at=tomorrow), patient=adult)
    assert not future.is_valid() and "is in the future" in future.errors["collected_at"][0]
    before_birth = entry_form(entry_data({"k": ("4", "mmol/L")}, collected_at="1970-06-14T23:00"), patient=adult)
    assert not before_birth.is_valid()
    assert before_birth.errors["collected_at"] == [
        "Collection date 14 Jun 1970 is before the patient was born (15 Jun 1970)."
    ]
    on_birthday = entry_form(entry_data({"k": ("4", "mmol/L")}, collected_at="1970-06-15T10:00"), patient=adult)
    assert on_birthday.is_valid(), on_birthday.errors


def test_duplicate_accession_for_the_same_lab_is_refused(adult, record):
    record(adult, {"k": ("4.0", "mmol/L")}, lab_name="City Lab", accession_number="A-7")
    same = entry_form(entry_data({"k": ("4", "mmol/L")}, lab_name="CITY LAB", accession_number="a-7"), patient=adult)
    assert not same.is_valid()
    assert "Accession number a-7 from lab “CITY LAB” has already been entered" in same.errors["accession_number"][0]
    other_lab = entry_form(
        entry_data({"k": ("4", "mmol/L")}, lab_name="Other Lab", accession_number="A-7"), patient=adult
    )
    assert other_lab.is_valid(), other_lab.errors


def test_decimal_comma_is_read_as_a_decimal_point(adult):
    form = entry_form(entry_data({"k": ("4,25", "mmol/L")}), patient=adult)
    assert form.is_valid(), form.errors
    assert str(form.cleaned_data["entries"][0].value) == "4.25"


def test_correction_form_checks_the_value_and_needs_a_reason(adult, record):
    result = record(adult, {"ca": ("9.0", "mg/dL")}).results.get()
    form = CorrectionForm({"value": "2.3", "unit": unit_id("ca", "mg/dL"), "reason": ""}, result=result)
    assert not form.is_valid()
    assert "did you mean mmol/L?" in form.errors["value"][0]
    assert form.errors["reason"] == ["Give the reason for the correction (it is kept in the result's history)."]
    good = CorrectionForm({"value": "2.3", "unit": unit_id("ca", "mmol/L"), "reason": "Unit"}, result=result)
    assert good.is_valid(), good.errors
    assert (str(good.cleaned_data["value"]), good.cleaned_data["unit"].unit) == ("2.3", "mmol/L")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=40))
def test_any_typed_value_gives_a_result_or_a_message_never_an_exception(adult, text):
    form = entry_form(entry_data({"k": (text, "mmol/L")}), patient=adult)
    if form.is_valid():
        assert 1 <= form.cleaned_data["entries"][0].value <= 10
    else:
        messages = " ".join(form.errors.get("k_value", []) + form.non_field_errors())
        assert "Potassium" in messages or "empty" in messages


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=st.decimals(allow_nan=True, allow_infinity=True, places=None))
def test_any_decimal_string_is_handled(adult, number):
    form = entry_form(entry_data({"ck": (str(number), "U/L")}), patient=adult)
    form.is_valid()  # must not raise
    assert form.is_bound
