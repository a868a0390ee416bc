"""A deactivated patient is read-only: clinicians view and export the record, with the reason shown, and
nothing new is recorded for them by any page or service; an administrator can reactivate them."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from guidance import services as guidance_services
from guidance.models import ActionType, Finding, FollowUpPlan
from labs.models import Panel, Result
from patients import services as patient_services
from patients.models import Patient

from .form_keys import form_key
from .test_labs_views import panel_post, unit_id

pytestmark = pytest.mark.django_db

REFUSED = "was deactivated on"


@pytest.fixture
def deactivated(record, patient, clinician, administrator):
    """A patient with a low potassium (an open finding) and a planned repeat test, then deactivated."""
    record(patient, {"k": "3.1", "mg": "1.5"})
    finding = Finding.objects.get(result__analyte__code="k", partner_result=None)
    guidance_services.create_plan(
        Finding.objects.get(result__analyte__code="mg", partner_result=None),
        action_type=ActionType.REPEAT_TEST,
        analyte=finding.result.analyte,
        due_date=timezone.localdate() + datetime.timedelta(days=7),
        owner=clinician,
        by=clinician,
    )
    patient_services.set_patient_active(patient, active=False, by=administrator, reason="Duplicate of MRN-9")
    patient.refresh_from_db()
    return patient


def counts():
    return (Panel.objects.count(), Result.objects.count(), Finding.objects.count(), FollowUpPlan.objects.count())


def test_the_reason_who_and_when_are_on_every_page_of_the_patient(clinician_client, deactivated):
    result = Result.objects.filter(patient=deactivated).first()
    finding = Finding.objects.filter(patient=deactivated).first()
    for url in (f"/patients/{deactivated.pk}/", f"/results/{result.pk}/history/", f"/guidance/findings/{finding.pk}/"):
        page = clinician_client.get(url).content.decode()
        assert "Read-only record." in page, url
        assert "was deactivated on" in page and "by Bob Admin: Duplicate of MRN-9" in page, url


def test_view_and_export_still_work(clinician_client, deactivated):
    for suffix in ("", "summary/", "summary.pdf", "results.csv", "fhir/"):
        assert clinician_client.get(f"/patients/{deactivated.pk}/{suffix}").status_code == 200, suffix


def test_the_patient_page_offers_nothing_to_record(clinician_client, deactivated):
    page = clinician_client.get(f"/patients/{deactivated.pk}/").content.decode()
    result = Result.objects.filter(patient=deactivated).first()
    assert f"/patients/{deactivated.pk}/results/new/" not in page
    assert f"/patients/{deactivated.pk}/edit/" not in page
    assert f"/results/{result.pk}/correct/" not in page
    finding_page = clinician_client.get(
        f"/guidance/findings/{Finding.objects.filter(patient=deactivated, status='open').first().pk}/"
    ).content.decode()
    assert "Acknowledge" not in finding_page and "Plan a follow-up" not in finding_page


def write_requests(patient):
    result = Result.objects.filter(patient=patient, analyte__code="k").get()
    finding = Finding.objects.get(result=result, partner_result=None)
    plan = FollowUpPlan.objects.get(patient=patient)
    return [
        ("get", f"/patients/{patient.pk}/results/new/", {}),
        ("post", f"/patients/{patient.pk}/results/new/", panel_post({"k": ("4.0", "mmol/L")})),
        ("get", f"/results/{result.pk}/correct/", {}),
        ("post", f"/results/{result.pk}/correct/", {"value": "4.0", "unit": unit_id("k", "mmol/L"), "reason": "x"}),
        ("post", f"/results/{result.pk}/entered-in-error/", {"reason": "Wrong patient"}),
        ("get", f"/patients/{patient.pk}/edit/", {}),
        ("get", f"/guidance/findings/{finding.pk}/plans/new/", {}),
        ("post", f"/guidance/plans/{plan.pk}/complete/", {"outcome": "done", "version": plan.version}),
        ("post", f"/guidance/plans/{plan.pk}/edit/", {"version": plan.version, "details": "x"}),
    ]


def test_every_page_that_records_refuses_with_the_reason_and_changes_nothing(clinician_client, deactivated):
    before = counts()
    versions = (Result.objects.filter(patient=deactivated).count(), FollowUpPlan.objects.get().version)
    for method, url, data in write_requests(deactivated):
        response = getattr(clinician_client, method)(url, data, follow=True)
        assert response.status_code == 200, url
        assert response.redirect_chain[-1][0] == f"/patients/{deactivated.pk}/", url
        assert REFUSED in response.content.decode(), url
    assert counts() == before
    assert (Result.objects.filter(patient=deactivated).count(), FollowUpPlan.objects.get().version) == versions
    assert Result.objects.get(patient=deactivated, analyte__code="k").status == Result.Status.FINAL


def test_reviews_of_its_findings_are_refused_on_the_finding_page(clinician_client, deactivated):
    finding = Finding.objects.get(patient=deactivated, result__analyte__code="k", partner_result=None)
    for action, data in (("acknowledge", {"comment": "seen"}), ("no-action", {"reason": "known"})):
        response = clinician_client.post(f"/guidance/findings/{finding.pk}/{action}/", data)
        assert response.status_code == 200
        assert REFUSED in response.content.decode()
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN


def test_every_service_refuses_so_imports_and_scripts_are_refused_too(deactivated, clinician, analytes):
    from labs.services import Entry

    result = Result.objects.get(patient=deactivated, analyte__code="k")
    finding = Finding.objects.get(result=result, partner_result=None)
    plan = FollowUpPlan.objects.get()
    k = analytes["k"]
    entry = Entry(analyte=k, value=Decimal("4.0"), unit=k.units.get(unit="mmol/L"))
    calls = [
        lambda: guidance_services.record_results(
            patient=deactivated, collected_at=result.collected_at, entries=[entry], by=clinician
        ),
        lambda: guidance_services.correct_result(
            result, value=Decimal("4.0"), unit=k.units.get(unit="mmol/L"), reason="x", by=clinician
        ),
        lambda: guidance_services.mark_entered_in_error(result, reason="x", by=clinician),
        lambda: guidance_services.acknowledge(finding, comment="x", by=clinician),
        lambda: guidance_services.decide_no_action(finding, reason="x", by=clinician),
        lambda: guidance_services.create_plan(
            finding,
            action_type=ActionType.MEDICATION_REVIEW,
            due_date=timezone.localdate(),
            owner=clinician,
            by=clinician,
        ),
        lambda: guidance_services.update_plan(plan, version=plan.version, by=clinician, details="x"),
        lambda: guidance_services.complete_plan(plan, outcome="x", version=plan.version, by=clinician),
        lambda: guidance_services.cancel_plan(plan, outcome="x", version=plan.version, by=clinician),
        lambda: patient_services.update_patient(deactivated, by=clinician, notes="x"),
    ]
    before = counts()
    for call in calls:
        with pytest.raises(ValidationError, match="Duplicate of MRN-9. The record is read-only"):
            call()
    assert counts() == before


def test_an_administrator_reactivates_and_recording_works_again(admin_client_, clinician, deactivated):
    response = admin_client_.post(
        "/admin/patients/patient/", {"action": "reactivate", "_selected_action": [deactivated.pk]}
    )
    assert response.status_code == 302
    deactivated.refresh_from_db()
    assert deactivated.is_active and deactivated.deactivation_reason == ""
    assert deactivated.history.first().history_change_reason == "reactivated"
    assert deactivated.history.all()[1].deactivation_reason == "Duplicate of MRN-9"  # kept in history
    clinician_client = Client()
    clinician_client.force_login(clinician)
    url = f"/patients/{deactivated.pk}/results/new/"
    saved = clinician_client.post(url, panel_post({"k": ("4.0", "mmol/L")}, form_key=form_key(clinician_client, url)))
    assert saved.status_code == 302


def test_the_admin_shows_a_deactivated_patient_read_only(admin_client_, deactivated):
    page = admin_client_.get(f"/admin/patients/patient/{deactivated.pk}/change/")
    assert page.status_code == 200
    assert 'name="given_name"' not in page.content.decode()  # no editable field
    refused = admin_client_.post(f"/admin/patients/patient/{deactivated.pk}/change/", {"given_name": "X"})
    assert refused.status_code == 403
    assert Patient.objects.get(pk=deactivated.pk).given_name != "X"


def test_deactivating_needs_a_reason(patient, administrator):
    with pytest.raises(ValidationError, match="Give the reason for deactivating"):
        patient_services.set_patient_active(patient, active=False, by=administrator, reason=" ")
    patient.refresh_from_db()
    assert patient.is_active
