"""The project composes labs and guidance (config/urls.py): results entered, corrected or withdrawn in
the browser open and resolve findings in the same transaction, and the patient page shows them."""

import pytest

from guidance.models import Finding
from labs.models import Result

from .test_labs_views import post_panel, unit_id

pytestmark = pytest.mark.django_db


def test_results_entered_in_the_browser_open_findings_shown_on_the_patient_page(clinician_client, patient):
    response = post_panel(clinician_client, patient, {"k": ("3.1", "mmol/L"), "ca": ("9.2", "mg/dL")})
    assert response.status_code == 302
    potassium = Result.objects.get(analyte__code="k")
    finding = Finding.objects.get()
    assert (finding.result, finding.status) == (potassium, Finding.Status.OPEN)
    page = clinician_client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Findings" in page and f"/guidance/findings/{finding.pk}/" in page
    assert "Summary (print)" in page  # export links beside "Enter results"


def test_correction_in_the_browser_back_into_range_resolves_the_finding(clinician_client, patient):
    post_panel(clinician_client, patient, {"k": ("3.1", "mmol/L")})
    result = Result.objects.get()
    response = clinician_client.post(
        f"/results/{result.pk}/correct/", {"value": "4.1", "unit": unit_id("k", "mmol/L"), "reason": "Typo"}
    )
    assert response.status_code == 302
    finding = Finding.objects.get()
    assert finding.status == Finding.Status.RESOLVED
    assert finding.resolution_note


def test_marking_in_error_in_the_browser_resolves_the_finding(clinician_client, patient):
    post_panel(clinician_client, patient, {"k": ("3.1", "mmol/L")})
    result = Result.objects.get()
    assert (
        clinician_client.post(f"/results/{result.pk}/entered-in-error/", {"reason": "Wrong patient"}).status_code == 302
    )
    assert Finding.objects.get().status == Finding.Status.RESOLVED


def test_refused_panel_opens_no_finding(clinician_client, patient):
    response = post_panel(clinician_client, patient, {"k": ("3.1", "mmol/L"), "ca": ("2.3", "mg/dL")})
    assert response.status_code == 200
    assert not Result.objects.exists() and not Finding.objects.exists()
