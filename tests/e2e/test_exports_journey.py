"""Journey 1, the end: a clinician opens a patient's summary and downloads the PDF, CSV and FHIR exports.

Once the patient page links the exports, start from there instead of the summary's address.
"""

import csv
import datetime
import io
import json

from django.utils import timezone
from playwright.sync_api import expect

from .conftest import check_page


def download(page, links, name):
    """Click the download link `name` among `links`; return the file's suggested name and its bytes."""
    with page.expect_download() as info:
        links.get_by_role("link", name=name, exact=True).click()
    return info.value.suggested_filename, info.value.path().read_bytes()


def test_clinician_downloads_the_pdf_csv_and_fhir_exports(clinician_page, patient_factory, clinician, record):
    page = clinician_page
    patient = patient_factory(mrn="MRN-00611", given_name="Iris", family_name="Pemberton", created_by=clinician)
    collected = timezone.make_aware(datetime.datetime(2025, 6, 2, 8, 15))
    record(patient, {"k": ("2.5", "mmol/L"), "mg": ("0.55", "mmol/L")}, collected_at=collected)

    page.goto(f"/patients/{patient.pk}/summary/")
    expect(page.get_by_role("heading", name="Iris Pemberton", level=1)).to_be_visible()
    check_page(page, "summary")
    exports = page.get_by_role("navigation", name="Export Iris Pemberton's results")
    today = f"{timezone.localdate():%Y-%m-%d}"

    filename, pdf = download(page, exports, "PDF")
    assert filename == f"myolab-MRN-00611-summary-{today}.pdf"
    assert pdf.startswith(b"%PDF-")

    filename, data = download(page, exports, "CSV")
    assert filename == f"myolab-MRN-00611-results-{today}.csv"
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    potassium = next(row for row in rows if row["analyte"] == "Potassium")
    assert (len(rows), potassium["patient MRN"], potassium["LOINC"]) == (2, "MRN-00611", "2823-3")
    assert (potassium["value as entered"], potassium["unit as entered"]) == ("2.5", "mmol/L")
    assert (potassium["reference range applied"], potassium["flag"]) == ("3.5–5.2 mmol/L", "LL")
    assert potassium["collected at"] == "2025-06-02T08:15:00+01:00"  # British Summer Time

    filename, data = download(page, exports, "FHIR")
    assert filename == f"myolab-MRN-00611-fhir-{today}.json"
    bundle = json.loads(data)
    observations = [
        entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == "Observation"
    ]
    magnesium = next(obs for obs in observations if obs["code"]["coding"][0]["code"] == "19123-9")
    # 0.55 mmol/L × 2.431 = 1.33705 mg/dL, stored to four places rounding half up.
    assert magnesium["valueQuantity"] == {
        "value": 1.3371,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert magnesium["interpretation"][0]["coding"][0]["code"] == "L"
