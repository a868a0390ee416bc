"""manage.py generate_data: deterministic, the counts asked for, and every row interpreted and matched
exactly as the services would have done it."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F, Q
from django.utils import timezone

from guidance.management.commands.generate_data import copy_text
from guidance.models import Finding, FollowUpPlan, Rule
from guidance.rules import match_rules
from labs.interpretation import ABNORMAL_FLAGS, CRITICAL_FLAGS, interpret, to_canonical
from labs.models import AnalyteUnit, Panel, Result
from labs.services import range_for
from patients.models import Patient

pytestmark = pytest.mark.django_db

END = "2026-06-30"


def generate(*args):
    out = io.StringIO()
    call_command("generate_data", *args, "--end-date", END, "--force", stdout=out)
    return out.getvalue()


def snapshot():
    return list(
        Result.objects.order_by("patient__mrn", "collected_at", "analyte__code").values_list(
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


def test_every_result_is_interpreted_as_labs_services_does():
    generate("--patients", "40", "--results-per-patient", "20", "--seed", "6")
    factors = {(u.analyte_id, u.unit): u.factor for u in AnalyteUnit.objects.all()}
    results = Result.objects.select_related("patient", "analyte").prefetch_related("analyte__ranges")
    assert results.count() == 800
    for result in results:
        range_ = range_for(result.patient, result.analyte, result.collected_at)
        assert result.reference_range_id == (range_.pk if range_ else None)
        assert result.flag == interpret(result.value, range_.limits if range_ else None)
        assert result.value == to_canonical(result.value_entered, factors[(result.analyte_id, result.unit_entered)])
        if range_:
            assert (result.range_low, result.range_high) == (range_.normal_low, range_.normal_high)
            assert (result.range_critical_low, result.range_critical_high) == (
                range_.critical_low,
                range_.critical_high,
            )
        result.full_clean()  # the model's own checks, constraints included


def test_findings_are_what_the_rules_call_for_in_valid_states():
    generate("--patients", "60", "--results-per-patient", "20", "--seed", "7")
    rules = list(Rule.objects.filter(active=True))
    expected, actual = set(), set()
    for panel in Panel.objects.prefetch_related("results"):
        valid = [result for result in panel.results.all() if result.status != Result.Status.ENTERED_IN_ERROR]
        for match in match_rules(valid, rules):
            expected.add((match.result.pk, match.rule.pk if match.rule else None, getattr(match.partner, "pk", None)))
    for finding in Finding.objects.all():
        actual.add((finding.result_id, finding.rule_id, finding.partner_result_id))
        assert finding.patient_id == finding.result.patient_id
        assert finding.critical == (finding.result.flag in CRITICAL_FLAGS)
        finding.full_clean()
    assert expected and actual == expected
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
