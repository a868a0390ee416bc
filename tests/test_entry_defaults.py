"""Entering at a clinician's pace (issue 12, points 6 and 7): where the cursor starts and goes after a refusal,
the defaults (collection time now, each analyte's last-used unit), a unit typed after the value, and shown
values that never seem to contradict their flag."""

import re
from decimal import Decimal as D

import pytest
from django.utils import timezone

from labs.models import Result

from .test_labs_views import post_panel, unit_id

pytestmark = pytest.mark.django_db


def entry_page(client, patient):
    return client.get(f"/patients/{patient.pk}/results/new/").content.decode()


def selected_unit(html, code):
    select = re.search(rf'<select name="{code}_unit".*?</select>', html, re.S).group(0)
    return re.search(r'<option value="(\d+)" selected>', select).group(1)


def test_the_cursor_starts_on_the_first_value_and_units_are_out_of_the_tab_order(clinician_client, patient):
    html = entry_page(clinician_client, patient)
    assert re.search(r'name="vitd25_value"[^>]*autofocus', html)
    assert html.count("autofocus") == 1
    assert html.count('tabindex="-1"') == 9  # the nine analytes' unit lists


def test_after_a_refusal_the_cursor_is_on_the_first_refused_field_and_the_alert_is_read_out(clinician_client, patient):
    response = post_panel(clinician_client, patient, {"mg": ("1.9", "mg/dL"), "k": ("40", "mmol/L")})
    html = response.content.decode()
    assert re.search(r'name="k_value"[^>]*aria-invalid="true"[^>]*autofocus', html)
    assert html.count("autofocus") == 1
    assert 'role="alert" aria-live="assertive"' in html
    future = post_panel(clinician_client, patient, {"k": ("4", "mmol/L")}, collected_at="2999-01-01T10:00")
    assert re.search(
        r'<input[^>]*name="collected_at"[^>]*autofocus|<input[^>]*autofocus[^>]*name="collected_at"',
        future.content.decode(),
    )


def test_collection_time_defaults_to_now(clinician_client, patient):
    html = entry_page(clinician_client, patient)
    now = timezone.localtime()
    shown = re.search(r'name="collected_at" value="([^"]+)"', html).group(1)
    assert shown in (f"{now:%Y-%m-%dT%H:%M}", f"{now - timezone.timedelta(minutes=1):%Y-%m-%dT%H:%M}")


def test_each_unit_starts_as_the_one_this_user_last_used(clinician_client, patient, record, other_clinician):
    html = entry_page(clinician_client, patient)
    assert selected_unit(html, "mg") == unit_id("mg", "mg/dL")  # nothing entered yet: the canonical unit
    record(patient, {"mg": ("0.80", "mmol/L"), "ca": ("2.30", "mmol/L")})
    record(patient, {"mg": ("1.9", "mg/dL")}, by=other_clinician)  # someone else's habit is not mine
    html = entry_page(clinician_client, patient)
    assert selected_unit(html, "mg") == unit_id("mg", "mmol/L")
    assert selected_unit(html, "ca") == unit_id("ca", "mmol/L")
    assert selected_unit(html, "k") == unit_id("k", "mmol/L")


@pytest.mark.parametrize(
    "typed, unit, stored",
    [
        ("0.80 mmol/L", "mmol/L", "0.80"),
        ("0.80mmol/l", "mmol/L", "0.80"),
        ("1.9 MG/DL", "mg/dL", "1.9"),
        ("1.62 mEq/L", "meq/L", "1.62"),
    ],
)
def test_a_unit_typed_after_the_value_wins_over_the_list(clinician_client, patient, typed, unit, stored):
    response = post_panel(clinician_client, patient, {"mg": (typed, "mg/dL")})
    assert response.status_code == 302
    result = Result.objects.get()
    assert (result.unit_entered, result.value_entered) == (unit, D(stored))


def test_a_unit_the_analyte_does_not_accept_is_refused_naming_its_units(clinician_client, patient):
    response = post_panel(clinician_client, patient, {"k": ("4.0 mg/dL", "mmol/L")})
    assert response.context["form"].errors["k_value"] == ["Potassium: “mg/dL” is not one of its units (mmol/L, mEq/L)."]


def test_a_value_is_shown_with_the_precision_its_flag_needs(clinician_client, patient):
    # Calcium 2.5 mmol/L = 10.02 mg/dL, high against 8.6–10.0: shown as 10.02, not as 10.0.
    response = post_panel(clinician_client, patient, {"ca": ("2.50", "mmol/L")}, follow=True)
    html = response.content.decode()
    assert "<strong>10.02</strong> mg/dL" in html and "8.6–10.0 mg/dL" in html
    assert Result.objects.get().flag == "H"


def test_a_refused_form_shows_the_unit_that_was_typed(clinician_client, patient):
    response = post_panel(clinician_client, patient, {"mg": ("0.68 mEq/L", "mg/dL")})
    assert "in mmol/L it would be 1.65 mg/dL" in response.content.decode()
    assert selected_unit(response.content.decode(), "mg") == unit_id("mg", "meq/L")
