"""benchmarks/run.py plans the API's pages (an Observation search of the long history and a CDS Hooks
patient-view call), asked with its own API client's bearer token, and each answers 200."""

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from api.models import ApiClient
from benchmarks import run
from patients.models import Patient

pytestmark = pytest.mark.django_db


def test_the_bench_plans_the_api_pages_with_its_own_client(roles):
    call_command(
        "generate_data",
        "--patients",
        "2",
        "--results-per-patient",
        "4",
        "--seed",
        "1",
        "--long-history",
        "150",
        "--end-date",
        "2026-06-30",
        "--force",
        stdout=io.StringIO(),
    )
    _, save_patient = run.prepare_accounts()
    token = run.prepare_api_client()
    pages, missing = run.plan_pages(save_patient, api_token=token)

    # Two tiny patients leave no report awaiting review, so only that page has nothing to measure.
    assert missing == ["report review page"]
    api = {page["name"]: page for page in pages if page["kind"] == "api"}
    long_patient = Patient.objects.get(mrn=f"S{run.SEED}-LONG").pk
    search = api["API Observation search, _count=100"]
    assert search["path"] == f"/fhir/Observation?patient={long_patient}&_count=100"
    assert search["header"] == f"Authorization: Bearer {token}"
    cds = api["CDS Hooks patient-view (POST)"]
    assert (cds["path"], cds["method"], cds["content_type"]) == (
        "/cds-services/myolab-findings",
        "POST",
        "application/json",
    )
    assert json.loads(cds["body"])["context"]["patientId"] == str(long_patient)

    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    page = client.get(search["path"], **headers)
    assert page.status_code == 200 and len(page.json()["entry"]) == 100
    assert client.post(cds["path"], cds["body"], content_type="application/json", **headers).status_code == 200
    # A second run revokes the first run's client and issues its own.
    second = run.prepare_api_client()
    assert ApiClient.objects.active().count() == 1
    assert client.get(search["path"], HTTP_AUTHORIZATION=f"Bearer {second}").status_code == 200
