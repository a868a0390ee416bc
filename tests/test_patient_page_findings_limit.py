"""The patient page lists at most 20 findings (undecided first) with a link to all of them, so a patient
with years of results does not make the page slower with every finding (issue 7)."""

import pytest

from guidance import services
from guidance.models import Finding

pytestmark = pytest.mark.django_db


def test_twenty_findings_undecided_first_then_a_link_to_all(clinician_client, save, patient, clinician):
    for _ in range(19):
        save(patient, {"k": "3.1"})
    for finding in Finding.objects.all():
        services.decide_no_action(finding, reason="Known and stable", by=clinician)
    save(patient, {"mg": "1.5"})
    save(patient, {"mg": "1.6"})
    assert Finding.objects.count() == 21

    response = clinician_client.get(f"/patients/{patient.pk}/")
    shown = response.context["findings"]
    assert len(shown) == 20
    assert [finding.status for finding in shown[:2]] == ["open", "open"]
    assert response.context["more_findings"] is True
    assert b"Show all findings" in response.content

    response = clinician_client.get(f"/patients/{patient.pk}/?findings=all")
    assert len(response.context["findings"]) == 21
    assert response.context["more_findings"] is False
    assert b"Show all findings" not in response.content


def test_no_link_when_every_finding_is_shown(clinician_client, save, patient):
    save(patient, {"k": "3.1", "mg": "1.5"})
    response = clinician_client.get(f"/patients/{patient.pk}/")
    assert len(response.context["findings"]) == 3  # low potassium, low magnesium, and their pattern
    assert response.context["more_findings"] is False
    assert b"Show all findings" not in response.content
