"""Interpretation, unit conversion and range selection: table-driven, every boundary written out by hand."""

import datetime
from decimal import Decimal as D
from types import SimpleNamespace

import pytest
from django.utils import timezone

from labs.interpretation import (
    Flag,
    Limits,
    Reading,
    interpret,
    interpret_reported,
    places_to_show,
    proves_above,
    proves_below,
    select_range,
    to_canonical,
    wrong_unit_reading,
)
from labs.models import AnalyteUnit
from labs.services import range_for

from .factories import PatientFactory

# Potassium's default: normal 3.5–5.2, critical below 2.8 or above 6.2 mmol/L.
POTASSIUM = Limits(D("3.5"), D("5.2"), D("2.8"), D("6.2"))


@pytest.mark.parametrize(
    "value, flag",
    [
        ("0", Flag.CRITICAL_LOW),
        ("2.79", Flag.CRITICAL_LOW),  # just outside the critical low
        ("2.8", Flag.LOW),  # equal to the critical low: abnormal, not critical
        ("2.81", Flag.LOW),
        ("3.49", Flag.LOW),  # just outside the normal low
        ("3.5", Flag.NORMAL),  # equal to the normal low: normal
        ("3.51", Flag.NORMAL),
        ("4.2", Flag.NORMAL),
        ("5.19", Flag.NORMAL),
        ("5.2", Flag.NORMAL),  # equal to the normal high: normal
        ("5.21", Flag.HIGH),
        ("6.2", Flag.HIGH),  # equal to the critical high: abnormal, not critical
        ("6.21", Flag.CRITICAL_HIGH),
        ("9.9", Flag.CRITICAL_HIGH),
    ],
)
def test_potassium_boundaries(value, flag):
    assert interpret(D(value), POTASSIUM) == flag


@pytest.mark.parametrize(
    "limits, value, flag",
    [
        # Only a lower limit (e.g. "≥ 20"): nothing is high.
        (Limits(normal_low=D("20")), "19.9", Flag.LOW),
        (Limits(normal_low=D("20")), "20", Flag.NORMAL),
        (Limits(normal_low=D("20")), "900", Flag.NORMAL),
        # Only an upper limit (e.g. "≤ 80"): nothing is low.
        (Limits(normal_high=D("80")), "0", Flag.NORMAL),
        (Limits(normal_high=D("80")), "80", Flag.NORMAL),
        (Limits(normal_high=D("80")), "80.1", Flag.HIGH),
        # Normal limits without critical ones never give a critical flag.
        (Limits(D("39"), D("308")), "38", Flag.LOW),
        (Limits(D("39"), D("308")), "30000", Flag.HIGH),
        # No range: said plainly, never shown as normal.
        (None, "4.2", Flag.NO_RANGE),
        (Limits(), "4.2", Flag.NO_RANGE),
    ],
)
def test_open_limits_and_no_range(limits, value, flag):
    assert interpret(D(value), limits) == flag


@pytest.mark.parametrize(
    "value, factor, canonical",
    [
        # Each seeded factor, with the product worked out by hand (rounded half up to 4 places).
        ("50", "0.4006", "20.0300"),  # 25(OH)D nmol/L → ng/mL
        ("0.85", "2.431", "2.0664"),  # magnesium mmol/L → mg/dL: 2.06635 rounds up
        ("1.70", "1.2153", "2.0660"),  # magnesium mEq/L → mg/dL: 2.06601
        ("2.30", "4.008", "9.2184"),  # calcium mmol/L → mg/dL
        ("4.60", "2.004", "9.2184"),  # calcium mEq/L → mg/dL
        ("4.1", "1", "4.1000"),  # potassium mEq/L → mmol/L
        ("2.5", "60", "150.0000"),  # CK ukat/L → U/L
        ("40.5", "1", "40.5000"),  # carnitine nmol/mL → umol/L
        ("38", "0.1", "3.8000"),  # albumin g/L → g/dL
        ("25.0", "0.4307", "10.7675"),  # vitamin E umol/L → mg/L
        ("0.00005", "1", "0.0001"),  # half up at the fifth place
        ("0.00004", "1", "0.0000"),
    ],
)
def test_to_canonical(value, factor, canonical):
    assert to_canonical(D(value), D(factor)) == D(canonical)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code, unit, factor",
    [
        ("vitd25", "nmol/L", "0.4006"),
        ("mg", "mmol/L", "2.431"),
        ("mg", "meq/L", "1.2153"),
        ("ca", "mmol/L", "4.008"),
        ("ca", "meq/L", "2.004"),
        ("k", "meq/L", "1"),
        ("ck", "ukat/L", "60"),
        ("carn_free", "nmol/mL", "1"),
        ("carn_total", "nmol/mL", "1"),
        ("alb", "g/L", "0.1"),
        ("vite", "umol/L", "0.4307"),
    ],
)
def test_seeded_factors_are_the_documented_ones(code, unit, factor):
    assert AnalyteUnit.objects.get(analyte__code=code, unit=unit).factor == D(factor)


def rng(name, *, sex="", age_min=18, age_max=None, effective=datetime.date(2000, 1, 1)):
    return SimpleNamespace(name=name, sex=sex, age_min_years=age_min, age_max_years=age_max, effective_from=effective)


CALCIUM = [rng("ca 18-59", age_max=60), rng("ca 60+", age_min=60)]
CK = [rng("ck male", sex="male"), rng("ck female", sex="female")]
SPECIFIC = [rng("any adult"), rng("female adult", sex="female"), rng("any 18-59", age_max=60)]
VERSIONS = [
    rng("v1", effective=datetime.date(2000, 1, 1)),
    rng("v2", effective=datetime.date(2025, 1, 1)),
    rng("v3 future", effective=datetime.date(2030, 1, 1)),
]
ON = datetime.date(2026, 3, 10)


@pytest.mark.parametrize(
    "ranges, sex, age, on, expected",
    [
        (CALCIUM, "female", 17, ON, None),  # under 18: no range
        (CALCIUM, "female", 18, ON, "ca 18-59"),  # minimum inclusive
        (CALCIUM, "female", 59, ON, "ca 18-59"),
        (CALCIUM, "female", 60, ON, "ca 60+"),  # maximum exclusive: 60 is in the 60+ band
        (CALCIUM, "unknown", 99, ON, "ca 60+"),
        (CK, "male", 40, ON, "ck male"),
        (CK, "female", 40, ON, "ck female"),
        (CK, "other", 40, ON, None),  # CK has only sex-specific ranges
        (CK, "unknown", 40, ON, None),
        (SPECIFIC, "female", 70, ON, "female adult"),  # sex-specific beats any-sex
        (SPECIFIC, "female", 30, ON, "female adult"),  # … even against a bounded age band
        (SPECIFIC, "male", 30, ON, "any 18-59"),  # bounded age band beats the open one
        (SPECIFIC, "male", 70, ON, "any adult"),
        (VERSIONS, "male", 40, datetime.date(1999, 12, 31), None),  # before any version
        (VERSIONS, "male", 40, datetime.date(2000, 1, 1), "v1"),
        (VERSIONS, "male", 40, datetime.date(2024, 12, 31), "v1"),
        (VERSIONS, "male", 40, datetime.date(2025, 1, 1), "v2"),  # effective from its date on
        (VERSIONS, "male", 40, ON, "v2"),  # a future version is not used yet
        ([], "male", 40, ON, None),
    ],
)
def test_select_range(ranges, sex, age, on, expected):
    chosen = select_range(ranges, sex=sex, age=age, on=on)
    assert (chosen.name if chosen else None) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code, born, sex, expected",
    [
        # The seeded defaults, chosen for a collection on 10 Mar 2026.
        ("ca", datetime.date(1966, 3, 11), "female", (D("8.6"), D("10.0"))),  # 59 on the day
        ("ca", datetime.date(1966, 3, 10), "female", (D("8.8"), D("10.2"))),  # 60th birthday: 60+ band
        ("ca", datetime.date(2008, 3, 11), "female", None),  # 17: no range
        ("ck", datetime.date(1980, 1, 1), "male", (D("39"), D("308"))),
        ("ck", datetime.date(1980, 1, 1), "female", (D("26"), D("192"))),
        ("ck", datetime.date(1980, 1, 1), "other", None),
        ("ck", datetime.date(1980, 1, 1), "unknown", None),
        ("k", datetime.date(1980, 1, 1), "unknown", (D("3.5"), D("5.2"))),
    ],
)
def test_range_for_seeded_defaults(analytes, code, born, sex, expected):
    patient = PatientFactory(date_of_birth=born, sex=sex)
    collected = timezone.make_aware(datetime.datetime(2026, 3, 10, 9, 30))
    chosen = range_for(patient, analytes[code], collected)
    assert ((chosen.normal_low, chosen.normal_high) if chosen else None) == expected


# --- the wrong-unit question: which other reading would make the value mean something less alarming -------

N, L, H, LL, HH = Flag.NORMAL, Flag.LOW, Flag.HIGH, Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH


@pytest.mark.parametrize(
    "chosen, others, asked",
    [
        (LL, [L], L),  # critical here, abnormal only there
        (LL, [N], N),  # critical here, normal there
        (HH, [L], L),  # critical here, not critical (if the other way) there
        (LL, [LL, L], L),  # the first other reading that means less
        (LL, [LL, HH], None),  # critical in every unit
        (L, [N], N),  # abnormal here, normal there
        (H, [L], None),  # abnormal in both: nothing to ask
        (L, [LL], None),  # more alarming in the other unit is not the question
        (N, [LL], None),  # normal here
        (Flag.NO_RANGE, [N], None),
        (LL, [], None),  # no other plausible unit
    ],
)
def test_wrong_unit_reading(chosen, others, asked):
    found = wrong_unit_reading(
        Reading("a", D("1"), chosen), [Reading(f"u{i}", D(i), flag) for i, flag in enumerate(others)]
    )
    assert (found.flag if found else None) == asked


# --- censored values: flagged only when every value they admit has the same flag ---------------------

VITAMIN_D = Limits(normal_low=D("20"), normal_high=D("80"))
POTASSIUM = Limits(D("3.5"), D("5.2"), D("2.8"), D("6.2"))
CK_FEMALE = Limits(normal_low=D("26"), normal_high=D("192"))


@pytest.mark.parametrize(
    "value, comparator, limits, expected",
    [
        ("5", "<", VITAMIN_D, Flag.LOW),  # every value below 5 is below 20
        ("20", "<", VITAMIN_D, Flag.LOW),  # below the limit: low, all of it
        ("20", "<=", VITAMIN_D, Flag.INDETERMINATE),  # admits 20 itself, which is normal
        ("25", "<", VITAMIN_D, Flag.INDETERMINATE),  # 0–25 spans the lower limit of 20
        ("80", ">", VITAMIN_D, Flag.HIGH),
        ("80", ">=", VITAMIN_D, Flag.INDETERMINATE),  # admits 80, normal
        ("150", ">", VITAMIN_D, Flag.HIGH),
        ("1000", ">", CK_FEMALE, Flag.HIGH),
        ("2.5", "<", POTASSIUM, Flag.CRITICAL_LOW),
        ("3.0", "<", POTASSIUM, Flag.INDETERMINATE),  # critically low or low
        ("6.2", ">", POTASSIUM, Flag.CRITICAL_HIGH),
        ("6.2", ">=", POTASSIUM, Flag.INDETERMINATE),  # 6.2 itself is high, not critical
        ("5", "<", None, Flag.NO_RANGE),
        ("5", "", VITAMIN_D, Flag.LOW),  # exact values as interpret() says
    ],
)
def test_interpret_reported(value, comparator, limits, expected):
    assert interpret_reported(D(value), comparator, limits) == expected


@pytest.mark.parametrize(
    "value, comparator, threshold, above, below",
    [
        ("1000", ">", "960", True, False),  # > 1000 proves > 5 × 192
        ("1000", ">", "1000", True, False),  # every admitted value is above 1000
        ("1000", ">=", "1000", False, False),  # admits 1000 itself
        ("1000", ">", "1920", False, False),  # does not prove > 10 × 192
        ("5", "<", "10", False, True),
        ("5", "<", "5", False, True),
        ("5", "<=", "5", False, False),
        ("5", "<", "4", False, False),
        ("5", "", "4", True, False),
        ("5", "", "5", False, False),  # strict thresholds for exact values too
    ],
)
def test_proves_above_and_below(value, comparator, threshold, above, below):
    assert proves_above(D(value), comparator, D(threshold)) is above
    assert proves_below(D(value), comparator, D(threshold)) is below


# --- what is shown reads as its flag: more decimals only where rounding would contradict it ------------

CALCIUM = Limits(D("8.6"), D("10.0"), D("6.6"), D("12.9"))


@pytest.mark.parametrize(
    "value, comparator, limits, flag, places, expected",
    [
        ("10.0184", "", CALCIUM, Flag.HIGH, 1, 2),  # 10.0 would read normal; 10.02 reads high
        ("10.0004", "", CALCIUM, Flag.HIGH, 1, 4),  # it takes all four stored places
        ("10.0400", "", CALCIUM, Flag.HIGH, 1, 2),  # 10.04 rounds to 10.0 too
        ("10.0600", "", CALCIUM, Flag.HIGH, 1, 1),  # 10.1 reads high: the analyte's own precision
        ("9.2184", "", CALCIUM, Flag.NORMAL, 1, 1),  # nothing near a limit
        ("8.5500", "", CALCIUM, Flag.LOW, 1, 2),  # 8.6 would read normal; 8.55 reads low
        ("6.5800", "", CALCIUM, Flag.CRITICAL_LOW, 1, 2),  # 6.6 would read "low"; 6.58 critically low
        ("3.0000", "", None, Flag.NO_RANGE, 1, 1),
    ],
)
def test_places_to_show(value, comparator, limits, flag, places, expected):
    assert places_to_show(D(value), comparator, limits, flag, places) == expected
