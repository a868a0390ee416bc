"""The patient page keeps its results over time and its panels in the cache as HTML
(labs.selectors.results_sections): a second look costs fewer queries, and every change to what the two
views show is on the page at once."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from guidance.services import correct_result, mark_entered_in_error
from labs.models import Analyte, DeltaRule, Result, SpecimenCondition
from patients.services import set_patient_active

from .factories import UserFactory

pytestmark = pytest.mark.django_db


def at(day):
    return timezone.make_aware(datetime.datetime(2026, 3, day, 9))


@pytest.fixture
def history(record, patient):
    """Potassium 3.6 then 5.1 two days later (a change beyond its delta rule), with a magnesium."""
    record(patient, {"k": "3.6", "mg": "2.0"}, at=at(1))
    record(patient, {"k": "5.1"}, at=at(3))
    return Result.objects.get(value=Decimal("5.1"))


def sections(client, patient, query=""):
    response = client.get(f"/patients/{patient.pk}/{query}")
    assert response.status_code == 200
    return response.context["results"]


def test_a_second_look_reads_the_sections_from_the_cache(clinician_client, patient, history, django_assert_num_queries):
    url = f"/patients/{patient.pk}/"
    # The first look builds the findings summary, the trends and both views and writes them to the cache:
    # the findings with their topics and plans (3), the page of panels with its count and results (3), the
    # cumulative view (5), the latest results for the trends (1), and for each of the three cache writes a
    # count, a read, an insert and their savepoint (5). The second reads the three from the cache.
    with django_assert_num_queries(41):
        first = clinician_client.get(url).context["results"]
    with django_assert_num_queries(14):
        second = clinician_client.get(url).context["results"]
    assert second == first
    assert "5.1" in second.cumulative and "5.1" in second.results


def change_a_result_value(patient, history, clinician):
    correct_result(
        history, value=Decimal("4.4"), unit=history.analyte.units.get(unit="mmol/L"), reason="Re-run", by=clinician
    )
    return "4.4"


def withdraw_a_result(patient, history, clinician):
    mark_entered_in_error(history, reason="Wrong patient", by=clinician)
    return "entered in error"


def save_a_result_directly(patient, history, clinician):
    history.value = Decimal("4.8")  # a writer that goes around the services: Django still sets updated_at
    history.save()
    return "4.8"


def rename_the_analyte(patient, history, clinician):
    Analyte.objects.filter(code="k").update(name="Potassium (serum)")
    return "potassium (serum)"


@pytest.mark.parametrize(
    "change",
    [change_a_result_value, withdraw_a_result, save_a_result_directly, rename_the_analyte],
    ids=["a correction", "a result entered in error", "a result saved directly", "the analyte renamed"],
)
def test_a_change_to_a_result_or_its_analyte_shows_at_once(clinician_client, patient, history, clinician, change):
    before = sections(clinician_client, patient)
    shown = change(patient, history, clinician)
    assert shown not in before.cumulative.lower()
    after = sections(clinician_client, patient)
    assert shown in after.cumulative.lower() and shown in after.results.lower()


def test_a_new_panel_shows_at_once(clinician_client, patient, history, record):
    sections(clinician_client, patient)
    record(patient, {"ck": "250"}, at=at(5))
    after = sections(clinician_client, patient)
    assert "250" in after.cumulative and "250" in after.results


def test_a_delta_rule_turned_off_by_an_administrator_shows_at_once(clinician_client, patient, history):
    assert "border-warning" in sections(clinician_client, patient).cumulative  # 3.6 → 5.1 is a Δ
    DeltaRule.objects.filter(analyte__code="k", active=True).update(active=False)
    assert "border-warning" not in sections(clinician_client, patient).cumulative


def test_a_specimen_condition_renamed_shows_at_once(clinician_client, patient, record):
    condition = SpecimenCondition.objects.get(code="haemolysed")
    record(patient, {"k": "5.9"}, at=at(1), specimen_condition=condition)
    assert f"Specimen: {condition.name.lower()}" in sections(clinician_client, patient).results
    SpecimenCondition.objects.filter(pk=condition.pk).update(name="Haemolysed (visible)")
    assert "Specimen: haemolysed (visible)" in sections(clinician_client, patient).results


def test_the_correction_links_follow_the_user_and_the_patient(
    clinician_client, client, patient, history, administrator
):
    assert "Correct</a>" in sections(clinician_client, patient).results
    reader = UserFactory()
    reader.user_permissions.add(*Permission.objects.filter(codename__in=["view_patient", "view_result"]))
    client.force_login(reader)
    # The same patient's sections, cached for the clinician, are drawn without the links for the reader.
    assert "Correct</a>" not in sections(client, patient).results
    set_patient_active(patient, active=False, by=administrator, reason="Duplicate record")
    assert "Correct</a>" not in sections(clinician_client, patient).results


def test_each_page_asked_for_is_its_own(clinician_client, patient, record):
    for day in range(1, 15):
        record(patient, {"k": f"4.{day % 10}"}, at=at(day))
    newest, older = sections(clinician_client, patient), sections(clinician_client, patient, "?cumulative=2&page=2")
    assert "14 Mar 2026" in newest.cumulative and "14 Mar 2026" not in older.cumulative
    assert "Collected 14 Mar 2026" in newest.results and "Collected 14 Mar 2026" not in older.results
    response = clinician_client.get(f"/patients/{patient.pk}/?cumulative=9")
    assert response.status_code == 404 and "There is no page 9" in response.content.decode()
