"""A patient's results and follow-up plans as a FHIR R4 Bundle (type "collection"), as plain dicts.

Resources: one Patient; one Observation per result (entered-in-error ones included with that status,
so a receiving system can withdraw what it imported before); one Task per follow-up plan. Codes follow
what real systems send (see shared/samples/fhir/): LOINC for the test, UCUM for units, and the
v3-ObservationInterpretation codes N, L, H, LL, HH for the flag. The tests validate the bundle with the
fhir.resources package.

Resource ids are UUIDs derived from Myolab's row ids, so exporting twice gives the same ids and a
receiving system can recognise a result it has seen.

The Observations are the bulk of a bundle (a thousand results took 45 ms to build), so they are kept in
Django's cache as JSON under a key made of everything they show (see observation_entries): a changed
result, analyte or patient name makes a new key, never a stale export. The bundle is therefore dicts
holding orjson.Fragment entries, written with orjson.dumps.
"""

import hashlib
import uuid
from decimal import Decimal

import orjson
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import get_language

from core.text import display_name
from labs.interpretation import Flag
from labs.models import Analyte, Result

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
REFERENCE_RANGE_MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
# Namespace for Myolab's resource ids (uuid5 of "patient/12", "result/34", "plan/5").
ID_NAMESPACE = uuid.UUID("6f1c1d2e-5b7a-4c33-9a55-7d0b3e0c8a41")

OBSERVATION_STATUS = {
    Result.Status.FINAL: "final",
    Result.Status.CORRECTED: "corrected",
    Result.Status.ENTERED_IN_ERROR: "entered-in-error",
    Result.Status.PRELIMINARY: "preliminary",
}
# Myolab's flags are the v3-ObservationInterpretation codes; "no range" has no interpretation.
INTERPRETATION_DISPLAY = {
    Flag.NORMAL: "Normal",
    Flag.LOW: "Low",
    Flag.HIGH: "High",
    Flag.CRITICAL_LOW: "Critical low",
    Flag.CRITICAL_HIGH: "Critical high",
    Flag.INDETERMINATE: "Indeterminate",  # a censored value spanning a limit ("<25" against 20)
}
TASK_STATUS = {"planned": "requested", "done": "completed", "cancelled": "cancelled"}
# Bump when observation_resource's output changes, so cached Observations of the old shape are not sent.
OBSERVATIONS_VERSION = 3
OBSERVATIONS_CACHE_SECONDS = 7 * 24 * 3600


def resource_id(kind: str, pk: int) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"{kind}/{pk}"))


def full_url(kind: str, pk: int) -> str:
    return f"urn:uuid:{resource_id(kind, pk)}"


class BundleIds:
    """How resources are named in the export bundle: UUIDs derived from the row ids, referenced as urn:uuid."""

    name = "bundle"

    @staticmethod
    def id(kind: str, pk: int) -> str:
        return resource_id(kind, pk)

    @staticmethod
    def reference(kind: str, pk: int) -> str:
        return full_url(kind, pk)


class RestIds:
    """How the FHIR API (the api app) names them: the row id, referenced as Patient/12, Observation/34."""

    name = "rest"
    TYPES = {"patient": "Patient", "result": "Observation", "plan": "Task"}

    @staticmethod
    def id(kind: str, pk: int) -> str:
        return str(pk)

    @classmethod
    def reference(cls, kind: str, pk: int) -> str:
        return f"{cls.TYPES[kind]}/{pk}"


def number(value: Decimal):
    """A JSON number for a stored Decimal. JSON has no decimal type; values have at most 14 significant
    digits, which a float prints back exactly (5.4 stays 5.4)."""
    normal = value.normalize()
    return int(normal) if normal == normal.to_integral_value() else float(normal)


def instant(moment, zone=None) -> str:
    """`moment` in local time (`zone`, default the current time zone) to the second.

    A bundle passes the zone it looked up once: looking it up per call (as timezone.localtime does) took
    a third of a 1,000-result export's time."""
    return moment.astimezone(zone or timezone.get_current_timezone()).isoformat(timespec="seconds")


def quantity(value: Decimal, unit: str) -> dict:
    # Canonical units in the catalogue are UCUM codes (mg/dL, mmol/L, umol/L, U/L, ng/mL, g/dL, mg/L).
    return {"value": number(value), "unit": unit, "system": UCUM, "code": unit}


def patient_resource(patient, *, ids=BundleIds) -> dict:
    return {
        "resourceType": "Patient",
        "id": ids.id("patient", patient.pk),
        "identifier": [
            {
                "use": "usual",
                "type": {"coding": [{"system": IDENTIFIER_TYPE, "code": "MR", "display": "Medical record number"}]},
                "system": settings.FHIR_MRN_SYSTEM,
                "value": patient.mrn,
            }
        ],
        "active": patient.is_active,
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        # Myolab's sex choices are FHIR's administrative gender codes: female, male, other, unknown.
        "gender": patient.sex,
        "birthDate": patient.date_of_birth.isoformat(),
    }


def observation_resource(result: Result, patient, *, zone=None, subject=None, ids=BundleIds) -> dict:
    """`zone` and `subject` (the reference to the patient) may be passed in when the caller has them;
    `ids`: BundleIds (the export's UUIDs) or RestIds (the API's row ids)."""
    analyte = result.analyte
    code = {"text": analyte.name}
    if analyte.loinc:
        code["coding"] = [{"system": LOINC, "code": analyte.loinc, "display": analyte.name}]
    observation = {
        "resourceType": "Observation",
        "id": ids.id("result", result.pk),
        "status": OBSERVATION_STATUS[result.status],
        "category": [
            {
                "coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory", "display": "Laboratory"}],
                "text": "Laboratory",
            }
        ],
        "code": code,
        "subject": subject or subject_reference(patient, ids=ids),
        "effectiveDateTime": instant(result.collected_at, zone),
        "issued": instant(result.updated_at, zone),
        "valueQuantity": quantity(result.value, analyte.canonical_unit),
    }
    if result.comparator:
        # Censored (">1000"): FHIR's comparator codes are Myolab's ("<", "<=", ">=", ">").
        observation["valueQuantity"] = {"comparator": result.comparator, **observation["valueQuantity"]}
    if result.flag in INTERPRETATION_DISPLAY:
        display = INTERPRETATION_DISPLAY[result.flag]
        observation["interpretation"] = [
            {"coding": [{"system": INTERPRETATION, "code": result.flag, "display": display}], "text": display}
        ]
    if result.range_low is not None or result.range_high is not None:
        reference_range = {
            "type": {
                "coding": [{"system": REFERENCE_RANGE_MEANING, "code": "normal", "display": "Normal Range"}],
                "text": "Normal Range",
            },
            "text": result.range_text,
        }
        if result.range_low is not None:
            reference_range["low"] = quantity(result.range_low, analyte.canonical_unit)
        if result.range_high is not None:
            reference_range["high"] = quantity(result.range_high, analyte.canonical_unit)
        observation["referenceRange"] = [reference_range]
    notes = []
    if result.unit_entered != analyte.canonical_unit:
        notes.append(f"Entered as {result.entered_text} {result.unit_entered}.")
    if result.status_reason:
        notes.append(f"{result.get_status_display()}: {result.status_reason}")
    panel = result.panel
    if panel.specimen_condition_id:
        notes.append(f"Specimen condition: {panel.specimen_condition.code}.")
    if panel.comment:
        notes.append(f"Panel comment: {panel.comment}")
    if result.comment:
        notes.append(f"Comment: {result.comment}")
    if notes:
        observation["note"] = [{"text": text} for text in notes]
    return observation


def subject_reference(patient, *, ids=BundleIds) -> dict:
    return {"reference": ids.reference("patient", patient.pk), "display": patient.full_name}


def task_resource(plan, patient, *, ids=BundleIds) -> dict:
    """A follow-up plan as a FHIR Task: what is to be done for the patient, by whom, by when."""
    task = {
        "resourceType": "Task",
        "id": ids.id("plan", plan.pk),
        "status": TASK_STATUS[plan.status],
        "intent": "plan",
        "code": {"text": plan.get_action_type_display()},
        "description": plan.details or plan.get_action_type_display(),
        "focus": {"reference": ids.reference("result", plan.finding.result_id)},
        "for": subject_reference(patient, ids=ids),
        "authoredOn": instant(plan.created_at),
        "lastModified": instant(plan.updated_at),
        "owner": {"display": display_name(plan.owner)},
        # The due date: the Task should be done by the end of that day.
        "restriction": {"period": {"end": plan.due_date.isoformat()}},
    }
    if plan.outcome_note:
        task["note"] = [{"text": plan.outcome_note}]
    if plan.closed_at:
        task["executionPeriod"] = {"end": instant(plan.closed_at)}
    return task


def results_for_bundle(patient, analytes) -> list[Result]:
    """The patient's results, oldest first, each with its analyte from `analytes` (the catalogue by id):
    the analytes are few, so they are shared, not joined and built again for each of a thousand results."""
    results = list(
        Result.objects.filter(patient=patient)
        .select_related("panel__specimen_condition")
        .order_by("collected_at", "id")
    )
    for result in results:
        result.analyte = analytes[result.analyte_id]
    return results


def observation_entries(patient) -> list[orjson.Fragment]:
    """The patient's results as the bundle's Observation entries, oldest first, each already JSON.

    They come from the cache under a key made of everything they show: the results' count, newest id
    and newest change (adding, correcting or withdrawing a result changes it, as for the trend charts;
    a panel's comment and specimen condition are set when it is entered and never change, and the note
    names the condition by its code),
    each analyte's name, LOINC code, unit and precision, the patient's name, the time zone, the language
    (of the status words in notes) and OBSERVATIONS_VERSION.

    Queries: the analytes, the results' count and newest change, the cache read; on a cache miss, the
    results and the cache write.
    """
    analytes = Analyte.objects.in_bulk()
    results = Result.objects.filter(patient=patient)
    version = results.aggregate(count=Count("id"), last_id=Max("id"), last_change=Max("updated_at"))
    zone = timezone.get_current_timezone()
    catalogue = sorted((a.pk, a.name, a.loinc, a.canonical_unit, a.display_decimal_places) for a in analytes.values())
    language = get_language()
    inputs = (
        OBSERVATIONS_VERSION,
        patient.pk,
        patient.full_name,
        str(zone),
        language,
        catalogue,
        sorted(version.items()),
    )
    key = f"fhir:observations:{patient.pk}:{hashlib.sha256(repr(inputs).encode()).hexdigest()}"
    entries = cache.get(key)
    if entries is None:
        subject = subject_reference(patient)
        entries = []
        for result in results_for_bundle(patient, analytes):
            observation = observation_resource(result, patient, zone=zone, subject=subject)
            entries.append(orjson.dumps({"fullUrl": f"urn:uuid:{observation['id']}", "resource": observation}))
        cache.set(key, entries, timeout=OBSERVATIONS_CACHE_SECONDS)
    return [orjson.Fragment(entry) for entry in entries]


def patient_bundle(patient, observations, plans) -> dict:
    """The Bundle for `patient` with its `observations` (from observation_entries) and `plans` (owner
    and finding loaded)."""
    entries = [{"fullUrl": full_url("patient", patient.pk), "resource": patient_resource(patient)}]
    entries += observations
    entries += [{"fullUrl": full_url("plan", plan.pk), "resource": task_resource(plan, patient)} for plan in plans]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(timezone.now())},
        "type": "collection",
        "timestamp": instant(timezone.now()),
        "entry": entries,
    }
