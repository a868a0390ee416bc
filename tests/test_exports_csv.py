import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from core.spreadsheet import neutralise
from exports.csv_export import HEADER
from guidance import services as guidance_services
from labs.interpretation import LabRange
from labs.models import Analyte, AnalyteUnit
from labs.services import Entry

from .exports_support import BASE, record_series, result_of
from .factories import PatientFactory
from .recording import record


def read_csv(response):
    text = b"".join(response.streaming_content).decode("utf-8") if response.streaming else response.content.decode()
    assert text.startswith("\ufeff"), "Excel needs the UTF-8 byte order mark"
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("", ""),
        ("Smith", "Smith"),
        ("a=b", "a=b"),
        ("3.5–5.2 mmol/L", "3.5–5.2 mmol/L"),
        ("≤ 80.0 ng/mL", "≤ 80.0 ng/mL"),
    ],
)
def test_neutralise(cell, expected):
    assert neutralise(cell) == expected


@pytest.fixture
def charted_patient(clinician):
    """Ms Zoë Łukasiewicz: potassium low then corrected, magnesium in mmol/L then withdrawn, vitamin D high."""
    patient = PatientFactory(mrn="MRN-7/1", given_name="Zoë", family_name="Łukasiewicz", created_by=clinician)
    record(
        patient,
        {"k": ("3.1", "mmol/L"), "mg": ("0.82", "mmol/L"), "vitd25": ("250", "nmol/L")},
        by=clinician,
        lab_name="St Mary's Lab",
        accession_number="A-100",
        at=BASE,
    )
    potassium = result_of(patient, "k")
    guidance_services.correct_result(
        potassium,
        value=Decimal("3.6"),
        unit=AnalyteUnit.objects.get(analyte__code="k", unit="mmol/L"),
        reason="Re-run on a fresh sample",
        by=clinician,
    )
    guidance_services.mark_entered_in_error(result_of(patient, "mg"), reason="Wrong patient", by=clinician)
    return patient


def test_results_csv_has_one_row_per_result_with_everything_a_colleague_needs(clinician_client, charted_patient):
    response = clinician_client.get(f"/patients/{charted_patient.pk}/results.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = response["Content-Disposition"].split("-results-")[1]
    assert response["Content-Disposition"] == f'attachment; filename="myolab-MRN-7-1-results-{today}'
    rows = read_csv(response)
    assert rows[0] == [
        "patient MRN",
        "patient name",
        "collected at",
        "analyte",
        "LOINC",
        "comparator",
        "value as entered",
        "unit as entered",
        "value (canonical unit)",
        "canonical unit",
        "reference range applied",
        "range from",
        "Myolab default range",
        "flag",
        "flag meaning",
        "status",
        "status reason",
        "lab",
        "accession number",
        "entered by",
        "specimen condition",
        "panel comment",
        "result comment",
    ]
    by_analyte = {row[3]: dict(zip(HEADER, row, strict=True)) for row in rows[1:]}
    assert len(rows) == 4
    # 10:00 UTC on 1 March is 10:00 GMT in London.
    assert by_analyte["Magnesium"] == {
        "patient MRN": "MRN-7/1",
        "patient name": "Zoë Łukasiewicz",
        "collected at": "2026-03-01T10:00:00+00:00",
        "analyte": "Magnesium",
        "LOINC": "19123-9",
        "comparator": "",
        "value as entered": "0.82",
        "unit as entered": "mmol/L",
        "value (canonical unit)": "1.9934",
        "canonical unit": "mg/dL",
        "reference range applied": "1.70–2.60 mg/dL",
        "range from": "Myolab default",
        "Myolab default range": "",
        "flag": "N",
        "flag meaning": "Normal",
        "status": "Entered in error",
        "status reason": "Wrong patient",
        "lab": "St Mary's Lab",
        "accession number": "A-100",
        "entered by": "Alice Clinician",
        "specimen condition": "",
        "panel comment": "",
        "result comment": "",
    }
    potassium = by_analyte["Potassium"]
    assert (potassium["value as entered"], potassium["flag"], potassium["status"], potassium["status reason"]) == (
        "3.6",
        "N",
        "Corrected",
        "Re-run on a fresh sample",
    )
    vitamin_d = by_analyte["25-hydroxyvitamin D"]
    # 250 nmol/L × 0.4006 = 100.15 ng/mL, above 80.
    assert (vitamin_d["value as entered"], vitamin_d["unit as entered"]) == ("250", "nmol/L")
    assert (vitamin_d["value (canonical unit)"], vitamin_d["flag"], vitamin_d["flag meaning"]) == (
        "100.15",
        "H",
        "High",
    )
    assert vitamin_d["reference range applied"] == "20.0–80.0 ng/mL"


def test_results_csv_neutralises_formulas_in_text_fields(clinician_client, clinician):
    patient = PatientFactory(given_name="@SUM(A1:A9)", family_name="+1", created_by=clinician)
    record(
        patient,
        {"k": ("4.0", "mmol/L")},
        by=clinician,
        lab_name='=HYPERLINK("http://evil.example","x")',
        accession_number="-2+3",
        at=BASE,
    )

    rows = read_csv(clinician_client.get(f"/patients/{patient.pk}/results.csv"))

    row = dict(zip(HEADER, rows[1], strict=True))
    assert row["patient name"] == "'@SUM(A1:A9) +1"
    assert row["lab"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["accession number"] == "'-2+3"
    assert row["value as entered"] == "4"


def test_results_csv_of_a_patient_without_results_is_the_header_only(clinician_client, patient):
    rows = read_csv(clinician_client.get(f"/patients/{patient.pk}/results.csv"))

    assert rows == [HEADER]


@pytest.mark.parametrize("count", [2, 40])
def test_results_csv_query_count_does_not_grow_with_results(
    client, clinician, patient, count, django_assert_num_queries
):
    record_series(patient, clinician, "k", ["4.0"] * count, "mmol/L")
    client.force_login(clinician)

    # session, user, permissions (the user's and their groups', one query), patient; the access log insert;
    # the export log: savepoint, patient exists, user exists, savepoint, constraint check, release, insert, release;
    # the results with patient, analyte, panel and who entered it.
    with django_assert_num_queries(14):
        response = client.get(f"/patients/{patient.pk}/results.csv")

    assert len(read_csv(response)) == count + 1


@pytest.fixture
def cohort(clinician):
    """Two patients, results on 28 Feb, 1 Mar and 2 Mar 2026 (10:00 UTC)."""
    first = PatientFactory(mrn="C-1", created_by=clinician)
    second = PatientFactory(mrn="C-2", created_by=clinician)
    day = datetime.timedelta(days=1)
    record(first, {"k": ("3.0", "mmol/L")}, by=clinician, at=BASE - day)  # 28 Feb, low
    record(first, {"k": ("4.0", "mmol/L")}, by=clinician, at=BASE)  # 1 Mar, normal
    record(second, {"k": ("6.5", "mmol/L"), "mg": ("2.0", "mg/dL")}, by=clinician, at=BASE)  # 1 Mar, critical + normal
    record(second, {"k": ("2.9", "mmol/L")}, by=clinician, at=BASE + day)  # 2 Mar, low
    return first, second


def test_cohort_csv_streams_every_result_in_the_date_range(admin_client_, cohort):
    response = admin_client_.get("/exports/cohort.csv?from=2026-03-01&to=2026-03-01")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="myolab-cohort-2026-03-01-to-2026-03-01.csv"'
    rows = read_csv(response)
    assert [(row[0], row[3], row[8], row[13]) for row in rows[1:]] == [
        ("C-1", "Potassium", "4", "N"),
        ("C-2", "Magnesium", "2", "N"),
        ("C-2", "Potassium", "6.5", "HH"),
    ]


def test_cohort_csv_abnormal_only(admin_client_, cohort):
    rows = read_csv(admin_client_.get("/exports/cohort.csv?from=2026-02-01&to=2026-03-31&abnormal=1"))

    assert [(row[0], row[2], row[13]) for row in rows[1:]] == [
        ("C-1", "2026-02-28T10:00:00+00:00", "L"),
        ("C-2", "2026-03-01T10:00:00+00:00", "HH"),
        ("C-2", "2026-03-02T10:00:00+00:00", "L"),
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "from=2026-03-05&to=2026-03-01",
            "The end date (01 Mar 2026) is before the start date (05 Mar 2026); swap them.",
        ),
        ("from=2026-03-01", "This field is required."),
        ("from=yesterday&to=2026-03-01", "Enter a valid date."),
        ("from=2000-01-01&to=2026-03-01", "The range is 9557 days; choose at most 3660 days."),
        # Dates far outside what any result has: refused, not a 500 (the day after 9999-12-31 overflowed).
        (
            "from=9999-01-01&to=9999-12-31",
            "9999-01-01 is out of range: choose a date from 01 Jan 1900 to END_OF_NEXT_YEAR.",
        ),
        (
            "from=2026-01-01&to=9999-12-31",
            "9999-12-31 is out of range: choose a date from 01 Jan 1900 to END_OF_NEXT_YEAR.",
        ),
        (
            "from=0001-01-01&to=0001-01-02",
            "0001-01-01 is out of range: choose a date from 01 Jan 1900 to END_OF_NEXT_YEAR.",
        ),
    ],
)
def test_cohort_csv_refuses_a_bad_range_with_a_message(admin_client_, query, message):
    message = message.replace("END_OF_NEXT_YEAR", f"31 Dec {timezone.localdate().year + 1}")
    response = admin_client_.get(f"/exports/cohort.csv?{query}")

    assert response.status_code == 400
    assert message in response.content.decode()
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("extra_days", [0, 10])
def test_cohort_csv_query_count_does_not_grow_with_results(
    client, administrator, clinician, patient, extra_days, django_assert_num_queries
):
    record_series(patient, clinician, "k", ["4.0"] * (2 + extra_days), "mmol/L", step_days=1)
    client.force_login(administrator)

    # session, user, the authenticator app the session was signed in with (two-factor sign-in),
    # permissions; the access log insert;
    # the export log: savepoint, user exists, savepoint, constraint check, release, insert, release;
    # then, while streaming, the results in one query.
    with django_assert_num_queries(13):
        response = client.get("/exports/cohort.csv?from=2026-01-01&to=2026-12-31")
        rows = read_csv(response)

    assert len(rows) == 2 + extra_days + 1


def test_a_result_flagged_against_the_laboratorys_range_says_whose_range_and_myolabs(clinician_client, clinician):
    patient = PatientFactory(mrn="MRN-LR", created_by=clinician)
    potassium = Analyte.objects.get(code="k")
    entry = Entry(
        analyte=potassium,
        value=Decimal("5.3"),
        unit=potassium.units.get(unit="mmol/L"),
        lab_range=LabRange(Decimal("3.5"), Decimal("5.5"), "LABX (OBX-7 '3.5-5.5')"),
    )
    guidance_services.record_results(patient=patient, collected_at=BASE, entries=[entry], by=clinician)
    rows = read_csv(clinician_client.get(f"/patients/{patient.pk}/results.csv"))
    row = dict(zip(HEADER, rows[1], strict=True))
    # 5.3 is within the laboratory's 3.5–5.5, though above Myolab's default upper limit of 5.2.
    assert (row["reference range applied"], row["flag"]) == ("3.5–5.5 mmol/L", "N")
    assert row["range from"] == "LABX (OBX-7 '3.5-5.5')"
    assert row["Myolab default range"] == "3.5–5.2 mmol/L"  # shared/DOMAIN.md
