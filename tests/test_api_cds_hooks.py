"""The CDS Hooks 2.0 service: discovery and patient-view responses in the spec's JSON shapes, a card
per finding still needing something, the patient named by the prefetch's MRN or by context.patientId,
authorisation refused without a client's token, the access log."""

import re
import uuid

import pytest

from guidance.models import ActionType, Finding
from guidance.services import acknowledge, create_plan, decide_no_action
from patients.models import AccessLogEntry

from .api_helpers import bearer, issue
from .recording import PHONED

pytestmark = pytest.mark.django_db
SERVICE = "/cds-services/myolab-findings"
CARD_KEYS = {"uuid", "summary", "detail", "indicator", "source", "links"}


@pytest.fixture
def ehr(administrator):
    api_client, token = issue(administrator, name="Ward EHR")
    return bearer(token)


def call(client, ehr, *, patient_id="ehr-123", prefetch=None, status=200):
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": patient_id},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    response = client.post(SERVICE, body, content_type="application/json", **ehr)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def prefetched(mrn, system="urn:myolab:mrn"):
    return {"patient": {"resourceType": "Patient", "id": "ehr-123", "identifier": [{"system": system, "value": mrn}]}}


def test_discovery_lists_the_patient_view_service(client, ehr):
    response = client.get("/cds-services", **ehr)
    assert response.status_code == 200
    assert response.json() == {
        "services": [
            {
                "hook": "patient-view",
                "id": "myolab-findings",
                "title": "Myolab: lab findings needing attention",
                "description": response.json()["services"][0]["description"],
                "prefetch": {"patient": "Patient/{{context.patientId}}"},
                "usageRequirements": "Authorization: Bearer <token> of a Myolab API client.",
            }
        ]
    }


def check_card_shape(card):
    """CDS Hooks 2.0, Card: summary (< 140 characters), indicator (info, warning, critical), source
    with a label; links each with label, url and type absolute or smart."""
    assert set(card) <= CARD_KEYS
    assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert isinstance(card["source"]["label"], str) and card["source"]["label"]
    uuid.UUID(card["uuid"])
    for link in card["links"]:
        assert set(link) == {"label", "url", "type"} and link["type"] == "absolute"
        assert link["url"].startswith("http://testserver/")


def test_a_card_per_finding_still_needing_something(client, ehr, patient, record, clinician):
    record(patient, {"k": "6.8"})  # critical high potassium: open, to acknowledge
    record(patient, {"vitd25": "8"})  # severe vitamin D deficiency: awaiting decision
    record(patient, {"mg": "1.5"})  # low magnesium: decided, no action: no card
    record(patient, {"ca": "8.2"})  # low calcium: follow-up planned
    findings = {f.result.analyte.code: f for f in Finding.objects.select_related("result__analyte")}
    decide_no_action(findings["mg"], reason="Known, on supplements", by=clinician)
    create_plan(
        findings["ca"],
        action_type=ActionType.REPEAT_TEST,
        analyte=findings["ca"].result.analyte,
        due_date=findings["ca"].created_at.date(),
        owner=clinician,
        by=clinician,
    )

    cards = call(client, ehr, patient_id=str(patient.pk))["cards"]

    for card in cards:
        check_card_shape(card)
    assert [card["indicator"] for card in cards][0] == "critical"
    assert [card["links"][0]["url"] for card in cards] == [
        f"http://testserver/guidance/findings/{findings[code].pk}/" for code in ("k", "vitd25", "ca")
    ]
    assert cards[0]["summary"].endswith(": critical result to acknowledge")
    assert cards[1]["summary"].endswith(": needs a decision")
    assert cards[2]["summary"].endswith(": follow-up planned")
    assert "**Potassium:** 6.8 mmol/L (critically high), collected " in cards[0]["detail"]
    assert cards[1]["source"]["label"].startswith("Myolab guidance: ")
    assert re.fullmatch(r"http://testserver/guidance/[\w-]+/", cards[1]["source"]["url"])
    assert "**Sources:**" in cards[1]["detail"]
    # Acknowledged, the critical finding still needs a decision: still a card, now saying so.
    acknowledge(
        findings["k"], comment="Called the GP", call=PHONED | {"told_at": findings["k"].created_at}, by=clinician
    )
    again = call(client, ehr, patient_id=str(patient.pk))["cards"]
    assert [card["summary"].rsplit(": ", 1)[1] for card in again] == ["needs a decision"] * 2 + ["follow-up planned"]


def test_the_prefetched_patients_mrn_names_the_patient(client, ehr, patient, patient_factory, record):
    record(patient, {"k": "3.1"})
    other = patient_factory()
    # The prefetch wins over context.patientId, which is the EHR's id, not Myolab's.
    cards = call(client, ehr, patient_id=str(other.pk), prefetch=prefetched(patient.mrn))["cards"]
    assert len(cards) == 1
    assert cards[0]["links"][0]["url"].endswith(f"/guidance/findings/{Finding.objects.get().pk}/")
    # An MRN of another system, or one Myolab does not know: no cards (not a guess by id).
    assert call(client, ehr, patient_id=str(patient.pk), prefetch=prefetched(patient.mrn, "urn:other"))["cards"] == []
    assert call(client, ehr, prefetch=prefetched("NO-SUCH-MRN"))["cards"] == []
    assert call(client, ehr, patient_id="not-a-myolab-id")["cards"] == []


def test_each_call_for_a_known_patient_is_logged(client, administrator, patient, record):
    _, token = issue(administrator, name="Clinic EHR", can_import=False)
    call(client, bearer(token), patient_id=str(patient.pk))
    call(client, bearer(token), patient_id="999999")  # unknown: nothing read, nothing logged
    assert list(AccessLogEntry.objects.values_list("patient", "what", "api_client")) == [
        (patient.pk, "cds-hooks", "Clinic EHR")
    ]


def test_calls_without_a_clients_token_are_refused(client, patient, administrator):
    assert client.post(SERVICE, {}, content_type="application/json").status_code == 401
    assert client.get("/cds-services").status_code == 401
    jwt = "eyJhbGciOiJSUzM4NCJ9.eyJpc3MiOiJlaHIifQ.c2lnbmF0dXJl"
    response = client.post(SERVICE, {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {jwt}")
    assert response.status_code == 401
    assert response.json()["issue"][0]["diagnostics"] == "The bearer token is not one Myolab issued."


BAD_CALLS = [
    ({"hook": "order-select", "hookInstance": "x", "context": {"patientId": "1"}}, "hook"),
    ({"hook": "patient-view", "context": {"patientId": "1"}}, "hookInstance"),
    ({"hook": "patient-view", "hookInstance": "x", "context": {}}, "context.patientId"),
    ({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "1"}, "prefetch": []}, "prefetch"),
]


@pytest.mark.parametrize(("body", "field"), BAD_CALLS)
def test_a_malformed_call_is_a_400_naming_the_field(client, ehr, body, field):
    response = client.post(SERVICE, body, content_type="application/json", **ehr)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == [field]


def test_an_unknown_service_is_404(client, ehr):
    response = client.post("/cds-services/other", {}, content_type="application/json", **ehr)
    assert response.status_code == 404


def test_the_call_costs_the_same_queries_for_one_finding_or_many(
    client, ehr, patient, record, django_assert_num_queries
):
    record(patient, {"k": "3.1"})
    # The client, the rate count, the patient, the access log row, the findings, their topics.
    with django_assert_num_queries(6):
        assert len(call(client, ehr, patient_id=str(patient.pk))["cards"]) == 1
    for values in ({"vitd25": "8"}, {"ca": "8.2"}, {"ck": "2000"}):
        record(patient, values)
    with django_assert_num_queries(6):
        assert len(call(client, ehr, patient_id=str(patient.pk))["cards"]) == 4
