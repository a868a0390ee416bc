"""Derived values: albumin-corrected calcium and the acyl/free carnitine ratio, worked out by hand."""

import datetime
from decimal import Decimal as D

import pytest
from django.utils import timezone

from labs.derived import acyl_free_carnitine_ratio, corrected_calcium, derived_for_panel
from labs.interpretation import Flag


@pytest.mark.parametrize(
    "calcium, albumin, corrected",
    [
        ("8.0", "4.0", "8.00"),  # normal albumin: no change
        ("8.0", "3.0", "8.80"),  # 8.0 + 0.8 × 1.0
        ("8.4", "2.5", "9.60"),  # 8.4 + 0.8 × 1.5
        ("10.0", "5.0", "9.20"),  # high albumin lowers it: 10.0 − 0.8
        ("7.6", "1.9", "9.28"),  # 7.6 + 0.8 × 2.1 = 9.28
    ],
)
def test_corrected_calcium(calcium, albumin, corrected):
    assert corrected_calcium(D(calcium), D(albumin)) == D(corrected)


@pytest.mark.parametrize(
    "total, free, ratio",
    [
        ("50", "40", "0.25"),  # (50 − 40) / 40
        ("44", "40", "0.10"),  # at the adult lower reference limit
        ("72", "40", "0.80"),  # at the upper limit
        ("80", "30", "1.67"),  # (80 − 30) / 30 = 1.666… rounds half up
        ("30", "30", "0.00"),
        ("30", "0", None),  # no free carnitine: no ratio
    ],
)
def test_acyl_free_ratio(total, free, ratio):
    assert acyl_free_carnitine_ratio(D(total), D(free)) == (None if ratio is None else D(ratio))


@pytest.mark.django_db
def test_panel_derived_values_with_low_albumin_caveat(record, patient):
    panel = record(
        patient,
        {"ca": ("7.6", "mg/dL"), "alb": ("1.9", "g/dL"), "carn_total": ("80", "umol/L"), "carn_free": ("30", "umol/L")},
    )
    calcium, ratio = derived_for_panel(panel.results.all())
    assert (calcium.name, calcium.value, calcium.flag) == ("Albumin-corrected calcium", D("9.28"), Flag.NORMAL)
    assert "Unreliable: albumin is below 2.5 g/dL" in calcium.note
    assert (ratio.name, ratio.value, ratio.flag) == ("Acyl/free carnitine ratio", D("1.67"), Flag.HIGH)


@pytest.mark.django_db
def test_no_derived_value_without_both_inputs_or_with_one_in_error(record, patient, clinician):
    from guidance.services import mark_entered_in_error

    assert derived_for_panel(record(patient, {"ca": ("8.0", "mg/dL")}).results.all()) == []
    panel = record(patient, {"ca": ("8.0", "mg/dL"), "alb": ("3.0", "g/dL")})
    calcium = derived_for_panel(panel.results.all())[0]
    assert (calcium.value, "Unreliable" in calcium.note) == (D("8.80"), False)
    mark_entered_in_error(panel.results.get(analyte__code="alb"), reason="Wrong sample", by=clinician)
    assert derived_for_panel(panel.results.all()) == []


@pytest.mark.django_db
def test_a_childs_carnitine_ratio_is_not_read_against_the_adult_interval(record, patient_factory, clinician):
    child = patient_factory(
        created_by=clinician, date_of_birth=timezone.localdate() - datetime.timedelta(days=365 * 10)
    )
    panel = record(child, {"carn_total": ("80", "umol/L"), "carn_free": ("30", "umol/L")})
    assert {result.flag for result in panel.results.all()} == {Flag.NO_RANGE}
    [ratio] = derived_for_panel(panel.results.all())
    # 1.67 is above the adult 0.1–0.8, but no interval applies to a child here.
    assert (ratio.value, ratio.flag) == (D("1.67"), Flag.NO_RANGE)
    assert ratio.range_text == "None for this patient (0.10–0.80 is an adult reference)"
