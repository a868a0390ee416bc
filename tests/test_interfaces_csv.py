"""Importing Myolab's own results CSV: an export imports back, row errors are shown before anything is
saved, and a file imported twice records nothing twice."""

import datetime
from dataclasses import replace
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from exports.csv_export import HEADER
from guidance.models import Finding
from guidance.services import mark_entered_in_error, record_results
from labs.models import Panel, Result, SpecimenCondition

from .recording import entry

pytestmark = pytest.mark.django_db
AT = datetime.datetime(2024, 3, 1, 9, 30, tzinfo=datetime.UTC)


def exported(client, patient) -> str:
    response = client.get(f"/patients/{patient.pk}/results.csv")
    return response.content.decode()


def upload(client, text, name="results.csv"):
    return client.post("/lab-messages/upload/", {"file": SimpleUploadedFile(name, text.encode("utf-8"))})


def confirm(client, preview):
    return client.post(
        "/lab-messages/upload/", {"confirm": "1", "fingerprint": preview.context["fingerprint"]}, follow=True
    )


@pytest.fixture
def source(patient_factory, clinician, record):
    """A patient with two panels (one with a low potassium) and a withdrawn result."""
    patient = patient_factory(mrn="SRC-1", date_of_birth=datetime.date(1970, 6, 15), created_by=clinician)
    record(patient, {"k": "3.1", "mg": ("0.80", "mmol/L")}, at=AT, lab_name="City Lab", accession_number="A-1")
    panel = record(patient, {"ck": "150"}, at=AT + datetime.timedelta(days=30))
    mark_entered_in_error(panel.results.get(), reason="wrong patient", by=clinician)
    return patient


@pytest.fixture
def target(patient_factory, clinician):
    return patient_factory(mrn="DST-1", date_of_birth=datetime.date(1970, 6, 15), created_by=clinician)


def test_an_export_imports_back_for_another_patient_with_the_same_values(clinician_client, source, target):
    # The same file for a colleague's copy of the patient: only the MRN differs (and the accession, which
    # is unique per lab).
    text = exported(clinician_client, source).replace("SRC-1", "DST-1").replace(",A-1,", ",B-1,")
    preview = upload(clinician_client, text)
    assert preview.status_code == 200
    plan = preview.context["csv"]
    assert [(row.number, row.error, row.skipped) for row in plan.rows] == [
        (2, "", ""),
        (3, "", ""),
        (4, "", "marked entered in error where it came from: not imported."),
    ]
    assert not Result.objects.filter(patient=target).exists()  # the preview saved nothing
    response = confirm(clinician_client, preview)
    assert [str(m) for m in response.context["messages"]] == ["results.csv: 2 results recorded in 1 panels."]
    copied = {
        r.analyte.code: (r.value_entered, r.unit_entered, r.value, r.flag, r.collected_at)
        for r in Result.objects.filter(patient=target)
    }
    assert copied == {
        "k": (Decimal("3.1000"), "mmol/L", Decimal("3.1000"), "L", AT),
        "mg": (Decimal("0.8000"), "mmol/L", Decimal("1.9448"), "N", AT),
    }
    panel = Panel.objects.get(patient=target)
    assert (panel.lab_name, panel.accession_number, panel.source) == ("City Lab", "B-1", Panel.Source.IMPORT)
    # Recorded through the one write path: the low potassium opened its finding.
    assert Finding.objects.filter(patient=target, result__analyte__code="k").count() == 1


def test_importing_the_same_file_again_records_nothing(clinician_client, source):
    text = exported(clinician_client, source)
    preview = upload(clinician_client, text)
    assert [row.skipped for row in preview.context["csv"].rows][:2] == [
        "already recorded for this patient at this time: nothing changes.",
        "already recorded for this patient at this time: nothing changes.",
    ]
    before = Result.objects.count()
    confirm(clinician_client, preview)
    assert Result.objects.count() == before


def row(**cells):
    values = {name: "" for name in HEADER}
    values.update(
        {
            "patient MRN": "DST-1",
            "collected at": "2024-03-01T09:30:00+00:00",
            "analyte": "Potassium",
            "LOINC": "2823-3",
            "value as entered": "4.0",
            "unit as entered": "mmol/L",
            "status": "Final",
        }
    )
    values.update({name.replace("_", " "): value for name, value in cells.items()})
    return ",".join(values[name] for name in HEADER)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (row(patient_MRN="NOPE"), "patient MRN 'NOPE': no patient has this MRN (register them first)."),
        (
            row(collected_at="01/03/2024"),
            "collected at '01/03/2024' is not a date and time with its offset (as exported: "
            "2024-01-15T08:30:00+00:00).",
        ),
        (row(LOINC="1554-5", analyte="Glucose"), "analyte 'Glucose' (LOINC '1554-5') is not in the catalogue."),
        (row(value_as_entered="4,0"), None),  # a comma splits the cell: the line has one column too many
        (row(value_as_entered="high"), "value as entered 'high' is not a number."),
        (
            row(unit_as_entered="mg/dL"),
            "unit as entered 'mg/dL' is not a unit of Potassium (accepted: mmol/L, meq/L).",
        ),
        (row(value_as_entered="41"), "Potassium: 41 mmol/L is implausible; accepted from 1.0 to 10.0 mmol/L."),
    ],
)
def test_each_bad_row_is_named_with_its_line_and_its_panel_is_not_recorded(clinician_client, target, line, error):
    good = row(analyte="Magnesium", LOINC="19123-9", value_as_entered="2.0", unit_as_entered="mg/dL")
    text = "\n".join([",".join(HEADER), good, line]) + "\n"
    preview = upload(clinician_client, text)
    rows = preview.context["csv"].rows
    expected = error or f"Line 3 has {len(HEADER) + 1} columns; the header has {len(HEADER)}."
    assert (rows[1].number, rows[1].error) == (3, expected)
    confirm(clinician_client, preview)
    if error and "MRN" not in error and "collected at" not in error:
        # The bad row belongs to the good row's panel, which is therefore not recorded.
        assert not Result.objects.exists()
    else:
        # A row with no patient or time belongs to no panel: the good row's panel is recorded alone.
        assert Result.objects.get().analyte.code == "mg"


def test_a_csv_with_another_header_is_refused(clinician_client):
    response = upload(clinician_client, "patient MRN,value\nX,1\n")
    assert response.status_code == 400
    assert (
        response.context["form"]
        .errors["file"][0]
        .startswith(
            "results.csv: The first line is not the header of Myolab's results CSV; its columns must be: patient MRN, "
        )
    )


def test_a_censored_preliminary_commented_haemolysed_panel_round_trips(
    clinician_client, clinician, patient_factory, target
):
    source = patient_factory(mrn="SRC-2", date_of_birth=datetime.date(1970, 6, 15), created_by=clinician)
    haemolysed = SpecimenCondition.objects.get(code="haemolysed")
    record_results(
        patient=source,
        collected_at=AT,
        entries=[
            replace(entry("vitd25", "5"), comparator="<", comment="Below the method's limit"),
            replace(entry("k", "5.9"), preliminary=True),
        ],
        by=clinician,
        lab_name="City Lab",
        accession_number="A-9",
        specimen_condition=haemolysed,
        comment="Drawn late",
    )
    text = exported(clinician_client, source).replace("SRC-2", "DST-1").replace(",A-9,", ",B-9,")

    preview = upload(clinician_client, text)
    assert [(row.error, row.skipped) for row in preview.context["csv"].rows] == [("", ""), ("", "")]
    confirm(clinician_client, preview)

    copied = {r.analyte.code: r for r in Result.objects.filter(patient=target)}
    assert (copied["vitd25"].entered_text, copied["vitd25"].flag, copied["vitd25"].comment) == (
        "<5",
        "L",  # every value below 5 ng/mL is low
        "Below the method's limit",
    )
    assert (copied["k"].entered_text, copied["k"].status) == ("5.9", Result.Status.PRELIMINARY)
    panel = Panel.objects.get(patient=target)
    assert (panel.comment, panel.specimen_condition) == ("Drawn late", haemolysed)


@pytest.mark.parametrize(
    ("cells", "error"),
    [
        ({"comparator": "~"}, "comparator '~' is not one Myolab stores: <, ≤, ≥ or > (empty for an exact value)."),
        (
            {"specimen_condition": "Frozen"},
            "specimen condition 'Frozen' is not in the list (allowed: Haemolysed, Lipaemic, Icteric, Clotted, "
            "Delayed in transit, or empty).",
        ),
    ],
)
def test_a_comparator_or_specimen_condition_myolab_does_not_know_is_refused(clinician_client, target, cells, error):
    preview = upload(clinician_client, ",".join(HEADER) + "\n" + row(**cells) + "\n")
    assert [r.error for r in preview.context["csv"].rows] == [error]
    assert not Result.objects.exists()
