"""POST /fhir/Bundle: laboratory Observations imported through the HL7 path (interfaces.services):
the US Core samples import and read back equal in meaning; a resend is imported once; a patient who
cannot be matched is held in the queue; corrections and withdrawals; refusals name the entry."""

import copy
import datetime
import json
from pathlib import Path

import pytest
from django.utils import timezone

from guidance.models import Finding
from interfaces.models import ImportedResult, InboundMessage
from labs.models import Result

from .api_helpers import bearer, issue, validate

pytestmark = pytest.mark.django_db
SAMPLES = Path("/work/shared/samples/fhir")
SAMPLE_SYSTEM = "http://example.org/patient/identifiers"


def sample(name):
    return json.loads((SAMPLES / name).read_text())


def bundle(*observations, identifier="bundle-1", patient=True, kind="transaction"):
    entries = []
    if patient:
        entries.append(
            {
                "fullUrl": "urn:uuid:4f6a30fc-0f3e-4b8b-a2f4-000000000001",
                "resource": sample("us-core_patient-example.json"),
            }
        )
    entries += [{"resource": observation} for observation in observations]
    return {"resourceType": "Bundle", "type": kind, "identifier": {"value": identifier}, "entry": entries}


@pytest.fixture
def amy(patient_factory, settings):
    """The samples' Patient/example (Amy Baxter, née Shaw) as registered in Myolab, with her MRN in the
    sender's identifier system."""
    settings.FHIR_MRN_SYSTEMS = ["urn:myolab:mrn", SAMPLE_SYSTEM]
    return patient_factory(
        mrn="1032702", given_name="Amy", family_name="Baxter", date_of_birth=datetime.date(1987, 2, 20), sex="female"
    )


@pytest.fixture
def lab(administrator):
    api_client, token = issue(administrator, name="City Lab", can_import=True)
    return api_client, bearer(token)


def post(client, lab, body, status):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post("/fhir/Bundle", raw, content_type="application/fhir+json", **lab[1])
    assert response.status_code == status, response.content
    validate(response.json())
    return response.json()


def test_the_us_core_samples_import_and_read_back_equal_in_meaning(client, lab, amy):
    calcium, potassium = (
        sample("us-core_observation-serum-calcium.json"),
        sample("us-core_observation-serum-potassium.json"),
    )
    answer = post(client, lab, bundle(calcium, potassium), 200)

    assert answer["type"] == "transaction-response"
    patient_entry, calcium_entry, potassium_entry = answer["entry"]
    assert patient_entry["response"] == {"status": "200 OK"}
    assert calcium_entry["response"]["status"] == "201 Created"
    assert potassium_entry["response"]["status"] == "201 Created"
    # The laboratory called 5.4 normal against its own 3.5–5.5, which wins over Myolab's 3.5–5.2: they agree.
    assert "outcome" not in potassium_entry["response"]

    read = client.get(f"/fhir/Observation?patient={amy.pk}&_sort=date", **lab[1]).json()
    validate(read)
    by_code = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in read["entry"]}
    assert sorted(by_code) == ["17861-6", "2823-3"]
    assert calcium_entry["response"]["location"] == f"Observation/{by_code['17861-6']['id']}"
    for sent, back in ((calcium, by_code["17861-6"]), (potassium, by_code["2823-3"])):
        assert back["status"] == sent["status"] == "final"
        assert back["category"][0]["coding"][0]["code"] == "laboratory"
        assert back["code"]["coding"][0]["system"] == sent["code"]["coding"][0]["system"] == "http://loinc.org"
        assert back["valueQuantity"]["value"] == sent["valueQuantity"]["value"]
        assert back["valueQuantity"]["unit"] == sent["valueQuantity"]["unit"]
        # A date without a time is that day's midnight in the clinic's time zone (BST in July).
        assert back["effectiveDateTime"] == "2005-07-05T00:00:00+01:00"
        assert back["subject"]["reference"] == f"Patient/{amy.pk}"
    assert by_code["17861-6"]["valueQuantity"] == {
        "value": 7.7,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert by_code["17861-6"]["interpretation"][0]["coding"][0]["code"] == "L"  # as the laboratory said
    assert by_code["2823-3"]["interpretation"][0]["coding"][0]["code"] == "N"  # against the lab's range
    # The range applied is the laboratory's, saying so with Myolab's default beside it for comparison.
    (applied,) = by_code["2823-3"]["referenceRange"]
    assert (applied["low"]["value"], applied["high"]["value"]) == (3.5, 5.5)
    assert applied["text"] == "3.5–5.5 mmol/L (range from City Lab (OBX-7 '3.5-5.5'), Myolab default 3.5–5.2 mmol/L)"
    # The HL7 path's records: the message, its results with the laboratory's own view, the findings.
    message = InboundMessage.objects.get()
    assert (message.channel, message.status, message.sending_facility, message.control_id) == (
        "fhir",
        "imported",
        "City Lab",
        "bundle-1",
    )
    assert message.received_by == lab[0].user
    assert sorted(ImportedResult.objects.values_list("lab_flag", "lab_range")) == [("L", "8.5-10.5"), ("N", "3.5-5.5")]
    # Only the calcium is abnormal (7.7 mg/dL against the laboratory's 8.5–10.5): the potassium is normal.
    assert sorted(Finding.objects.values_list("result__analyte__code", flat=True)) == ["ca"]
    assert set(Result.objects.values_list("panel__lab_name", "updated_by")) == {("City Lab", lab[0].user_id)}


def test_a_resend_is_imported_once_and_answered_the_same(client, lab, amy):
    body = bundle(sample("us-core_observation-serum-potassium.json"))
    first = post(client, lab, body, 200)
    again = post(client, lab, body, 200)
    assert again == first
    assert Result.objects.count() == 1 and InboundMessage.objects.count() == 1
    changed = copy.deepcopy(body)
    changed["entry"][1]["resource"]["valueQuantity"]["value"] = 5.0
    refused = post(client, lab, changed, 400)
    assert refused["issue"][0]["diagnostics"].startswith(
        "Bundle.identifier 'bundle-1' was already used by City Lab for a different message"
    )
    assert Result.objects.count() == 1


def test_a_patient_myolab_does_not_know_is_held_for_review(client, lab, settings):
    settings.FHIR_MRN_SYSTEMS = [SAMPLE_SYSTEM]
    answer = post(client, lab, bundle(sample("us-core_observation-serum-potassium.json")), 202)
    message = InboundMessage.objects.get()
    assert message.status == "held"
    assert [i["diagnostics"] for i in answer["issue"]] == [
        f"Held for review in Myolab's queue (message {message.pk}): nothing was imported yet.",
        "No patient has the MRN 1032702 (Patient.identifier): match it to a patient or register one.",
    ]
    assert not Result.objects.exists()


def test_a_bundle_without_the_patient_resource_is_held_to_be_matched(client, lab, amy):
    potassium = sample("us-core_observation-serum-potassium.json")
    potassium["subject"] = {"identifier": {"system": SAMPLE_SYSTEM, "value": "1032702"}}
    answer = post(client, lab, bundle(potassium, patient=False), 202)
    assert (
        (answer["issue"][1]["diagnostics"])
        == "Patient.birthDate '' is not a date. The birth date must agree with patient 1032702's."
    )


def observation(value, *, status="final", accession="ACC-7", at="2026-03-01T09:30:00+00:00", unit="mmol/L"):
    found = sample("us-core_observation-serum-potassium.json")
    found.update(status=status, effectiveDateTime=at)
    found["valueQuantity"]["value"] = value
    found["valueQuantity"]["code"] = found["valueQuantity"]["unit"] = unit
    found["identifier"] = [
        {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
            "value": accession,
        }
    ]
    return found


def test_a_correction_and_a_withdrawal_follow_the_accession_number(client, lab, amy):
    post(client, lab, bundle(observation(3.1), identifier="b-1"), 200)
    result = Result.objects.get()
    assert (str(result.value), result.panel.accession_number, result.collected_at) == (
        "3.1000",
        "ACC-7",
        datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC),
    )
    corrected = post(client, lab, bundle(observation(4.2, status="corrected"), identifier="b-2"), 200)
    assert corrected["entry"][1]["response"]["status"] == "200 OK"
    assert (
        corrected["entry"][1]["response"]["outcome"]["issue"][0]["diagnostics"]
        == "Corrected the result recorded before."
    )
    result.refresh_from_db()
    assert (str(result.value), result.status) == ("4.2000", "corrected")
    withdrawn = post(client, lab, bundle(observation(4.2, status="entered-in-error"), identifier="b-3"), 200)
    assert withdrawn["entry"][1]["response"]["outcome"]["issue"][0]["diagnostics"] == (
        "Marked the result recorded before as entered in error."
    )
    result.refresh_from_db()
    assert result.status == "entered-in-error"
    read = client.get(f"/fhir/Observation/{result.pk}", **lab[1]).json()
    assert read["status"] == "entered-in-error"
    assert Result.objects.count() == 1


def test_an_observation_already_recorded_is_reported_per_entry(client, lab, amy):
    post(client, lab, bundle(observation(3.1), identifier="b-1"), 200)
    again = post(client, lab, bundle(observation(3.1), identifier="b-2"), 200)
    assert again["entry"][1]["response"] == {
        "status": "200 OK",
        "outcome": {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": "entry 2, Potassium, Blood (2823-3): already recorded with this value; nothing changes.",
                }
            ],
        },
    }
    assert InboundMessage.objects.get(control_id="b-2").status == "skipped"


def test_an_implausible_value_is_a_422_and_nothing_is_imported(client, lab, amy):
    answer = post(client, lab, bundle(observation(54)), 422)
    assert answer["issue"][0]["code"] == "processing"
    assert answer["issue"][0]["diagnostics"].startswith("entry 2, Potassium, Blood (2823-3): ")
    assert not Result.objects.exists()
    assert InboundMessage.objects.get().status == "error"


def test_a_unit_myolab_does_not_accept_is_held(client, lab, amy):
    answer = post(client, lab, bundle(observation(4.0, unit="mg/L")), 202)
    assert "unit 'mg/L' is not an accepted unit of Potassium" in answer["issue"][1]["diagnostics"]


REFUSALS = [
    (b"{not json", "Not JSON: Expecting property name enclosed in double quotes at line 1, column 2."),
    ({"resourceType": "Patient"}, "resourceType 'Patient' is not taken here: send a Bundle."),
    ({"resourceType": "Bundle", "type": "searchset", "id": "x"}, "Bundle.type 'searchset' is not taken"),
    ({"resourceType": "Bundle", "type": "collection"}, "Bundle.identifier.value (or Bundle.id) is empty"),
    ({"resourceType": "Bundle", "type": "collection", "id": "x", "entry": []}, "Bundle.entry is empty"),
]


@pytest.mark.parametrize(("body", "text"), REFUSALS)
def test_a_bundle_that_cannot_be_read_is_a_400(client, lab, body, text):
    answer = post(client, lab, body, 400)
    assert answer["issue"][0]["diagnostics"].startswith(text)
    assert not Result.objects.exists()


ENTRY_REFUSALS = [
    (
        "effectiveDateTime",
        "2026-03-01T09:30",
        "entry 2: Observation.effectiveDateTime '2026-03-01T09:30' is not a FHIR dateTime",
    ),
    ("status", "draft", "entry 2: Observation.status 'draft' is not one FHIR defines"),
    (
        "valueQuantity",
        {"value": "4.1", "unit": "mmol/L"},
        "entry 2: Observation.valueQuantity.value '4.1' is not a number.",
    ),
    (
        "valueQuantity",
        {"value": 4.1, "comparator": "~"},
        "entry 2: valueQuantity.comparator '~' is not one FHIR defines",
    ),
    ("code", {"text": "Potassium"}, "entry 2: Observation.code has no coding"),
]


@pytest.mark.parametrize(("element", "value", "text"), ENTRY_REFUSALS)
def test_an_unreadable_observation_is_refused_naming_its_entry(client, lab, amy, element, value, text):
    sent = observation(4.1)
    sent[element] = value
    answer = post(client, lab, bundle(sent), 400)
    assert answer["issue"][0]["diagnostics"].startswith(text)


def test_the_import_answers_415_to_another_content_type(client, lab):
    response = client.post("/fhir/Bundle", "x", content_type="text/plain", **lab[1])
    assert response.status_code == 415


def test_the_message_log_shows_the_bundle(client, lab, amy, clinician_client):
    post(client, lab, bundle(observation(4.1)), 200)
    message = InboundMessage.objects.get()
    page = clinician_client.get(f"/lab-messages/{message.pk}/").content.decode()
    assert "City Lab" in page and "FHIR API" in page
    assert "Answered over HTTP by the FHIR API" in page


def test_a_collection_bundle_imports_too(client, lab, amy):
    post(client, lab, bundle(observation(4.1), kind="collection"), 200)
    assert Result.objects.get().collected_at == timezone.make_aware(datetime.datetime(2026, 3, 1, 9, 30))


def test_a_bundle_is_read_as_fhir_only_from_the_api(amy):
    """The same JSON sent to the MLLP listener is not a Bundle there: refused as not HL7 (AR)."""
    from interfaces.services import receive

    receipt = receive(json.dumps(bundle(observation(4.1))), channel=InboundMessage.Channel.MLLP)
    assert (receipt.message.status, receipt.message.ack_code) == ("rejected", "AR")
    assert receipt.message.errors == ["Not an HL7 v2 message: it must start with an MSH segment."]
    assert not Result.objects.exists()


def test_a_bundle_over_the_size_limit_is_a_413(client, lab, amy, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024
    big = bundle(*[observation(4.1, at=f"2026-03-01T09:{n % 60:02d}:00+00:00") for n in range(400)])
    answer = post(client, lab, big, 413)
    assert answer["issue"][0]["diagnostics"] == "The Bundle is larger than 0.5 MB: send fewer results a Bundle."
    assert not InboundMessage.objects.exists()


def test_a_censored_value_imports_with_its_comparator_and_reads_back_so(client, lab, amy):
    sent = observation(2.5)
    sent["valueQuantity"]["comparator"] = "<"
    post(client, lab, bundle(sent), 200)

    result = Result.objects.get()
    # Every value below 2.5 mmol/L is critically low potassium (Myolab's critical limit is 2.5).
    assert (result.comparator, result.entered_text, result.flag) == ("<", "<2.5", "LL")
    read = client.get(f"/fhir/Observation/{result.pk}", **lab[1]).json()
    assert (read["valueQuantity"]["comparator"], read["valueQuantity"]["value"]) == ("<", 2.5)
