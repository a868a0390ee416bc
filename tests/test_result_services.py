"""Saving results (guidance.services) and range versions (labs.services): whole-or-nothing panels, the
frozen interpretation, corrections, range versions."""

import datetime
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from guidance.services import correct_result, mark_entered_in_error, record_results
from labs.interpretation import Flag
from labs.models import Analyte, AnalyteUnit, Panel, ReferenceRange, Result
from labs.services import Entry, revise_reference_range

from .factories import PatientFactory

pytestmark = pytest.mark.django_db


def at(year, month, day, hour=9):
    return timezone.make_aware(datetime.datetime(year, month, day, hour))


def test_panel_stores_entered_value_canonical_value_flag_and_range_snapshot(record, patient, clinician):
    panel = record(patient, {"ca": ("2.10", "mmol/L"), "k": ("2.7", "meq/L")}, lab_name="City Lab")
    calcium = panel.results.get(analyte__code="ca")
    assert (calcium.value_entered, calcium.unit_entered, calcium.value) == (D("2.10"), "mmol/L", D("8.4168"))
    assert (calcium.range_low, calcium.range_high) == (D("8.6"), D("10.0"))
    assert (calcium.range_critical_low, calcium.range_critical_high) == (D("6.6"), D("12.9"))
    assert calcium.flag == Flag.LOW and calcium.reference_range.normal_low == D("8.6")
    potassium = panel.results.get(analyte__code="k")
    assert (potassium.flag, potassium.is_critical, potassium.status) == (Flag.CRITICAL_LOW, True, "final")
    assert (panel.entered_by, panel.source, panel.lab_name) == (clinician, Panel.Source.MANUAL, "City Lab")


def test_sixtieth_birthday_on_collection_day_uses_60_plus_band(record):
    patient = PatientFactory(date_of_birth=datetime.date(1966, 3, 10))
    # 8.7 mg/dL is normal for 18–59 (8.6–10.0) but low for 60 and over (8.8–10.2).
    result = record(patient, {"ca": ("8.7", "mg/dL")}, at=at(2026, 3, 10)).results.get()
    assert (result.flag, result.range_low) == (Flag.LOW, D("8.8"))


def test_child_and_ck_for_sex_other_have_no_range(record):
    child = PatientFactory(date_of_birth=datetime.date(2015, 1, 1))
    adult_other = PatientFactory(sex="other")
    child_k = record(child, {"k": ("4.0", "mmol/L")}).results.get()
    other_ck = record(adult_other, {"ck": ("5000", "U/L")}).results.get()
    for result in (child_k, other_ck):
        assert (result.flag, result.reference_range, result.range_low, result.is_abnormal) == (
            Flag.NO_RANGE,
            None,
            None,
            False,
        )
        assert result.range_text == "no reference range"


def test_panel_is_saved_whole_or_not_at_all(analytes, patient, clinician):
    wrong_unit = analytes["ca"].units.get(unit="mmol/L")  # a calcium unit given for potassium
    entries = [
        Entry(analyte=analytes["mg"], value=D("1.9"), unit=analytes["mg"].units.get(unit="mg/dL")),
        Entry(analyte=analytes["k"], value=D("4.0"), unit=wrong_unit),
    ]
    with pytest.raises(ValidationError, match="mmol/L is not a unit of Potassium"):
        record_results(patient=patient, collected_at=timezone.now(), entries=entries, by=clinician)
    assert (Panel.objects.count(), Result.objects.count()) == (0, 0)


def test_service_refuses_implausible_values_for_imports_too(analytes, patient, clinician):
    calcium_mg_dl = analytes["ca"].units.get(unit="mg/dL")
    entries = [Entry(analyte=analytes["ca"], value=D("2.3"), unit=calcium_mg_dl)]
    with pytest.raises(
        ValidationError, match=r"Calcium, total: 2.3 mg/dL is implausible; accepted from 3.0 to 20.0 mg/dL"
    ):
        record_results(patient=patient, collected_at=timezone.now(), entries=entries, by=clinician)
    assert Result.objects.count() == 0


def test_service_refuses_negative_values_and_analytes_not_in_the_catalogue(analytes, patient, clinician):
    potassium, mmol_l = analytes["k"], analytes["k"].units.get(unit="mmol/L")
    ghost = Analyte(pk=9999, code="ghost", name="Ghost analyte")  # never saved
    cases = [
        (
            [Entry(analyte=potassium, value=D("-0.1"), unit=mmol_l)],
            "Potassium: -0.1 mmol/L is negative; a lab value cannot be below zero.",
        ),
        (
            [
                Entry(analyte=potassium, value=D("4.0"), unit=mmol_l),
                Entry(analyte=ghost, value=D("1"), unit=AnalyteUnit(analyte=ghost, unit="U/L", factor=D("1"))),
            ],
            "Not in the analyte catalogue: Ghost analyte.",
        ),
    ]
    for entries, message in cases:
        with pytest.raises(ValidationError) as error:
            record_results(patient=patient, collected_at=timezone.now(), entries=entries, by=clinician)
        assert error.value.messages == [message]
    assert (Panel.objects.count(), Result.objects.count()) == (0, 0)


def test_results_saved_in_bulk_have_one_history_row_each_naming_who(record, patient, other_clinician):
    panel = record(patient, {"k": ("3.1", "mmol/L"), "ca": ("9.0", "mg/dL")}, by=other_clinician)
    rows = Result.history.filter(panel_id=panel.pk).order_by("analyte__sort_order")
    assert list(rows.values_list("analyte__code", "history_type", "history_user", "value", "flag")) == [
        ("ca", "+", other_clinician.pk, D("9.0000"), "N"),
        ("k", "+", other_clinician.pk, D("3.1000"), "L"),
    ]


@pytest.mark.parametrize(
    "used, day",
    [
        (False, datetime.date(1, 1, 1)),
        (False, datetime.date(1899, 12, 31)),
        (False, datetime.date(9999, 12, 31)),
        # A used range's new version must start after the old one, so only a late date is the date bound's.
        (True, datetime.date(9999, 12, 31)),
        (True, "1 Jan, six years ahead"),
    ],
)
def test_a_range_takes_effect_from_1900_to_five_years_ahead(record, analytes, administrator, used, day):
    this_year = timezone.localdate().year  # when the test runs, not when it was collected
    if day == "1 Jan, six years ahead":
        day = datetime.date(this_year + 6, 1, 1)
    potassium = ReferenceRange.objects.get(analyte=analytes["k"])
    if used:
        record(PatientFactory(), {"k": ("4.0", "mmol/L")}, at=at(2026, 1, 10))
    message = (
        f"Effective date {day.isoformat()} is out of range: choose a date from 01 Jan 1900 to 31 Dec {this_year + 5}."
    )
    with pytest.raises(ValidationError) as refused:
        revise_reference_range(potassium, effective_from=day, by=administrator, normal_low=D("3.6"))
    assert refused.value.message_dict == {"effective_from": [message]}
    assert list(ReferenceRange.objects.filter(analyte=analytes["k"]).values_list("normal_low", "effective_from")) == [
        (D("3.5"), datetime.date(2000, 1, 1))
    ]


@pytest.mark.parametrize("name, label", [("normal_low", "normal low"), ("critical_low", "critical low")])
def test_a_range_limit_cannot_be_negative(analytes, administrator, name, label):
    potassium = ReferenceRange.objects.get(analyte=analytes["k"])
    with pytest.raises(ValidationError) as refused:
        revise_reference_range(potassium, effective_from=potassium.effective_from, by=administrator, **{name: D("-1")})
    assert refused.value.message_dict == {
        name: [f"The {label} limit (-1) is negative; a lab value cannot be below zero: enter 0 or more."]
    }


@pytest.mark.parametrize(
    "codes, message",
    [([], "the panel is empty"), (["k", "k"], "The same analyte appears twice")],
)
def test_empty_panel_and_duplicate_analyte_are_refused(analytes, patient, clinician, codes, message):
    entries = [Entry(analyte=analytes[c], value=D("4.0"), unit=analytes[c].units.get(unit="mmol/L")) for c in codes]
    with pytest.raises(ValidationError, match=message):
        record_results(patient=patient, collected_at=timezone.now(), entries=entries, by=clinician)
    assert not Panel.objects.exists()


def test_accession_number_is_unique_per_lab_ignoring_case(record, patient):
    record(patient, {"k": ("4.0", "mmol/L")}, lab_name="City Lab", accession_number="A-1")
    record(patient, {"k": ("4.0", "mmol/L")}, lab_name="Other Lab", accession_number="A-1")  # other lab: fine
    with pytest.raises(ValidationError, match="Accession number a-1 from lab “city lab” has already been entered"):
        record(patient, {"k": ("4.0", "mmol/L")}, lab_name="city lab", accession_number="a-1")
    assert Panel.objects.count() == 2


def test_correction_recomputes_flag_and_keeps_history_with_reason(record, patient, other_clinician):
    result = record(patient, {"k": ("3.1", "mmol/L")}).results.get()
    assert result.flag == Flag.LOW
    correct_result(
        result, value=D("4.0"), unit=result.analyte.units.get(unit="meq/L"), reason="Typo", by=other_clinician
    )
    result.refresh_from_db()
    assert (result.value, result.unit_entered, result.flag) == (D("4.0000"), "meq/L", Flag.NORMAL)
    assert (result.status, result.status_reason, result.updated_by) == ("corrected", "Typo", other_clinician)
    newest, earliest = result.history.order_by("-history_id")
    assert (earliest.value_entered, earliest.flag, earliest.status) == (D("3.1"), Flag.LOW, "final")
    assert (newest.value_entered, newest.history_change_reason, newest.updated_by) == (
        D("4.0"),
        "Typo",
        other_clinician,
    )


def test_correction_needs_a_reason_and_a_result_not_in_error(record, patient, clinician):
    result = record(patient, {"k": ("3.1", "mmol/L")}).results.get()
    unit = result.analyte.units.get(unit="mmol/L")
    with pytest.raises(ValidationError, match="reason for the correction"):
        correct_result(result, value=D("4.0"), unit=unit, reason="  ", by=clinician)
    mark_entered_in_error(result, reason="Wrong patient", by=clinician)
    with pytest.raises(ValidationError, match="entered in error and cannot be corrected"):
        correct_result(result, value=D("4.0"), unit=unit, reason="Typo", by=clinician)
    result.refresh_from_db()
    assert (result.value_entered, result.status) == (D("3.1"), "entered-in-error")


def test_entered_in_error_stays_but_no_longer_counts(record, patient, clinician):
    result = record(patient, {"k": ("3.1", "mmol/L")}).results.get()
    with pytest.raises(ValidationError, match="reason the result was entered in error"):
        mark_entered_in_error(result, reason="", by=clinician)
    assert list(Result.objects.abnormal()) == [result]
    mark_entered_in_error(result, reason="Wrong patient", by=clinician)
    result.refresh_from_db()
    assert (result.status, result.status_reason, result.is_abnormal) == ("entered-in-error", "Wrong patient", False)
    assert (list(Result.objects.valid()), list(Result.objects.abnormal())) == ([], [])
    assert Result.objects.filter(pk=result.pk).exists()


def test_revising_an_unused_range_edits_it_in_place(analytes, administrator):
    potassium = ReferenceRange.objects.get(analyte=analytes["k"])
    revised = revise_reference_range(
        potassium, effective_from=datetime.date(2000, 1, 1), by=administrator, normal_low=D("3.6")
    )
    assert (revised.pk, revised.normal_low, revised.changed_by) == (potassium.pk, D("3.6"), administrator)
    assert ReferenceRange.objects.filter(analyte=analytes["k"]).count() == 1


def test_revising_a_used_range_creates_a_version_and_earlier_results_keep_theirs(record, analytes, administrator):
    patient = PatientFactory()
    old = ReferenceRange.objects.get(analyte=analytes["k"])
    before = record(patient, {"k": ("3.55", "mmol/L")}, at=at(2026, 1, 10)).results.get()
    with pytest.raises(ValidationError, match="choose an effective date after 01 Jan 2000"):
        revise_reference_range(old, effective_from=datetime.date(2000, 1, 1), by=administrator, normal_low=D("3.6"))
    new = revise_reference_range(old, effective_from=datetime.date(2026, 2, 1), by=administrator, normal_low=D("3.6"))
    assert new.pk != old.pk and (new.normal_low, new.normal_high, new.critical_low) == (D("3.6"), D("5.2"), D("2.8"))
    old.refresh_from_db()
    assert old.normal_low == D("3.5")
    before.refresh_from_db()
    assert (before.reference_range, before.range_low, before.flag) == (old, D("3.5"), Flag.NORMAL)
    on_the_day = record(patient, {"k": ("3.55", "mmol/L")}, at=at(2026, 2, 1)).results.get()
    day_before = record(patient, {"k": ("3.55", "mmol/L")}, at=at(2026, 1, 31)).results.get()
    assert (on_the_day.reference_range, on_the_day.flag) == (new, Flag.LOW)
    assert (day_before.reference_range, day_before.flag) == (old, Flag.NORMAL)


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"normal_low": D("5"), "normal_high": D("4")}, "normal_high", "must be above the normal low limit"),
        ({"normal_low": None, "normal_high": None}, "normal_low", "Give a normal low limit, a normal high limit"),
        ({"critical_low": D("3.5")}, "critical_low", "must be below the normal low limit (3.5)"),
        ({"critical_high": D("5.0")}, "critical_high", "must be above the normal high limit (5.2)"),
        ({"age_min_years": 60, "age_max_years": 60}, "age_max_years", "must be above the minimum age (60)"),
    ],
)
def test_reference_range_validation_messages(analytes, changes, field, message):
    potassium = ReferenceRange.objects.get(analyte=analytes["k"])
    for name, value in changes.items():
        setattr(potassium, name, value)
    with pytest.raises(ValidationError) as error:
        potassium.full_clean()
    assert message in " ".join(error.value.message_dict[field])


def test_overlapping_age_band_on_the_same_date_is_refused(analytes):
    overlapping = ReferenceRange(
        analyte=analytes["ca"],
        age_min_years=50,
        age_max_years=70,
        normal_low=D("8.7"),
        normal_high=D("10.1"),
        effective_from=datetime.date(2000, 1, 1),
    )
    with pytest.raises(ValidationError, match="overlaps another range"):
        overlapping.full_clean()


def test_a_panels_findings_open_in_the_catalogues_order_whatever_the_order_of_entry(patient, clinician):
    from guidance.models import Finding

    def entry(code, value):
        analyte = Analyte.objects.get(code=code)
        return Entry(analyte=analyte, value=D(value), unit=analyte.units.get(unit=analyte.canonical_unit))

    # Entered potassium first, then vitamin D (an import may list them in any order).
    record_results(
        patient=patient, collected_at=at(2026, 3, 1), entries=[entry("k", "3.1"), entry("vitd25", "15")], by=clinician
    )
    opened = list(
        Finding.objects.filter(patient=patient).order_by("pk").values_list("result__analyte__code", flat=True)
    )
    catalogue = list(Analyte.objects.filter(code__in=["k", "vitd25"]).values_list("code", flat=True))  # sort_order
    assert opened == catalogue == ["vitd25", "k"]
