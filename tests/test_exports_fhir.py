import datetime
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError as FHIRValidationError

from guidance import services as guidance_services
from guidance.models import ActionType, Finding
from labs.models import Analyte, AnalyteUnit, Result
from patients import services as patient_services

from .exports_support import BASE, record_series, result_of
from .factories import PatientFactory
from .recording import record

# What real systems send (US Core, the FHIR spec examples), copied from shared/samples/fhir/ with provenance.
SAMPLES = Path(__file__).parent / "data" / "fhir"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def get_bundle(client, patient):
    response = client.get(f"/patients/{patient.pk}/fhir/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    data = json.loads(response.content)
    Bundle.model_validate(data)  # raises if any resource is not valid FHIR
    return data


def resources(bundle, kind):
    return [entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == kind]


def observation_for(bundle, result):
    [observation] = [o for o in resources(bundle, "Observation") if f"urn:uuid:{o['id']}" == urn("result", result.pk)]
    return observation


def load_sample(name):
    return json.loads((SAMPLES / name).read_text())


# Written out here, not read from exports.fhir: resource ids must stay what receiving systems already hold.
ID_NAMESPACE = uuid.UUID("6f1c1d2e-5b7a-4c33-9a55-7d0b3e0c8a41")


def urn(kind, pk):
    """The stable fullUrl of a resource: a name-based UUID (RFC 4122 version 5) of "kind/pk"."""
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, f'{kind}/{pk}')}"


@pytest.fixture
def followed_patient(clinician, other_clinician):
    """Born 1970, female: potassium low (with a plan), magnesium and calcium normal, CK corrected,
    vitamin E entered in error; a done plan from the potassium finding too."""
    patient = PatientFactory(mrn="F-001", given_name="Ama", family_name="Mensah", sex="female", created_by=clinician)
    record(
        patient,
        {
            "k": ("3.1", "mmol/L"),
            "mg": ("0.82", "mmol/L"),
            "ca": ("9.2", "mg/dL"),
            "ck": ("500", "U/L"),
            "vite": ("12", "mg/L"),
        },
        by=clinician,
        at=BASE,
    )
    guidance_services.correct_result(
        result_of(patient, "ck"),
        value=Decimal("150"),
        unit=AnalyteUnit.objects.get(analyte__code="ck", unit="U/L"),
        reason="Transcription error",
        by=clinician,
    )
    guidance_services.mark_entered_in_error(result_of(patient, "vite"), reason="Sample mislabelled", by=clinician)
    finding = Finding.objects.get(result=result_of(patient, "k"), partner_result=None)
    guidance_services.create_plan(
        finding,
        action_type=ActionType.REPEAT_TEST,
        analyte=Analyte.objects.get(code="k"),
        due_date=datetime.date(2026, 3, 15),
        owner=other_clinician,
        details="Repeat potassium with magnesium",
        by=clinician,
    )
    done = guidance_services.create_plan(
        finding,
        action_type=ActionType.MEDICATION_REVIEW,
        due_date=datetime.date(2026, 3, 8),
        owner=clinician,
        details="Review the diuretic",
        by=clinician,
    )
    guidance_services.complete_plan(done, outcome="Diuretic dose halved", version=done.version, by=clinician)
    return patient


def test_bundle_is_valid_fhir_with_the_patient(clinician_client, followed_patient):
    bundle = get_bundle(clinician_client, followed_patient)

    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    [patient] = resources(bundle, "Patient")
    assert patient["identifier"][0]["value"] == "F-001"
    assert patient["identifier"][0]["system"] == "urn:myolab:mrn"
    assert patient["identifier"][0]["type"]["coding"][0]["code"] == "MR"
    assert patient["name"] == [{"use": "official", "family": "Mensah", "given": ["Ama"]}]
    assert patient["birthDate"] == "1970-06-15"
    assert patient["gender"] == "female"
    assert bundle["entry"][0]["fullUrl"] == f"urn:uuid:{patient['id']}"
    assert len(resources(bundle, "Observation")) == 5


def test_observation_has_loinc_ucum_range_and_interpretation(clinician_client, followed_patient):
    bundle = get_bundle(clinician_client, followed_patient)

    observation = observation_for(bundle, result_of(followed_patient, "mg"))
    assert observation["status"] == "final"
    assert observation["category"][0]["coding"][0]["code"] == "laboratory"
    assert observation["code"]["coding"] == [{"system": "http://loinc.org", "code": "19123-9", "display": "Magnesium"}]
    assert observation["subject"]["reference"] == urn("patient", followed_patient.pk)
    assert observation["effectiveDateTime"] == "2026-03-01T10:00:00+00:00"
    # Entered as 0.82 mmol/L: 0.82 × 2.431 = 1.99342, stored to four places.
    assert observation["valueQuantity"] == {
        "value": 1.9934,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert observation["note"] == [{"text": "Entered as 0.82 mmol/L."}]
    [reference_range] = observation["referenceRange"]
    assert reference_range["low"] == {
        "value": 1.7,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert reference_range["high"]["value"] == 2.6
    assert reference_range["text"] == "1.70–2.60 mg/dL"
    assert observation["interpretation"][0]["coding"] == [{"system": INTERPRETATION, "code": "N", "display": "Normal"}]

    potassium = observation_for(bundle, result_of(followed_patient, "k"))
    assert potassium["interpretation"][0]["coding"][0]["code"] == "L"
    assert potassium["valueQuantity"]["value"] == 3.1
    assert "note" not in potassium


def test_corrected_and_entered_in_error_statuses(clinician_client, followed_patient):
    bundle = get_bundle(clinician_client, followed_patient)

    creatine_kinase = observation_for(bundle, result_of(followed_patient, "ck"))
    assert creatine_kinase["status"] == "corrected"
    assert creatine_kinase["valueQuantity"]["value"] == 150
    assert creatine_kinase["interpretation"][0]["coding"][0]["code"] == "N"
    assert creatine_kinase["note"] == [{"text": "Corrected: Transcription error"}]
    vitamin_e = observation_for(bundle, result_of(followed_patient, "vite"))
    assert vitamin_e["status"] == "entered-in-error"
    assert vitamin_e["note"] == [{"text": "Entered in error: Sample mislabelled"}]


@pytest.mark.parametrize(
    ("value", "code", "display"),
    [
        ("2.5", "LL", "Critical low"),
        ("3.0", "L", "Low"),
        ("3.5", "N", "Normal"),
        ("5.2", "N", "Normal"),
        ("5.5", "H", "High"),
        ("6.5", "HH", "Critical high"),
    ],
)
def test_interpretation_codes(clinician_client, clinician, patient, value, code, display):
    record(patient, {"k": (value, "mmol/L")}, by=clinician, at=BASE)

    [observation] = resources(get_bundle(clinician_client, patient), "Observation")

    assert observation["interpretation"][0]["coding"] == [{"system": INTERPRETATION, "code": code, "display": display}]


def test_no_interpretation_or_range_when_no_range_applies(clinician_client, clinician):
    child = PatientFactory(date_of_birth=datetime.date(2015, 1, 1), sex="unknown", created_by=clinician)
    record(child, {"k": ("4.0", "mmol/L")}, by=clinician, at=BASE)

    bundle = get_bundle(clinician_client, child)

    [observation] = resources(bundle, "Observation")
    assert "interpretation" not in observation
    assert "referenceRange" not in observation
    assert resources(bundle, "Patient")[0]["gender"] == "unknown"


def test_follow_up_plans_are_tasks(clinician_client, followed_patient):
    bundle = get_bundle(clinician_client, followed_patient)

    tasks = {task["description"]: task for task in resources(bundle, "Task")}
    assert set(tasks) == {"Repeat potassium with magnesium", "Review the diuretic"}
    repeat = tasks["Repeat potassium with magnesium"]
    assert repeat["status"] == "requested"
    assert repeat["intent"] == "plan"
    assert repeat["code"] == {"text": "Repeat test"}
    assert repeat["for"]["reference"] == urn("patient", followed_patient.pk)
    assert repeat["focus"] == {"reference": urn("result", result_of(followed_patient, "k").pk)}
    assert repeat["restriction"] == {"period": {"end": "2026-03-15"}}
    assert repeat["owner"] == {"display": "Carol Clinician"}
    assert "executionPeriod" not in repeat
    done = tasks["Review the diuretic"]
    assert done["status"] == "completed"
    assert done["note"] == [{"text": "Diuretic dose halved"}]
    assert "end" in done["executionPeriod"]
    # Every reference points at a resource in the bundle.
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert {repeat["focus"]["reference"], repeat["for"]["reference"], done["for"]["reference"]} <= urls


def test_patient_without_results_is_a_bundle_of_the_patient_only(clinician_client, patient):
    bundle = get_bundle(clinician_client, patient)

    assert [entry["resource"]["resourceType"] for entry in bundle["entry"]] == ["Patient"]


def test_resource_ids_are_stable_between_exports(clinician_client, clinician, patient):
    record(patient, {"k": ("4.0", "mmol/L")}, by=clinician, at=BASE)

    first, second = get_bundle(clinician_client, patient), get_bundle(clinician_client, patient)

    assert [entry["fullUrl"] for entry in first["entry"]] == [entry["fullUrl"] for entry in second["entry"]]


def test_the_validator_catches_invalid_fhir(clinician_client, clinician, patient):
    """The validation above means something: a broken resource fails it."""
    record(patient, {"k": ("4.0", "mmol/L")}, by=clinician, at=BASE)
    bundle = json.loads(clinician_client.get(f"/patients/{patient.pk}/fhir/").content)
    bundle["entry"][1]["resource"]["effectiveDateTime"] = "1 March 2026"

    with pytest.raises(FHIRValidationError):
        Bundle.model_validate(bundle)


def test_observation_codes_match_what_real_systems_send(clinician_client, clinician, patient):
    """Compared with US Core's serum potassium and calcium examples and the FHIR spec's glucose example."""
    record(patient, {"k": ("5.4", "mmol/L"), "ca": ("7.7", "mg/dL")}, by=clinician, at=BASE)
    bundle = get_bundle(clinician_client, patient)
    potassium_sample = load_sample("us-core_observation-serum-potassium.json")
    calcium_sample = load_sample("us-core_observation-serum-calcium.json")
    glucose_sample = load_sample("fhir-spec-4.1.0_observation-example-f001-glucose.json")
    potassium = observation_for(bundle, result_of(patient, "k"))
    calcium = observation_for(bundle, result_of(patient, "ca"))

    # Same LOINC codes for the same tests.
    assert potassium["code"]["coding"][0]["system"] == potassium_sample["code"]["coding"][0]["system"]
    assert potassium["code"]["coding"][0]["code"] == potassium_sample["code"]["coding"][0]["code"] == "2823-3"
    assert calcium["code"]["coding"][0]["code"] == calcium_sample["code"]["coding"][0]["code"] == "17861-6"
    # Same category coding.
    category = potassium_sample["category"][0]["coding"][0]
    assert potassium["category"][0]["coding"][0] == category
    # Same UCUM system and unit codes (the calcium sample omits `code`; its `unit` is the UCUM code).
    assert {key: potassium["valueQuantity"][key] for key in ("unit", "system", "code")} == {
        key: potassium_sample["valueQuantity"][key] for key in ("unit", "system", "code")
    }
    assert calcium["valueQuantity"]["system"] == calcium_sample["valueQuantity"]["system"]
    assert calcium["valueQuantity"]["code"] == calcium_sample["valueQuantity"]["unit"] == "mg/dL"
    # Same interpretation system as both samples; 5.4 is high for us (3.5–5.2), 7.7 mg/dL low as in the sample.
    assert (
        potassium["interpretation"][0]["coding"][0]["system"]
        == potassium_sample["interpretation"][0]["coding"][0]["system"]
    )
    assert (
        potassium["interpretation"][0]["coding"][0]["system"]
        == glucose_sample["interpretation"][0]["coding"][0]["system"]
    )
    assert potassium["interpretation"][0]["coding"][0]["code"] == "H"
    assert calcium["interpretation"][0]["coding"][0]["code"] == calcium_sample["interpretation"][0]["coding"][0]["code"]
    # Same reference range shape: UCUM quantities and the "normal" meaning.
    sample_range = potassium_sample["referenceRange"][0]
    ours = potassium["referenceRange"][0]
    assert ours["type"]["coding"] == sample_range["type"]["coding"]
    assert set(ours["low"]) == set(sample_range["low"])
    # The samples themselves parse with the same validator.
    Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": sample} for sample in (potassium_sample, calcium_sample, glucose_sample)],
        }
    )


@pytest.mark.parametrize(
    ("code", "ucum"),
    [
        ("vitd25", "ng/mL"),
        ("mg", "mg/dL"),
        ("ca", "mg/dL"),
        ("k", "mmol/L"),
        ("ck", "U/L"),
        ("carn_free", "umol/L"),
        ("carn_total", "umol/L"),
        ("alb", "g/dL"),
        ("vite", "mg/L"),
    ],
)
def test_catalogue_units_are_ucum_codes(db, code, ucum):
    """FHIR's valueQuantity.code is the canonical unit, so the catalogue must hold UCUM codes."""
    assert Analyte.objects.get(code=code).canonical_unit == ucum


@pytest.mark.parametrize("count", [1, 25])
def test_fhir_query_count_does_not_grow_with_results(client, clinician, patient, count, django_assert_num_queries):
    record_series(patient, clinician, "k", ["3.0"] * count, "mmol/L")
    client.force_login(clinician)

    # session, user, permissions (one query), patient; the access log insert; the analytes; the results' count and
    # newest change; the cache read (a miss); the results; the cache write: count of entries, savepoint,
    # existing key, insert, release; the plans with owner and finding; the export log: savepoint, patient
    # exists, user exists, savepoint, constraint check, release, insert, release.
    with django_assert_num_queries(23):
        response = client.get(f"/patients/{patient.pk}/fhir/")
    assert len(json.loads(response.content)["entry"]) == 1 + count

    # Again, nothing changed: the same without reading the results or writing the cache.
    with django_assert_num_queries(17):
        again = client.get(f"/patients/{patient.pk}/fhir/")
    assert json.loads(again.content)["entry"] == json.loads(response.content)["entry"]


def test_bundle_entries_are_ordered_patient_observations_tasks(clinician_client, followed_patient):
    bundle = get_bundle(clinician_client, followed_patient)

    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds == ["Patient"] + ["Observation"] * 5 + ["Task"] * 2


def test_bundle_is_compact_utf8_json_with_plain_numbers(clinician_client, clinician):
    patient = PatientFactory(mrn="U-1", given_name="Zoë", family_name="Łukasiewicz", created_by=clinician)
    record(patient, {"k": ("3.1", "mmol/L"), "ck": ("12000", "U/L")}, by=clinician, at=BASE)

    content = clinician_client.get(f"/patients/{patient.pk}/fhir/").content

    # As json.dumps(…, ensure_ascii=False, separators=(",", ":")) writes it: names as UTF-8, not \u escapes.
    assert '"family":"Łukasiewicz","given":["Zoë"]'.encode() in content
    assert b'"valueQuantity":{"value":3.1,"unit":"mmol/L"' in content
    assert b'"valueQuantity":{"value":12000,"unit":"U/L"' in content
    assert content.startswith(b'{"resourceType":"Bundle","id":"')


def test_cached_observations_follow_every_change_they_show(clinician_client, clinician, patient):
    """Each export after a change shows it: the Observations kept in the cache are never stale."""
    record(patient, {"k": ("3.1", "mmol/L"), "mg": ("0.82", "mmol/L")}, by=clinician, at=BASE)
    potassium, magnesium = result_of(patient, "k"), result_of(patient, "mg")
    assert observation_for(get_bundle(clinician_client, patient), potassium)["valueQuantity"]["value"] == 3.1

    guidance_services.correct_result(
        potassium,
        value=Decimal("3.9"),
        unit=AnalyteUnit.objects.get(analyte__code="k", unit="mmol/L"),
        reason="Transcription error",
        by=clinician,
    )
    corrected = observation_for(get_bundle(clinician_client, patient), potassium)
    assert (corrected["status"], corrected["valueQuantity"]["value"]) == ("corrected", 3.9)

    guidance_services.mark_entered_in_error(magnesium, reason="Sample mislabelled", by=clinician)
    assert observation_for(get_bundle(clinician_client, patient), magnesium)["status"] == "entered-in-error"

    record(patient, {"ca": ("9.2", "mg/dL")}, by=clinician, at=BASE + datetime.timedelta(days=1))
    calcium = Result.objects.get(patient=patient, analyte__code="ca")
    assert observation_for(get_bundle(clinician_client, patient), calcium)["valueQuantity"]["value"] == 9.2

    Analyte.objects.filter(code="k").update(name="Potassium (serum)")
    assert observation_for(get_bundle(clinician_client, patient), potassium)["code"]["text"] == "Potassium (serum)"

    patient = patient_services.update_patient(patient, by=clinician, given_name="Renamed")
    subject = observation_for(get_bundle(clinician_client, patient), potassium)["subject"]
    assert subject["display"] == f"Renamed {patient.family_name}"


def test_cached_observations_follow_a_result_saved_by_any_writer(clinician_client, clinician, patient):
    """Keyed on Result.updated_at, which Django sets on every save(): no writer can leave the cache stale."""
    record(patient, {"k": ("3.1", "mmol/L")}, by=clinician, at=BASE)
    potassium = result_of(patient, "k")
    assert observation_for(get_bundle(clinician_client, patient), potassium)["valueQuantity"]["value"] == 3.1

    potassium.value = Decimal("3.3000")
    potassium.save()

    assert observation_for(get_bundle(clinician_client, patient), potassium)["valueQuantity"]["value"] == 3.3
