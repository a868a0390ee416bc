"""Uploading a file of laboratory messages (issue 15): the preview, Import, the progress bar following the
background import through its small script, and the summary with the held message's link."""

import datetime

from django.test import override_settings
from playwright.sync_api import expect

from interfaces import jobs
from interfaces.models import ImportJob
from patients.models import Patient

from .conftest import check_page

MESSAGES = [
    "\r".join(
        [
            f"MSH|^~\\&|LIS|LABX|MYOLAB|CLINIC|202401151000||ORU^R01|E-{n}|P|2.5.1",
            f"PID|1||{mrn}^^^CLINIC^MR||Doe^Jane||19600501|F",
            f"OBR|1||ACC-E{n}^LABX|CHEM|||202401150830",
            "OBX|1|NM|2823-3^Potassium^LN||5.3|mmol/L|3.5-5.5|N|||F",
        ]
    )
    for n, mrn in enumerate(["E2E-1", "E2E-1", "NOBODY"], start=1)
]


def test_an_upload_is_previewed_then_followed_to_its_summary(clinician_page, clinician, patient_factory, tmp_path):
    patient_factory(mrn="E2E-1", date_of_birth=datetime.date(1960, 5, 1), sex=Patient.Sex.FEMALE, created_by=clinician)
    file = tmp_path / "batch.hl7"
    file.write_text("\n".join(MESSAGES))
    page = clinician_page
    # The worker is not running: the confirmed import waits, as when db_worker is stopped.
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}):
        page.goto("/lab-messages/upload/")
        page.get_by_label("File of HL7 v2 messages").set_input_files(file)
        page.get_by_role("main").get_by_role("button", name="Preview").click()
        expect(page.get_by_text("would be imported: 2")).to_be_visible()
        expect(page.get_by_text("would be held for review: 1")).to_be_visible()
        page.get_by_role("button", name="Import 3 messages").click()
        expect(page.get_by_role("heading", name="Waiting for the worker: 0 of 3 messages")).to_be_visible()
        check_page(page, "upload-progress")
        # The worker runs it now (in the test, the task itself): the page's script sees it end and reloads.
        job = ImportJob.objects.get()
        jobs.run_import_job.call(job.pk)
        expect(page.get_by_role("heading", name="Summary")).to_be_visible(timeout=10_000)
    expect(page.get_by_role("heading", name="Finished: 3 of 3 messages")).to_be_visible()
    expect(page.get_by_text("2 messages imported with 2 results;")).to_be_visible()
    check_page(page, "upload-summary")
    page.get_by_role("link", name="E-3").click()
    expect(page.get_by_text("No patient has the MRN NOBODY (PID-3)").first).to_be_visible()
