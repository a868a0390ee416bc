"""The demo results command: lives in guidance because demo results go through guidance's service,
so the demo worklist has findings to review."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from guidance.models import CriticalCall, Finding
from labs.interpretation import Flag
from labs.models import Result
from patients.models import Patient

pytestmark = pytest.mark.django_db


def test_seed_demo_results_refuses_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only runs with DEBUG on"):
        call_command("seed_demo_results", stdout=io.StringIO())


def test_seed_demo_results_is_idempotent_and_realistic(settings, roles):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo_results", stdout=io.StringIO())
    count = Result.objects.count()
    call_command("seed_demo_results", stdout=io.StringIO())
    # 12 + 6 + 8 + 7 + 7 + 4, then DEMO-0007's 12 monthly panels of 4 and one potassium: 44 + 49
    assert Result.objects.count() == count == 93
    flags = {
        (r.patient.mrn, r.analyte.code, r.flag)
        for r in Result.objects.select_related("patient", "analyte").filter(
            collected_at__gte=timezone.now() - datetime.timedelta(days=70)
        )
    }
    assert ("DEMO-0004", "k", Flag.CRITICAL_HIGH) in flags
    assert ("DEMO-0002", "ck", Flag.HIGH) in flags
    assert {("DEMO-0001", "mg", Flag.LOW), ("DEMO-0001", "k", Flag.LOW)} <= flags
    assert {("DEMO-0003", "vitd25", Flag.LOW), ("DEMO-0003", "vite", Flag.LOW)} <= flags
    child = Patient.objects.get(mrn="DEMO-0006")
    assert set(child.results.values_list("flag", flat=True)) == {Flag.NO_RANGE}
    ck = Result.objects.get(patient__mrn="DEMO-0002", analyte__code="ck", flag=Flag.HIGH)
    assert ck.value > 10 * ck.range_high
    # Every abnormal demo result has a finding waiting on the worklist; the child's results have none.
    abnormal = Result.objects.abnormal()
    assert abnormal.exists()
    assert not abnormal.exclude(findings__isnull=False).exists()
    assert Finding.objects.filter(result__patient__mrn="DEMO-0004", critical=True).exists()
    assert not Finding.objects.filter(patient=child).exists()


def test_the_demo_worklist_shows_a_superseded_finding_a_pattern_led_item_and_a_critical_call_to_make(
    settings, roles, clinician_client
):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo_results", stdout=io.StringIO())
    superseded = Finding.objects.filter(status=Finding.Status.SUPERSEDED, patient__mrn="DEMO-0001")
    assert sorted(superseded.values_list("rule__code", flat=True)) == [
        "magnesium-low",
        "magnesium-low-with-potassium-low",
        "potassium-low",
    ]
    rows = clinician_client.get("/").context["reports"]
    # The critical potassium first, waiting for its call to be recorded.
    first = rows[0]
    assert (first.panel.patient.mrn, first.panel.critical_waiting) == ("DEMO-0004", True)
    assert [result.analyte.code for result in first.abnormal if result.is_critical] == ["k"]
    assert not CriticalCall.objects.exists()
    # DEMO-0001's newest report: patterns leading the findings they explain, and no older report of hers.
    (holloway,) = [row for row in rows if row.panel.patient.mrn == "DEMO-0001"]
    led = {
        item.lead.rule.code: sorted(f.rule.code if f.rule else "(no rule)" for f in item.covered)
        for item in holloway.items
    }
    assert led == {
        "magnesium-low-with-calcium-low": ["magnesium-low"],
        "magnesium-low-with-potassium-low": ["potassium-low"],
        "calcium-low-with-albumin-low": ["(no rule)", "calcium-low"],
    }
    calcium = Finding.objects.get(patient__mrn="DEMO-0001", rule__code="calcium-low")
    assert calcium.severity == "routine" and "the albumin in this panel explains" in calcium.summary


def test_the_year_of_monthly_panels_shows_vitamin_d_answering_treatment_and_a_delta_finding(settings, roles):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo_results", stdout=io.StringIO())
    patient = Patient.objects.get(mrn="DEMO-0007")
    assert patient.panels.count() == 13
    vitamin_d = list(patient.results.filter(analyte__code="vitd25").order_by("collected_at"))
    assert [str(r.value.normalize()) for r in vitamin_d][:3] == ["9", "13.5", "18"]
    assert [r.flag for r in vitamin_d].count(Flag.LOW) == 3  # then within range from the fourth month
    assert vitamin_d[-1].flag == Flag.NORMAL
    delta = Finding.objects.get(patient=patient, delta_rule__isnull=False)
    assert (delta.result.value, delta.previous_result.value) == (Decimal("5.1"), Decimal("3.6"))
    assert (delta.result.flag, delta.previous_result.flag) == (Flag.NORMAL, Flag.NORMAL)
    assert list(patient.contributing_factors.values_list("code", flat=True)) == ["limited-sun"]
