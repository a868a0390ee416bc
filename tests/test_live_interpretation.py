"""The entry page's live reading (issue 12, point 2): the server's own interpretation of a typed value, as
JSON, for the three people who matter; the page loads it from a static script (no inline script)."""

import pytest

from .test_labs_views import unit_id

pytestmark = pytest.mark.django_db


def reading(client, patient, analyte, value, unit, collected_at="2026-01-15T09:30"):
    return client.get(
        f"/patients/{patient.pk}/results/interpret/",
        {"analyte": analyte, "value": value, "unit": unit_id(analyte, unit), "collected_at": collected_at},
    )


@pytest.mark.parametrize(
    "analyte, value, unit, expected",
    [
        (
            "ca",
            "2.50",
            "mmol/L",
            {"value": "10.02 mg/dL", "range": "8.6–10.0 mg/dL", "flag": "H", "flag_text": "High", "question": ""},
        ),
        ("vitd25", "<5", "ng/mL", {"value": "<5.0 ng/mL", "range": "20.0–80.0 ng/mL", "flag": "L", "flag_text": "Low"}),
        ("mg", "0.68 mEq/L", "mg/dL", {"value": "0.83 mg/dL", "flag": "LL", "flag_text": "Critically low"}),
    ],
)
def test_a_typed_value_is_read_as_the_save_will_read_it(clinician_client, patient, analyte, value, unit, expected):
    response = reading(clinician_client, patient, analyte, value, unit)
    assert response.status_code == 200
    data = response.json()
    assert {key: data[key] for key in expected} == expected


def test_the_wrong_unit_question_comes_with_the_reading(clinician_client, patient):
    data = reading(clinician_client, patient, "mg", "0.68", "meq/L").json()
    assert data["question"].startswith(
        "Magnesium: 0.68 mEq/L is critically low (0.83 mg/dL); in mmol/L it would be 1.65 mg/dL, low but not critical."
    )


@pytest.mark.parametrize(
    "value, error",
    [
        ("four", "Potassium: “four” is not a number."),
        ("40", "Potassium: 40 mmol/L is implausible"),
        ("4 mg/dL", "Potassium: “mg/dL” is not one of its units (mmol/L, mEq/L)."),
    ],
)
def test_what_the_save_would_refuse_is_said_as_the_save_says_it(clinician_client, patient, value, error):
    assert reading(clinician_client, patient, "k", value, "mmol/L").json()["error"].startswith(error)


def test_an_unknown_analyte_is_a_400_with_a_sentence(clinician_client, patient):
    response = clinician_client.get(f"/patients/{patient.pk}/results/interpret/", {"analyte": "nope", "value": "1"})
    assert response.status_code == 400 and response.json() == {"error": "No such analyte in the catalogue."}


def test_only_those_who_enter_results_may_ask(client, admin_client_, patient, django_user_model):
    url = f"/patients/{patient.pk}/results/interpret/?analyte=k&value=4"
    assert admin_client_.get(url).status_code == 403
    admin_client_.logout()
    assert client.get(url)["Location"].startswith("/login/?next=")
    nobody = django_user_model.objects.create_user("norole", password="x" * 20)
    client.force_login(nobody)
    assert client.get(url).status_code == 403


def test_the_page_loads_the_script_from_static_files_with_no_inline_script(clinician_client, patient):
    html = clinician_client.get(f"/patients/{patient.pk}/results/new/").content.decode()
    assert '<script src="/static/js/entry.js" defer></script>' in html
    assert "<script>" not in html and " onclick=" not in html and " oninput=" not in html
    assert f'data-interpret-url="/patients/{patient.pk}/results/interpret/"' in html
