"""The home page keeps its worklist sections in the cache as HTML (guidance.selectors.worklist_sections): a
second look costs six queries whatever the data, and every change to what the worklist shows is on it at
the next look, by whichever clinician."""

import datetime
from decimal import Decimal

import pytest
from django.core.cache.backends import db as db_cache
from django.utils import timezone

from guidance import services
from guidance.models import Finding, ReviewSettings, Topic
from labs.models import Analyte
from patients.services import set_patient_active, update_patient

from .conftest import SignedInClient, page_section
from .recording import PHONED, plan_repeat

pytestmark = pytest.mark.django_db


def worklist(client, query=""):
    return page_section(client, f"/{query}", starts_at='aria-labelledby="reports-heading"', ends_at="</main>")


@pytest.mark.parametrize("size", [1, 6])
def test_a_second_look_reads_the_sections_from_the_cache(
    clinician_client, record, patient_factory, clinician, django_assert_num_queries, size
):
    for _ in range(size):
        record(patient_factory(created_by=clinician), {"k": "3.1", "mg": "1.5"})
    first = worklist(clinician_client, "?plans=everyone")
    # 1 session, 2 user, 3 permissions, 4 the newest history ids (what the sections' version is made of),
    # 5 the cache read, 6 the roles for the navigation bar.
    with django_assert_num_queries(6):
        assert worklist(clinician_client, "?plans=everyone") == first
    assert first.count("Review this report") == size


def acknowledge(finding, clinician, record, patient):
    services.acknowledge(finding, comment="Seen", call=PHONED, by=clinician)


def decide_no_action(finding, clinician, record, patient):
    acknowledge(finding, clinician, record, patient)
    services.decide_no_action(finding, reason="Known and stable", by=clinician)


def correct_the_value(finding, clinician, record, patient):
    result = finding.result
    services.correct_result(
        result, value=Decimal("3.3"), unit=result.analyte.units.get(unit="mmol/L"), reason="Re-run", by=clinician
    )


def a_new_report(finding, clinician, record, patient):
    record(patient, {"mg": "1.5"}, at=timezone.now() - datetime.timedelta(days=1))


def rename_the_patient(finding, clinician, record, patient):
    update_patient(patient, by=clinician, family_name="Okonkwo-Renamed")


def deactivate_the_patient(finding, clinician, record, patient):
    set_patient_active(patient, active=False, by=clinician, reason="Moved away")


def rename_the_analyte(finding, clinician, record, patient):
    analyte = Analyte.objects.get(code="k")
    analyte.name = "Serum potassium"
    analyte.save()  # as the admin saves it, with its history


def retitle_the_explanation(finding, clinician, record, patient):
    topic = Topic.objects.get(pk=finding.topic_id)
    topic.title = "Potassium: too low"
    topic.save()


@pytest.mark.parametrize(
    "change, shown",
    [
        (acknowledge, None),  # the report leaves the critical ones' mark
        (decide_no_action, "None."),
        (correct_the_value, "3.3 mmol/L"),
        (a_new_report, "Magnesium"),
        (rename_the_patient, "Okonkwo-Renamed"),
        (deactivate_the_patient, "Patient deactivated: read-only"),
        (rename_the_analyte, "Serum potassium"),
        (retitle_the_explanation, "Potassium: too low"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_change_to_what_the_worklist_shows_is_on_it_at_the_next_look(
    clinician_client, record, patient, clinician, change, shown
):
    record(patient, {"k": "2.4"})  # critical: awaits its acknowledgement
    finding = Finding.objects.get()
    before = worklist(clinician_client)
    assert "Critical result awaiting acknowledgement" in before
    change(finding, clinician, record, patient)
    after = worklist(clinician_client)
    if shown is None:
        assert "⚠ Critical result awaiting acknowledgement" not in after
    else:
        assert shown not in before
        assert shown in after


def test_a_plan_shows_for_its_owner_and_for_everyone_not_in_another_clinicians_own_list(
    clinician_client, low_potassium, clinician, other_clinician
):
    client = SignedInClient()
    client.force_login(other_clinician)
    assert "None of yours." in worklist(clinician_client)
    assert "None of yours." in worklist(client)
    assert "None for anyone." in worklist(client, "?plans=everyone")
    plan_repeat(low_potassium, by=clinician, due=timezone.localdate())
    assert "Due today" in worklist(clinician_client)
    assert "Due today" in worklist(client, "?plans=everyone")
    assert "None of yours." in worklist(client)  # the other clinician's own: still none


def test_a_plan_falls_overdue_the_next_day(clinician_client, low_potassium, clinician, monkeypatch):
    plan_repeat(low_potassium, by=clinician, due=timezone.localdate())
    assert "Due today" in worklist(clinician_client)
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: tomorrow)
    assert "Overdue" in worklist(clinician_client)


def test_a_critical_result_becomes_overdue_on_time_though_nothing_changed(
    clinician_client, record, patient, monkeypatch
):
    settings = ReviewSettings.current()
    settings.critical_call_minutes = minutes = 5  # within the session's idle time, which the clock moves too
    settings.save()
    record(patient, {"k": "2.4"})
    assert "Overdue: waiting since" not in worklist(clinician_client)
    real_now = timezone.now

    def move_the_clock(by):
        # The app's clock and the database cache's (which reads its own import of now()).
        monkeypatch.setattr(timezone, "now", lambda: real_now() + by)
        monkeypatch.setattr(db_cache, "tz_now", lambda: real_now() + by)

    # Still within the time allowed: the cached sections are still right.
    move_the_clock(datetime.timedelta(minutes=minutes - 1))
    assert "Overdue: waiting since" not in worklist(clinician_client)
    # Past it: the cache entry has expired with the time allowed, and the report is overdue.
    move_the_clock(datetime.timedelta(minutes=minutes, seconds=5))
    assert "Overdue: waiting since" in worklist(clinician_client)


def test_a_shorter_time_allowed_shows_at_the_next_look(clinician_client, record, patient):
    record(patient, {"k": "2.4"})
    Finding.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=20))
    assert "Overdue: waiting since" not in worklist(clinician_client)
    settings = ReviewSettings.current()
    settings.critical_call_minutes = 15
    settings.save()  # as the admin saves it, with its history
    assert "Overdue: waiting since" in worklist(clinician_client)
