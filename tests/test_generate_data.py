"""manage.py generate_data (benchmarks): deterministic, the counts asked for, a small run's rows as written
out here, and built by the services' own interpretation and finding functions."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F, Q
from django.utils import timezone

from benchmarks.management.commands.generate_data import copy_text
from guidance.models import Finding, FollowUpPlan, Rule
from labs.interpretation import ABNORMAL_FLAGS, CRITICAL_FLAGS
from labs.models import Panel, ReferenceRange, Result
from patients.models import Patient

pytestmark = pytest.mark.django_db

END = "2026-06-30"


def generate(*args):
    out = io.StringIO()
    call_command("generate_data", *args, "--end-date", END, "--force", stdout=out)
    return out.getvalue()


def result_rows(*fields):
    return list(Result.objects.order_by("patient__mrn", "collected_at", "analyte__sort_order").values_list(*fields))


def snapshot():
    return result_rows(
        "patient__mrn",
        "patient__date_of_birth",
        "patient__sex",
        "analyte__code",
        "collected_at",
        "value_entered",
        "unit_entered",
        "flag",
        "status",
    )


def delete_everything():
    FollowUpPlan.objects.all().delete()
    Finding.objects.all().delete()
    Result.objects.all().delete()
    Panel.objects.all().delete()
    Patient.objects.all().delete()


def test_same_seed_same_data_and_another_seed_other_data():
    generate("--patients", "6", "--results-per-patient", "10", "--seed", "3")
    first = snapshot()
    findings = sorted(Finding.objects.values_list("summary", "status", "severity"))
    delete_everything()
    generate("--patients", "6", "--results-per-patient", "10", "--seed", "3")
    assert snapshot() == first
    assert sorted(Finding.objects.values_list("summary", "status", "severity")) == findings
    delete_everything()
    generate("--patients", "6", "--results-per-patient", "10", "--seed", "4")
    other = snapshot()
    assert [row[5] for row in other] != [row[5] for row in first]


def test_counts_and_the_long_history_patient():
    output = generate("--patients", "7", "--results-per-patient", "12", "--seed", "5", "--long-history", "60")
    assert Patient.objects.count() == 8
    per_patient = dict(Patient.objects.annotate(n=Count("results")).values_list("mrn", "n"))
    assert per_patient.pop("S5-LONG") == 60
    assert sorted(per_patient) == [f"S5-00000{n}" for n in range(7)]
    assert set(per_patient.values()) == {12}
    # Every result belongs to a panel of the same patient, collected at the same time.
    assert not Result.objects.exclude(patient=F("panel__patient")).exists()
    assert not Result.objects.exclude(collected_at=F("panel__collected_at")).exists()
    assert "rows/second" in output
    # The long history is an adult's throughout, so its results are read against adult ranges.
    long = Patient.objects.get(mrn="S5-LONG")
    first = Result.objects.filter(patient=long).earliest("collected_at").collected_at
    assert long.age_on(first.date()) >= 18


# Seed 2558, 2 patients × 6 results, ending 30 Jun 2026: every row below was checked by hand against the
# default ranges (labs/migrations/0002: calcium by age band, CK by sex and none for sex unknown) and the
# rules (guidance/migrations/0003) the migrations load.
SMALL_RUN = ("--patients", "2", "--results-per-patient", "6", "--seed", "2558")


def finding_rows():
    return sorted(
        Finding.objects.values_list(
            "patient__mrn",
            "result__analyte__code",
            "rule__code",
            "partner_result__analyte__code",
            "severity",
            "critical",
            "status",
        )
    )


def test_a_small_run_row_by_row():
    output = generate(*SMALL_RUN)
    D = Decimal
    # S2558-000000: male, 79 on 23 Sep 2024 (older-age). S2558-000001: sex unknown, 63 then 65 and 68
    # (limited-sun, ckd, older-age).
    assert list(Patient.objects.order_by("mrn").values_list("mrn", "sex", "date_of_birth")) == [
        ("S2558-000000", "male", datetime.date(1945, 7, 27)),
        ("S2558-000001", "unknown", datetime.date(1958, 6, 25)),
    ]
    any_adult = ("", 18)  # the range for any sex from 18
    calcium_60_and_over = (D("8.8"), D("10.2"), D("6.6"), D("12.9"), "", 60)
    assert result_rows(
        "patient__mrn",
        "analyte__code",
        "value_entered",
        "unit_entered",
        "value",
        "flag",
        "range_low",
        "range_high",
        "range_critical_low",
        "range_critical_high",
        "reference_range__sex",
        "reference_range__age_min_years",
    ) == [
        ("S2558-000000", "vitd25", D("30.5"), "ng/mL", D("30.5"), "N", D(20), D(80), None, None, *any_adult),
        ("S2558-000000", "mg", D("1.66"), "mg/dL", D("1.66"), "L", D("1.7"), D("2.6"), D(1), D("4.9"), *any_adult),
        # 1.59 mmol/L × 4.008 = 6.37272 → 6.3727 mg/dL, below the critical 6.6 of the 60-and-over band.
        ("S2558-000000", "ca", D("1.59"), "mmol/L", D("6.3727"), "LL", *calcium_60_and_over),
        ("S2558-000000", "k", D("4.34"), "mmol/L", D("4.34"), "N", D("3.5"), D("5.2"), D("2.8"), D("6.2"), *any_adult),
        # 3.43 ukat/L × 60 = 205.8 U/L, inside the male range 39–308.
        ("S2558-000000", "ck", D("3.43"), "ukat/L", D("205.8"), "N", D(39), D(308), None, None, "male", 18),
        ("S2558-000000", "alb", D("4.8"), "g/dL", D("4.8"), "N", D("3.5"), D(5), None, None, *any_adult),
        ("S2558-000001", "mg", D("2.29"), "mg/dL", D("2.29"), "N", D("1.7"), D("2.6"), D(1), D("4.9"), *any_adult),
        ("S2558-000001", "ca", D("9.62"), "mg/dL", D("9.62"), "N", *calcium_60_and_over),
        ("S2558-000001", "k", D("3.18"), "mmol/L", D("3.18"), "L", D("3.5"), D("5.2"), D("2.8"), D("6.2"), *any_adult),
        ("S2558-000001", "alb", D("4.1"), "g/dL", D("4.1"), "N", D("3.5"), D(5), None, None, *any_adult),
        # CK has ranges for men and women only: sex unknown gets no range.
        ("S2558-000001", "ck", D(56), "U/L", D(56), "NR", None, None, None, None, None, None),
        ("S2558-000001", "ck", D("1.45"), "ukat/L", D(87), "NR", None, None, None, None, None, None),
    ]
    assert finding_rows() == [
        ("S2558-000000", "ca", "calcium-low", None, "urgent", True, "follow-up-planned"),  # critical: urgent
        ("S2558-000000", "mg", "magnesium-low", None, "routine", False, "follow-up-planned"),
        ("S2558-000000", "mg", "magnesium-low-with-calcium-low", "ca", "prompt", False, "follow-up-planned"),
        ("S2558-000001", "k", "potassium-low", None, "prompt", False, "resolved"),
    ]
    magnesium = Finding.objects.get(rule__code="magnesium-low")
    assert magnesium.summary.startswith("Magnesium 1.66 mg/dL. Low magnesium: ")
    assert magnesium.summary.endswith(" Recorded for this patient and relevant here: Older age.")
    pattern = Finding.objects.get(rule__code="magnesium-low-with-calcium-low")
    assert pattern.summary.startswith("Magnesium 1.66 mg/dL with calcium, total 6.4 mg/dL. Low magnesium with low")
    assert FollowUpPlan.objects.count() == 3
    # 2 patients, 4 factor links, 4 panels, 12 results, 4 findings, 3 plans.
    assert "Done: 29 rows" in output


def test_generated_data_follows_the_ranges_and_rules_in_the_database():
    """The generator interprets and builds findings with the services' own functions, so editing a range or
    a rule changes what it generates (the same seed as test_a_small_run_row_by_row)."""
    ReferenceRange.objects.filter(analyte__code="k").update(normal_low=Decimal("3.1"))
    Rule.objects.filter(code="magnesium-low").update(severity="urgent", summary="Edited by the test.")
    generate(*SMALL_RUN)
    potassium = Result.objects.get(patient__mrn="S2558-000001", analyte__code="k")
    assert (potassium.value, potassium.flag, potassium.range_low) == (Decimal("3.18"), "N", Decimal("3.1"))
    assert not Finding.objects.filter(rule__code="potassium-low").exists()
    magnesium = Finding.objects.get(rule__code="magnesium-low")
    assert magnesium.severity == "urgent"
    assert (
        magnesium.summary
        == "Magnesium 1.66 mg/dL. Edited by the test. Recorded for this patient and relevant here: Older age."
    )


def test_every_row_is_valid():
    generate("--patients", "60", "--results-per-patient", "20", "--seed", "7")
    for result in Result.objects.select_related("analyte", "reference_range"):
        result.full_clean()  # the model's own checks, constraints included
    for finding in Finding.objects.select_related("result"):
        assert finding.patient_id == finding.result.patient_id
        assert finding.critical == (finding.result.flag in CRITICAL_FLAGS)
        finding.full_clean()
    for plan in FollowUpPlan.objects.select_related("finding"):
        assert plan.finding.status == Finding.Status.FOLLOW_UP_PLANNED
        plan.full_clean()
    statuses = set(Finding.objects.values_list("status", flat=True))
    assert {"open", "follow-up-planned", "no-action"} <= statuses


def test_a_realistic_mix():
    generate("--patients", "200", "--results-per-patient", "40", "--seed", "1")
    flags = list(Result.objects.values_list("flag", flat=True))
    abnormal = sum(flag in ABNORMAL_FLAGS for flag in flags) / len(flags)
    assert 0.10 <= abnormal <= 0.20
    assert any(flag in CRITICAL_FLAGS for flag in flags)
    assert "NR" in flags  # children, who have no reference range
    ages = [patient.age_on(datetime.date(2026, 6, 30)) for patient in Patient.objects.all()]
    assert min(ages) < 18 and max(ages) <= 96 and sum(age >= 18 for age in ages) > 180
    assert set(Patient.objects.values_list("sex", flat=True)) >= {"female", "male"}
    assert Patient.objects.filter(contributing_factors__isnull=False).exists()
    assert len(Result.objects.dates("collected_at", "year")) >= 5  # panels over several years
    # Nothing is dated on or after the end date.
    end = timezone.make_aware(datetime.datetime(2026, 6, 30))
    assert not Panel.objects.filter(Q(collected_at__gte=end) | Q(entered_at__gte=end)).exists()
    assert not Patient.objects.filter(last_activity_at__gte=end).exists()
    assert not Finding.objects.filter(
        Q(created_at__gte=end) | Q(acknowledged_at__gte=end) | Q(decided_at__gte=end) | Q(resolved_at__gte=end)
    ).exists()
    assert not FollowUpPlan.objects.filter(Q(created_at__gte=end) | Q(closed_at__gte=end)).exists()
    assert Result.objects.exclude(
        unit_entered__in=["ng/mL", "mg/dL", "mmol/L", "U/L", "umol/L", "g/dL", "mg/L"]
    ).exists()


def test_refuses_with_debug_off_unless_forced():
    with pytest.raises(CommandError, match="runs with DEBUG on, or with --force"):
        call_command("generate_data", "--patients", "1", stdout=io.StringIO())
    assert Patient.objects.count() == 0


def test_refuses_a_seed_already_used():
    generate("--patients", "1", "--results-per-patient", "2", "--seed", "9")
    with pytest.raises(CommandError, match="seed 9 already exist"):
        generate("--patients", "1", "--results-per-patient", "2", "--seed", "9")
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "\\N"),
        (True, "t"),
        (False, "f"),
        (Decimal("4.5000"), "4.5000"),
        (12, "12"),
        (datetime.date(2026, 1, 2), "2026-01-02"),
        (datetime.datetime(2026, 1, 2, 9, 30, tzinfo=datetime.UTC), "2026-01-02T09:30:00+00:00"),
        ("plain", "plain"),
        ("tab\there", "tab\\there"),
        ("line\nbreak\r", "line\\nbreak\\r"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_copy_text(value, text):
    assert copy_text(value) == text
