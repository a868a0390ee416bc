"""The FHIR R4 API: read-only resources and searches under /fhir/, and the import of a Bundle.

Resources are built by exports.fhir (the export's builders, with RestIds: the row id as the resource
id, references as Patient/12), so the API and the export never disagree about what a result says.
Every read names the patient it reads in the access log, with the API client's name.

Queries of an Observation search page (constant in the patient's number of results and in the page's
depth, tests/test_api_fhir.py): the client, the rate count (one UPDATE), the patient, the catalogue,
the page of results, the laboratory's ranges of the imported ones, the access log row.
"""

import datetime
import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Q
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from exports.fhir import RestIds, instant, observation_resource, patient_resource, subject_reference, task_resource
from guidance.models import FollowUpPlan
from interfaces import services as interfaces_services
from interfaces.fhir_bundle import is_fhir, read_bundle
from interfaces.mapping import ALTERNATIVE_LOINC, Problem, read_time
from interfaces.models import ImportedResult, InboundMessage
from labs.models import Analyte, Result
from patients.models import AccessLogEntry, Patient
from patients.services import log_access, log_access_many

from . import search
from .auth import ApiError, api_view, issue, json_response, outcome
from .search import bad, check_parameters

LABORATORY = "laboratory"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
LOINC = "http://loinc.org"
FORMATS = ("json", "application/json", "application/fhir+json")
What = AccessLogEntry.What
# A laboratory's range that Myolab could read is the one applied: the Observation's referenceRange says
# so ("range from LABX (OBX-7 '3.5-5.5'), Myolab default 3.5–5.2 mmol/L"). One it could not read ("see
# report") is added after Myolab's, which the interpretation was made against; this is said of it.
LAB_RANGE_ORIGIN = (
    "the sending laboratory's own range, as sent, in a form Myolab does not read; the interpretation is "
    "against Myolab's range before"
)


def _base(request) -> str:
    return request.build_absolute_uri(reverse("api:metadata")).removesuffix("metadata")


def _check(query, allowed: dict[str, bool]) -> None:
    """search.check_parameters with _format, which every interaction takes (JSON only)."""
    check_parameters(query, {**allowed, "_format": False})
    if "_format" in query and query["_format"] not in FORMATS:
        raise bad("_format", f"'{query['_format']}' is not served (Myolab serves JSON: {', '.join(FORMATS)}).")


def _log(request, client, patient, what=What.FHIR_API):
    log_access(request, patient, what, api_client=client.name)


def _searchset(request, resources, *, next_query=None, path: str) -> dict:
    base = _base(request)
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": instant(timezone.now()),
        "link": [{"relation": "self", "url": request.build_absolute_uri()}],
        "entry": [
            {"fullUrl": f"{base}{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": mode}}
            for r, mode in resources
        ],
    }
    if next_query is not None:
        bundle["link"].append(
            {"relation": "next", "url": request.build_absolute_uri(f"{path}?{urlencode(next_query)}")}
        )
    return bundle


# --- metadata --------------------------------------------------------------------------------------

SEARCH_PARAMETERS = {
    "Patient": [
        ("identifier", "token", "system|MRN (the system one of FHIR_MRN_SYSTEMS), or the MRN alone"),
        ("family", "string", "family name, starting with (case-insensitive)"),
        ("birthdate", "date", "birth date, with eq, ge, gt, le or lt"),
        ("_count", "number", f"page size, 1 to {settings.API_MAX_COUNT}"),
    ],
    "Observation": [
        ("patient", "reference", "required: Patient/<id> or <id>"),
        ("category", "token", "laboratory (every Observation Myolab holds)"),
        ("code", "token", "LOINC codes, separated by commas"),
        ("date", "date", "collection time; repeat for a range (date=ge…&date=lt…)"),
        ("_sort", "special", "date or -date (the default)"),
        ("_count", "number", f"page size, 1 to {settings.API_MAX_COUNT}"),
    ],
    "Task": [("patient", "reference", "required: Patient/<id> or <id>")],
}


@api_view()
def metadata(request, client):
    """The CapabilityStatement: exactly what is served."""
    _check(request.GET, {})
    resources = []
    for kind, parameters in SEARCH_PARAMETERS.items():
        resource = {
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": name, "type": kind_, "documentation": text} for name, kind_, text in parameters],
        }
        if kind == "Patient":
            resource["operation"] = [
                {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
            ]
        if kind == "Observation":
            resource["supportedProfile"] = ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab"]
        resources.append(resource)
    resources.append(
        {
            "type": "Bundle",
            "interaction": [{"code": "create"}],
            "documentation": "POST a transaction, batch or collection Bundle of one Patient's laboratory "
            "Observations to import them (a client that may import).",
        }
    )
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-01",
        "kind": "instance",
        "software": {"name": "Myolab"},
        "implementation": {"description": "Myolab's FHIR API", "url": _base(request).rstrip("/")},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Authorization: Bearer <token> of an API client an administrator issued; "
                    "unknown parameters are refused (400)."
                },
                "resource": resources,
            }
        ],
    }
    return json_response(statement)


# --- Patient ---------------------------------------------------------------------------------------


def _patient(pk: int) -> Patient:
    patient = Patient.objects.filter(pk=pk).first()
    if patient is None:
        raise ApiError(404, "not-found", f"Patient/{pk} is not known.")
    return patient


def _read(request, client, rows, pk: int, kind: str, build):
    """One resource by its id: the row of `rows` (its patient joined), logged as a read of that patient."""
    _check(request.GET, {})
    row = rows.filter(pk=pk).first()
    if row is None:
        raise ApiError(404, "not-found", f"{kind}/{pk} is not known.")
    _log(request, client, row.patient)
    return json_response(build(row, row.patient, ids=RestIds))


@api_view()
def patient_read(request, client, pk):
    _check(request.GET, {})
    patient = _patient(pk)
    _log(request, client, patient)
    return json_response(patient_resource(patient, ids=RestIds))


@api_view()
def patient_search(request, client):
    query = request.GET
    _check(query, {"identifier": False, "family": False, "birthdate": True, "_count": False, "_cursor": False})
    if not {"identifier", "family", "birthdate"} & set(query):
        raise bad("Patient", "search by identifier, family or birthdate (Myolab does not list every patient).")
    count = search.parse_count(query.get("_count"))
    patients = Patient.objects.order_by("id")
    if "identifier" in query:
        system, bar, mrn = query["identifier"].rpartition("|")
        if not mrn.strip():
            raise bad("identifier", "has no value: write system|MRN or the MRN alone.")
        if bar and system and system not in settings.FHIR_MRN_SYSTEMS:
            patients = patients.none()  # another system's identifiers are not Myolab's MRNs
        patients = patients.filter(mrn__iexact=mrn.strip())
    if "family" in query:
        if not query["family"].strip():
            raise bad("family", "is empty.")
        patients = patients.filter(family_name__istartswith=query["family"].strip())
    for text in query.getlist("birthdate"):
        days = search.parse_date("birthdate", text)
        if "T" in text:
            raise bad("birthdate", f"'{text}' is not a date (YYYY, YYYY-MM or YYYY-MM-DD).")
        # The local dates the range starts and ends on: a birth date is a calendar date.
        patients = patients.filter(**{key: moment.date() for key, moment in days.lookups("date_of_birth").items()})
    if "_cursor" in query:
        cursor = search.read_cursor(query["_cursor"])
        if len(cursor) != 1 or not isinstance(cursor[0], int):
            raise bad("_cursor", "belongs to another search: follow the next link as given.")
        after = cursor[0]
        patients = patients.filter(id__gt=after)
    page = list(patients[: count + 1])
    more = len(page) > count
    page = page[:count]
    log_access_many(request, page, What.FHIR_API, api_client=client.name)
    next_query = None
    if more:
        kept = [(name, value) for name, values in query.lists() if name != "_cursor" for value in values]
        next_query = [*kept, ("_cursor", search.sign_cursor(page[-1].pk))]
    resources = [(patient_resource(p, ids=RestIds), "match") for p in page]
    return json_response(_searchset(request, resources, next_query=next_query, path=request.path))


# --- Observation -----------------------------------------------------------------------------------

OBSERVATION_PARAMETERS = {
    "patient": False,
    "category": False,
    "code": False,
    "date": True,
    "_sort": False,
    "_count": False,
    "_cursor": False,
}


def _results(patient):
    return Result.objects.filter(patient=patient).select_related("panel__specimen_condition")


def _observations(results, patient, analytes) -> list[dict]:
    """The export's Observations (exports.fhir.observation_resource), each result's analyte from
    `analytes`; an imported result whose laboratory range was not applied (not in a form Myolab reads)
    also carries that range as sent, after Myolab's (one query for the page)."""
    zone = timezone.get_current_timezone()
    subject = subject_reference(patient, ids=RestIds)
    lab_ranges = dict(
        ImportedResult.objects.filter(result_id__in=[result.pk for result in results])
        .exclude(lab_range="")
        .order_by("id")
        .values_list("result_id", "lab_range")
    )
    observations = []
    for result in results:
        result.analyte = analytes[result.analyte_id]
        observation = observation_resource(result, patient, zone=zone, subject=subject, ids=RestIds)
        if result.pk in lab_ranges and not result.range_source:
            observation.setdefault("referenceRange", []).append(
                {"text": f"{lab_ranges[result.pk]} ({LAB_RANGE_ORIGIN})"}
            )
        observations.append(observation)
    return observations


@api_view()
def observation_read(request, client, pk):
    rows = Result.objects.select_related("patient", "analyte", "panel__specimen_condition")
    return _read(request, client, rows, pk, "Observation", _observation)


def _observation(result, patient, *, ids):
    return _observations([result], patient, {result.analyte_id: result.analyte})[0]


def _keyset(results, query, sort: str):
    """The page after the cursor in `sort` order ((collected time, id), both the same direction)."""
    if "_cursor" in query:
        cursor = search.read_cursor(query["_cursor"])
        if len(cursor) != 3 or cursor[2] != sort:
            raise bad("_cursor", "belongs to a search in another order: follow the next link as given.")
        at, pk = datetime.datetime.fromisoformat(cursor[0]), cursor[1]
        if sort == "date":
            results = results.filter(Q(collected_at__gt=at) | Q(collected_at=at, id__gt=pk))
        else:
            results = results.filter(Q(collected_at__lt=at) | Q(collected_at=at, id__lt=pk))
    return results.order_by(*(("collected_at", "id") if sort == "date" else ("-collected_at", "-id")))


def _next_query(query, last, sort: str):
    kept = [(name, value) for name, values in query.lists() if name != "_cursor" for value in values]
    return [*kept, ("_cursor", search.sign_cursor(last.collected_at.isoformat(), last.pk, sort))]


@api_view()
def observation_search(request, client):
    query = request.GET
    _check(query, OBSERVATION_PARAMETERS)
    if "patient" not in query:
        raise bad("patient", "is required (Observation?patient=<id>): Myolab searches one patient's results.")
    patient = _patient(search.parse_reference("patient", query["patient"]))
    count = search.parse_count(query.get("_count"))
    sort = query.get("_sort", "-date")
    if sort not in ("date", "-date"):
        raise bad("_sort", f"'{sort}' is not served (date, oldest first, or -date, newest first).")
    analytes = Analyte.objects.in_bulk()
    results = _results(patient)
    if "category" in query and LABORATORY not in search.parse_tokens("category", query["category"], CATEGORY_SYSTEM):
        results = results.none()
    if "code" in query:
        codes = set(search.parse_tokens("code", query["code"], LOINC))
        by_code = {a.code: a.pk for a in analytes.values()}
        wanted = {a.pk for a in analytes.values() if a.loinc in codes}
        wanted |= {by_code[code] for loinc, code in ALTERNATIVE_LOINC.items() if loinc in codes and code in by_code}
        results = results.filter(analyte_id__in=sorted(wanted))
    for text in query.getlist("date"):
        results = results.filter(**search.parse_date("date", text).lookups("collected_at"))
    page = list(_keyset(results, query, sort)[: count + 1])
    more = len(page) > count
    page = page[:count]
    _log(request, client, patient)
    next_query = _next_query(query, page[-1], sort) if more else None
    resources = [(observation, "match") for observation in _observations(page, patient, analytes)]
    return json_response(_searchset(request, resources, next_query=next_query, path=request.path))


@api_view()
def patient_everything(request, client, pk):
    """Patient/<id>/$everything: the export's resources, paged. The first page holds the Patient and
    its Tasks, then _count Observations oldest first; each next page the next Observations."""
    query = request.GET
    _check(query, {"_count": False, "_cursor": False})
    patient = _patient(pk)
    count = search.parse_count(query.get("_count"))
    analytes = Analyte.objects.in_bulk()
    page = list(_keyset(_results(patient), query, "date")[: count + 1])
    more = len(page) > count
    page = page[:count]
    _log(request, client, patient)
    resources = []
    if "_cursor" not in query:
        resources.append((patient_resource(patient, ids=RestIds), "match"))
        plans = FollowUpPlan.objects.filter(patient=patient).select_related("owner", "finding").order_by("id")
        resources += [(task_resource(plan, patient, ids=RestIds), "include") for plan in plans]
    resources += [(observation, "include") for observation in _observations(page, patient, analytes)]
    next_query = _next_query(query, page[-1], "date") if more else None
    return json_response(_searchset(request, resources, next_query=next_query, path=request.path))


# --- Task ------------------------------------------------------------------------------------------


@api_view()
def task_read(request, client, pk):
    rows = FollowUpPlan.objects.select_related("patient", "owner", "finding")
    return _read(request, client, rows, pk, "Task", task_resource)


@api_view()
def task_search(request, client):
    query = request.GET
    _check(query, {"patient": False})
    if "patient" not in query:
        raise bad("patient", "is required (Task?patient=<id>).")
    patient = _patient(search.parse_reference("patient", query["patient"]))
    plans = FollowUpPlan.objects.filter(patient=patient).select_related("owner", "finding").order_by("id")
    _log(request, client, patient)
    resources = [(task_resource(plan, patient, ids=RestIds), "match") for plan in plans]
    return json_response(_searchset(request, resources, path=request.path))


@api_view(methods=("GET", "POST", "PUT", "PATCH", "DELETE"))
def unknown(request, client, rest=""):
    raise ApiError(404, "not-found", f"/fhir/{rest} is not served here (GET /fhir/metadata lists what is).")


# --- import ----------------------------------------------------------------------------------------


@api_view(methods=("POST",), write=True)
def bundle_import(request, client):
    """POST /fhir/Bundle: one patient's laboratory Observations, through the HL7 path (interfaces.services
    .receive): matched, imported once, held or refused as a laboratory message would be."""
    kind = request.content_type
    if kind not in ("application/fhir+json", "application/json"):
        raise ApiError(
            415, "not-supported", f"Content-Type '{kind or 'none'}' is not taken: send application/fhir+json."
        )
    try:
        text = request.body.decode("utf-8")
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
        raise ApiError(
            413, "too-costly", f"The Bundle is larger than {limit:.1f} MB: send fewer results a Bundle."
        ) from None
    except UnicodeDecodeError:
        raise ApiError(400, "invalid", "The body is not UTF-8 JSON.") from None
    if not is_fhir(text):
        raise ApiError(400, "invalid", "The body is not a JSON resource: send a Bundle.")
    receipt = interfaces_services.receive(text, channel=InboundMessage.Channel.FHIR, by=client.user, sender=client.name)
    return import_response(receipt.message)


CHANGED = {
    "corrected": "Corrected the result recorded before.",
    "entered-in-error": "Marked the result recorded before as entered in error.",
}


def import_response(message: InboundMessage) -> HttpResponse:
    """The answer to an imported Bundle, from the message as stored (so a resend is answered the same):
    imported or nothing to import: a transaction-response Bundle with each entry's outcome; held for
    review: 202 and why; in error: 422; refused: 400."""
    Status = InboundMessage.Status
    reasons = list(message.errors)
    location = {"Location": f"/lab-messages/{message.pk}/"}
    if message.status == Status.REJECTED:
        return json_response(outcome([issue("error", "invalid", text) for text in reasons]), status=400)
    if message.status == Status.ERROR:
        return json_response(outcome([issue("error", "processing", text) for text in reasons]), status=422)
    if message.status == Status.HELD:
        lead = f"Held for review in Myolab's queue (message {message.pk}): nothing was imported yet."
        issues = [issue("information", "informational", lead)] + [issue("warning", "processing", t) for t in reasons]
        return json_response(outcome(issues), status=202, headers=location)
    oru = read_bundle(message.raw, sender=message.sending_facility)
    observations = {obs.set_id: obs for order in oru.orders for obs in order.observations}
    imported = list(message.imported_results.select_related("result__analyte"))
    entries = []
    for number in range(1, len(json.loads(message.raw)["entry"]) + 1):
        observation = observations.get(str(number))
        if observation is None:
            entries.append({"response": {"status": "200 OK"}})
            continue
        said = [
            text
            for text in message.skipped
            if text.startswith(f"entry {number},") or text.startswith(f"entry {number} ")
        ]
        made = next((row for row in imported if _same(row.result, observation)), None)
        response = {"status": "200 OK"}
        if made is not None:
            response = {
                "status": "201 Created" if made.action == "created" else "200 OK",
                "location": f"Observation/{made.result_id}",
            }
            if made.flag_disagreement:
                said.append(made.flag_disagreement)
            if made.action in CHANGED:
                said.insert(0, CHANGED[made.action])
        if said:
            response["outcome"] = outcome([issue("information", "informational", text) for text in said])
        entries.append({"response": response})
    return json_response({"resourceType": "Bundle", "type": "transaction-response", "entry": entries}, headers=location)


def _same(result: Result, observation) -> bool:
    codes = {result.analyte.loinc} | {loinc for loinc, code in ALTERNATIVE_LOINC.items() if code == result.analyte.code}
    if observation.code not in codes:
        return False
    try:
        return read_time(observation.observed_at, field="effectiveDateTime") == result.collected_at
    except Problem:
        return False
