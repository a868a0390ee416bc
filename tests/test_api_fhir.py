"""The FHIR R4 read API: resources valid with fhir.resources R4B, searches, keyset paging to the end of
a 1,000-result patient in a constant number of queries a page, OperationOutcomes, the access log."""

import dataclasses
import datetime
import re

import pytest
from django.utils import timezone

from guidance.models import ActionType, Finding
from guidance.services import create_plan, record_results
from patients.models import AccessLogEntry

from .api_helpers import bearer, issue, long_history, validate
from .recording import entry

pytestmark = pytest.mark.django_db
FHIR_JSON = "application/fhir+json; charset=utf-8"


@pytest.fixture
def api(administrator):
    _, token = issue(administrator, name="Ward EHR")
    return bearer(token)


def get(client, api, url, status=200):
    response = client.get(url, **api)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == FHIR_JSON
    return response.json()


def test_metadata_lists_exactly_what_is_served(client, api):
    statement = get(client, api, "/fhir/metadata")
    validate(statement)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert sorted(resources) == ["Bundle", "Observation", "Patient", "Task"]
    assert [p["name"] for p in resources["Observation"]["searchParam"]] == [
        "patient",
        "category",
        "code",
        "date",
        "_sort",
        "_count",
    ]
    assert [p["name"] for p in resources["Patient"]["searchParam"]] == ["identifier", "family", "birthdate", "_count"]
    assert resources["Patient"]["operation"][0]["name"] == "everything"
    assert resources["Bundle"]["interaction"] == [{"code": "create"}]


def test_patient_read_and_searches(client, api, patient_factory, clinician):
    ada = patient_factory(
        mrn="MRN-ADA", family_name="Lovelace", given_name="Ada", date_of_birth=datetime.date(1980, 3, 1)
    )
    patient_factory(mrn="MRN-BOB", family_name="Lowell", date_of_birth=datetime.date(1980, 3, 2))
    patient_factory(mrn="MRN-CY", family_name="Smith", date_of_birth=datetime.date(1981, 1, 1))

    resource = get(client, api, f"/fhir/Patient/{ada.pk}")
    validate(resource)
    assert resource["id"] == str(ada.pk)
    assert resource["identifier"][0] == {
        "use": "usual",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "code": "MR",
                    "display": "Medical record number",
                }
            ]
        },
        "system": "urn:myolab:mrn",
        "value": "MRN-ADA",
    }

    def found(query):
        bundle = get(client, api, f"/fhir/Patient?{query}")
        validate(bundle)
        assert bundle["type"] == "searchset"
        return [entry["resource"]["identifier"][0]["value"] for entry in bundle["entry"]]

    assert found("identifier=urn:myolab:mrn|MRN-ADA") == ["MRN-ADA"]
    assert found("identifier=mrn-ada") == ["MRN-ADA"]
    assert found("identifier=http://other.example/ids|MRN-ADA") == []
    assert found("family=lo") == ["MRN-ADA", "MRN-BOB"]
    assert found("birthdate=1980-03-01") == ["MRN-ADA"]
    assert found("birthdate=ge1980-03-02") == ["MRN-BOB", "MRN-CY"]
    assert found("birthdate=gt1980-03-01&birthdate=lt1981-01-01") == ["MRN-BOB"]
    assert found("birthdate=1980") == ["MRN-ADA", "MRN-BOB"]
    assert found("family=Lo&birthdate=le1980-03-01") == ["MRN-ADA"]
    # A day the clocks go forward has 23 hours; it is still one birth date.
    dst = patient_factory(mrn="MRN-DST", date_of_birth=datetime.date(1980, 3, 16))
    assert dst.date_of_birth == datetime.date(1980, 3, 16)
    assert found("birthdate=1980-03-16") == ["MRN-DST"]
    assert found("birthdate=2026-03-29") == []
    refused = get(client, api, "/fhir/Patient?birthdate=1980-03-01T00:00Z", status=400)
    assert (
        refused["issue"][0]["diagnostics"]
        == "birthdate: '1980-03-01T00:00Z' is not a date (YYYY, YYYY-MM or YYYY-MM-DD)."
    )


def test_patient_search_pages_by_keyset(client, api, patient_factory):
    for n in range(5):
        patient_factory(mrn=f"P-{n}", family_name="Same")
    first = get(client, api, "/fhir/Patient?family=same&_count=2")
    seen = [e["resource"]["identifier"][0]["value"] for e in first["entry"]]
    link = next(link["url"] for link in first["link"] if link["relation"] == "next")
    while link:
        page = get(client, api, link.removeprefix("http://testserver"))
        seen += [e["resource"]["identifier"][0]["value"] for e in page["entry"]]
        link = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert seen == ["P-0", "P-1", "P-2", "P-3", "P-4"]


@pytest.fixture
def panels(record, patient, clinician):
    """Potassium 3.1 (low, a finding) and calcium 9.4 at 09:00, magnesium 2.0 at 12:00 on 1 March 2026
    (the clinic's time zone), and vitamin D <5 the next day."""
    march_1 = timezone.make_aware(datetime.datetime(2026, 3, 1, 9, 0))
    record(patient, {"k": "3.1", "ca": "9.4"}, at=march_1)
    record(patient, {"mg": "2.0"}, at=march_1 + datetime.timedelta(hours=3))
    censored = dataclasses.replace(entry("vitd25", "5"), comparator="<")
    record_results(patient=patient, collected_at=march_1 + datetime.timedelta(days=1), entries=[censored], by=clinician)
    return march_1


def codes(bundle):
    return [e["resource"]["code"]["coding"][0]["code"] for e in bundle["entry"]]


def test_observations_follow_us_core_and_validate(client, api, patient, panels):
    bundle = get(client, api, f"/fhir/Observation?patient={patient.pk}&_sort=date")
    validate(bundle)
    potassium = next(e["resource"] for e in bundle["entry"] if e["resource"]["code"]["coding"][0]["code"] == "2823-3")
    assert potassium["status"] == "final"
    assert potassium["category"][0]["coding"][0]["code"] == "laboratory"
    assert potassium["subject"]["reference"] == f"Patient/{patient.pk}"
    assert potassium["valueQuantity"] == {
        "value": 3.1,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    }
    assert potassium["interpretation"][0]["coding"][0]["code"] == "L"
    assert potassium["referenceRange"][0]["low"]["value"] == 3.5
    assert potassium["referenceRange"][0]["high"]["value"] == 5.2
    assert potassium["effectiveDateTime"].startswith("2026-03-01T09:00:00")
    vitamin_d = bundle["entry"][-1]["resource"]
    assert vitamin_d["valueQuantity"]["comparator"] == "<"
    # The same resource by its id, and the entry's fullUrl names it.
    one = get(client, api, f"/fhir/Observation/{potassium['id']}")
    validate(one)
    assert one == potassium
    entry = next(e for e in bundle["entry"] if e["resource"]["id"] == potassium["id"])
    assert entry["fullUrl"] == f"http://testserver/fhir/Observation/{potassium['id']}"


def test_code_category_and_sort(client, api, patient, panels):
    base = f"/fhir/Observation?patient={patient.pk}"
    # Newest first; potassium and calcium share a collection time, so the later id (calcium) comes first.
    assert codes(get(client, api, base)) == ["62292-8", "19123-9", "17861-6", "2823-3"]
    assert codes(get(client, api, base + "&code=2823-3,http://loinc.org|19123-9&_sort=date")) == ["2823-3", "19123-9"]
    assert codes(get(client, api, base + "&code=http://snomed.info/sct|2823-3")) == []
    assert codes(get(client, api, base + "&code=2000-8")) == ["17861-6"]  # calcium's moles code
    assert len(get(client, api, base + "&category=laboratory")["entry"]) == 4
    assert (
        len(
            get(client, api, base + "&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory")[
                "entry"
            ]
        )
        == 4
    )
    assert get(client, api, base + "&category=vital-signs")["entry"] == []


# (date parameters, the codes found, oldest first). Potassium and calcium at 09:00:00, magnesium at
# 12:00:00 on 1 March (Europe/London, +00:00 then), vitamin D at 09:00 on 2 March.
DATE_CASES = [
    ("date=2026-03-01", ["K", "Ca", "Mg"]),
    ("date=eq2026-03-01T09:00:00%2B00:00", ["K", "Ca"]),
    ("date=ge2026-03-01T09:00:00Z", ["K", "Ca", "Mg", "D"]),
    ("date=gt2026-03-01T09:00:00Z", ["Mg", "D"]),
    ("date=gt2026-03-01T08:59:59Z", ["K", "Ca", "Mg", "D"]),
    ("date=le2026-03-01T09:00:00Z", ["K", "Ca"]),
    ("date=lt2026-03-01T09:00:00Z", []),
    ("date=lt2026-03-01T09:00:01Z", ["K", "Ca"]),
    ("date=le2026-03-01T12:00:00 00:00", ["K", "Ca", "Mg"]),  # an unencoded + arrives as a space
    ("date=ge2026-03-01T10:00:00%2B01:00", ["K", "Ca", "Mg", "D"]),  # 09:00Z
    ("date=ge2026-03-01T09:00&date=lt2026-03-02", None),  # a time without an offset: refused below
    ("date=ge2026-03-01T09:00Z&date=lt2026-03-02", ["K", "Ca", "Mg"]),
    ("date=gt2026-03-01&date=le2026-03", ["D"]),
    ("date=2026-02", []),
    ("date=le2026-02-28", []),
]
NAMES = {"2823-3": "K", "17861-6": "Ca", "19123-9": "Mg", "62292-8": "D"}


@pytest.mark.parametrize(("dates", "expected"), [case for case in DATE_CASES if case[1] is not None])
def test_date_prefixes_at_the_exact_instant(client, api, patient, panels, dates, expected):
    bundle = get(client, api, f"/fhir/Observation?patient={patient.pk}&_sort=date&{dates}")
    found = [NAMES[code] for code in codes(bundle)]
    assert sorted(found) == sorted(expected)


BAD_PARAMETERS = [
    ("date=2026-03-01T09:00", "date", "has a time but no offset"),
    ("date=xx2026-03-01", "date", "prefix 'xx' is not one Myolab serves (eq, ge, gt, le, lt)"),
    ("date=2026-02-30", "date", "'2026-02-30' is not a real date"),
    ("date=2026/03/01", "date", "is not a date"),
    ("_count=0", "_count", "'0' is not a whole number from 1 to 500"),
    ("_count=501", "_count", "'501' is not a whole number from 1 to 500"),
    ("_count=٣", "_count", "is not a whole number"),
    ("_sort=value", "_sort", "'value' is not served (date, oldest first, or -date, newest first)"),
    ("code=", "code", "has an empty code"),
    ("colour=red", "colour", "is not a search parameter here"),
    ("_cursor=forged", "_cursor", "is not a page link this server gave"),
    ("code=2823-3&code=17861-6", "code", "may be given once"),
]


@pytest.mark.parametrize(("query", "parameter", "message"), BAD_PARAMETERS)
def test_a_bad_parameter_is_a_400_naming_it(client, api, patient, query, parameter, message):
    body = get(client, api, f"/fhir/Observation?patient={patient.pk}&{query}", status=400)
    validate(body)
    (found,) = body["issue"]
    assert found["severity"] == "error" and found["code"] == "invalid"
    assert found["expression"] == [parameter]
    assert found["diagnostics"].startswith(f"{parameter}: ")
    assert message in found["diagnostics"]
    assert not AccessLogEntry.objects.exists()  # refused: nothing read, nothing logged


def test_observation_search_needs_the_patient(client, api):
    body = get(client, api, "/fhir/Observation?code=2823-3", status=400)
    assert body["issue"][0]["expression"] == ["patient"]
    assert get(client, api, "/fhir/Observation?patient=abc", status=400)["issue"][0]["diagnostics"] == (
        "patient: 'abc' is not a Patient id (a number, or Patient/<number>)."
    )


def test_unknown_ids_and_paths_are_404_outcomes(client, api):
    for url in [
        "/fhir/Patient/999999",
        "/fhir/Observation/999999",
        "/fhir/Task/999999",
        "/fhir/Medication/1",
        "/fhir/Patient/abc",
    ]:
        body = get(client, api, url, status=404)
        validate(body)
        assert body["issue"][0]["code"] == "not-found", url
    assert get(client, api, "/fhir/Observation?patient=999999", status=404)["issue"][0]["diagnostics"] == (
        "Patient/999999 is not known."
    )


def test_paging_to_the_end_of_a_1000_result_patient_in_constant_queries(
    client, api, patient, clinician, django_assert_num_queries
):
    results = long_history(patient, 1000, by=clinician)
    url = f"/fhir/Observation?patient={patient.pk}&_count=100&_sort=date"
    seen, pages = [], 0
    while url:
        # The client, the rate count (one UPDATE), the patient, the catalogue, the page of results, the
        # laboratory's ranges of imported results, the access log row.
        with django_assert_num_queries(7):
            bundle = get(client, api, url)
        pages += 1
        seen += [int(e["resource"]["id"]) for e in bundle["entry"]]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        url = url and url.removeprefix("http://testserver")
    assert pages == 10
    assert seen == [result.pk for result in results]
    # Newest first, the same 1,000 backwards.
    url, backwards = f"/fhir/Observation?patient={patient.pk}&_count=300", []
    while url:
        bundle = get(client, api, url)
        backwards += [int(e["resource"]["id"]) for e in bundle["entry"]]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        url = url and url.removeprefix("http://testserver")
    assert backwards == seen[::-1]


def test_paging_keeps_results_of_one_instant_apart_by_id(client, api, patient, clinician):
    """Results collected at the same time (one panel) are ordered by id, so a page boundary between
    them loses none and repeats none."""
    at = timezone.make_aware(datetime.datetime(2026, 3, 1, 9, 0))
    first = long_history(patient, 3, by=clinician, start=at, analyte_code="k")
    second = long_history(patient, 3, by=clinician, start=at, analyte_code="ca")
    url, seen = f"/fhir/Observation?patient={patient.pk}&_count=1&_sort=date", []
    while url:
        bundle = get(client, api, url)
        seen += [int(e["resource"]["id"]) for e in bundle["entry"]]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        url = url and url.removeprefix("http://testserver")
    expected = sorted(
        [r.pk for r in first + second], key=lambda pk: (next(r.collected_at for r in first + second if r.pk == pk), pk)
    )
    assert seen == expected


def test_a_cursor_of_another_order_is_refused(client, api, patient, clinician):
    long_history(patient, 3, by=clinician)
    bundle = get(client, api, f"/fhir/Observation?patient={patient.pk}&_count=1&_sort=date")
    cursor = re.search(r"_cursor=([^&]+)", next(link["url"] for link in bundle["link"] if link["relation"] == "next"))[
        1
    ]
    body = get(client, api, f"/fhir/Observation?patient={patient.pk}&_count=1&_sort=-date&_cursor={cursor}", status=400)
    assert body["issue"][0]["expression"] == ["_cursor"]


def test_everything_is_the_export_paged_with_tasks(client, api, patient, clinician, record):
    record(patient, {"k": "3.1"})
    finding = Finding.objects.get()
    plan = create_plan(
        finding,
        action_type=ActionType.REPEAT_TEST,
        analyte=finding.result.analyte,
        due_date=timezone.localdate(),
        owner=clinician,
        by=clinician,
    )
    long_history(patient, 4, by=clinician)
    first = get(client, api, f"/fhir/Patient/{patient.pk}/$everything?_count=3")
    validate(first)
    kinds = [e["resource"]["resourceType"] for e in first["entry"]]
    assert kinds == ["Patient", "Task", "Observation", "Observation", "Observation"]
    task = first["entry"][1]["resource"]
    assert task["id"] == str(plan.pk)
    assert task["for"]["reference"] == f"Patient/{patient.pk}"
    assert task["focus"]["reference"] == f"Observation/{finding.result_id}"
    link = next(link["url"] for link in first["link"] if link["relation"] == "next").removeprefix("http://testserver")
    second = get(client, api, link)
    validate(second)
    assert [e["resource"]["resourceType"] for e in second["entry"]] == ["Observation", "Observation"]
    assert all(link["relation"] != "next" for link in second["link"])
    tasks = get(client, api, f"/fhir/Task?patient={patient.pk}")
    validate(tasks)
    assert [e["resource"]["id"] for e in tasks["entry"]] == [str(plan.pk)]
    assert get(client, api, f"/fhir/Task/{plan.pk}") == task


def test_every_read_is_logged_with_the_clients_name(client, administrator, patient, record):
    api_client, token = issue(administrator, name="Ward EHR")
    record(patient, {"k": "4.0"})
    client.get(f"/fhir/Patient/{patient.pk}", **bearer(token))
    client.get(f"/fhir/Observation?patient={patient.pk}&_count=5", **bearer(token))
    rows = list(AccessLogEntry.objects.order_by("id").values_list("user", "patient", "what", "api_client", "path"))
    assert rows == [
        (api_client.user_id, patient.pk, "fhir-api", "Ward EHR", f"/fhir/Patient/{patient.pk}"),
        (api_client.user_id, patient.pk, "fhir-api", "Ward EHR", f"/fhir/Observation?patient={patient.pk}&_count=5"),
    ]


def test_a_patient_search_costs_the_same_queries_for_one_patient_or_many(
    client, api, patient_factory, django_assert_num_queries
):
    patient_factory(family_name="Many")
    # The client, the rate count, the page of patients, the access log rows (one INSERT).
    with django_assert_num_queries(4):
        assert len(get(client, api, "/fhir/Patient?family=many")["entry"]) == 1
    for _ in range(9):
        patient_factory(family_name="Many")
    with django_assert_num_queries(4):
        assert len(get(client, api, "/fhir/Patient?family=many")["entry"]) == 10
    assert AccessLogEntry.objects.filter(what="fhir-api").count() == 11
