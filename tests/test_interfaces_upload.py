"""Uploading a file of HL7 messages: a preview that saves nothing, then the import, and what is refused."""

import datetime
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from interfaces import upload
from interfaces.models import CodeMapping, InboundMessage
from labs.models import Result
from patients.models import Patient

from .factories import UserFactory
from .form_keys import hidden_fields

SAMPLES = Path(__file__).parent / "data" / "hl7"
pytestmark = pytest.mark.django_db


def oru(control, value="3.0"):
    return (
        f"MSH|^~\\&|LIS|LABX|MYOLAB|CLINIC|202401151000||ORU^R01|{control}|P|2.5.1\n"
        "PID|1||MRN-77^^^CLINIC^MR||Doe^Jane||19600501|F\n"
        f"OBR|1||ACC-{control}^LABX|CHEM|||202401150830\n"
        f"OBX|1|NM|2823-3^Potassium^LN||{value}|mmol/L|3.5-5.1|L|||F\n"
    )


@pytest.fixture
def jane(patient_factory, clinician):
    return patient_factory(
        mrn="MRN-77", date_of_birth=datetime.date(1960, 5, 1), sex=Patient.Sex.FEMALE, created_by=clinician
    )


def a_file(content: bytes, name="results.hl7"):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


# A UTF-8 byte-order mark, MLLP framing around the second message, LF between segments, and an unknown MRN.
FILE = ("\ufeff" + oru("U-1") + "\x0b" + oru("U-2", value="4.0").replace("MRN-77", "MRN-99") + "\x1c\r").encode()


def test_who_may_upload(client, clinician, administrator):
    assert client.get("/lab-messages/upload/").status_code == 302
    for user, status in [(UserFactory(), 403), (administrator, 403), (clinician, 200)]:
        client.force_login(user)
        assert client.get("/lab-messages/upload/").status_code == status
        assert client.post("/lab-messages/upload/", {"file": a_file(FILE)}).status_code == status


def test_the_preview_lists_each_message_and_saves_nothing(clinician_client, jane):
    response = clinician_client.post("/lab-messages/upload/", {"file": a_file(FILE)})
    assert response.status_code == 200
    previews = response.context["hl7"].shown
    assert [(p.plan.header.control_id, p.plan.status, p.plan.patient) for p in previews] == [
        ("U-1", "imported", jane),
        ("U-2", "held", None),
    ]
    text = response.content.decode()
    assert "Potassium: 3 mmol/L" in text
    assert "No patient has the MRN MRN-99 (PID-3): match it to a patient or register one." in text
    assert (InboundMessage.objects.count(), Result.objects.count()) == (0, 0)


def confirmation(preview) -> dict:
    """What the preview's Import button sends: the job, its one-time key (and the CSRF token)."""
    fields = hidden_fields(preview)
    return {"job": fields["job"], "form_key": fields["form_key"]}


def confirm(client, preview):
    """Press the preview's Import button (its job and one-time key)."""
    return client.post("/lab-messages/upload/", {"confirm": "1", **confirmation(preview)}, follow=True)


def test_confirming_imports_every_message_and_says_how_each_ended(
    clinician_client, clinician, jane, django_capture_on_commit_callbacks
):
    preview = clinician_client.post("/lab-messages/upload/", {"file": a_file(FILE)})
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(clinician_client, preview)
    job = response.context["job"]
    assert (job.status, job.total, job.done, job.imported, job.held) == ("queued", 2, 0, 0, 0)  # before the worker
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.imported, job.held, job.results_created) == ("finished", 2, 2, 1, 1, 1)
    messages = InboundMessage.objects.order_by("control_id")
    assert [(m.control_id, m.status, m.channel, m.received_by) for m in messages] == [
        ("U-1", "imported", "upload", clinician),
        ("U-2", "held", "upload", clinician),
    ]
    assert Result.objects.get().updated_by == clinician


def test_the_samples_preview_as_they_import(clinician_client, patient_factory, clinician, analytes):
    patient_factory(mrn="002993817", date_of_birth=datetime.date(1952, 1, 1), sex="male", created_by=clinician)
    for code, analyte in [("K", "k"), ("CA", "ca"), ("ALB", "alb")]:
        CodeMapping.objects.create(sending_facility="DEV", code=code, analyte=analytes[analyte])
    content = b"\n".join(path.read_bytes() for path in sorted(SAMPLES.glob("*.hl7")))
    response = clinician_client.post("/lab-messages/upload/", {"file": a_file(content)})
    assert [p.plan.status for p in response.context["hl7"].shown] == [
        "rejected",
        "rejected",
        "held",
        "skipped",
        "rejected",
        "imported",
        "skipped",
    ]


def test_a_confirmation_for_another_job_imports_nothing(clinician_client, jane):
    preview = clinician_client.post("/lab-messages/upload/", {"file": a_file(FILE)})
    data = confirmation(preview)
    for job in ["999999", "abc", "1" * 40, ""]:
        response = clinician_client.post("/lab-messages/upload/", {**data, "confirm": "1", "job": job}, follow=True)
        assert response.redirect_chain[-1][0] == "/lab-messages/upload/"
        assert [str(m) for m in response.context["messages"]] == [
            "One-time form key: it belongs to another form (another patient's, another page or another user). "
            "Nothing was saved; check the entries and save again (the form now has a new key)."
        ]
    assert not InboundMessage.objects.exists()


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (
            b"name,value\nK,3.1\n",
            "notes.csv is neither HL7 v2 nor Myolab's results CSV: an HL7 file starts with an MSH segment (or a "
            "batch header FHS/BHS), framed for MLLP or not; a results CSV starts with the header of Myolab's export.",
        ),
        (
            b"MSH|" + b"x" * upload.MAX_UPLOAD_BYTES,
            "notes.csv is 20.0 MB; an upload may be up to 20 MB. Send larger batches through the MLLP listener, or "
            "split the file.",
        ),
    ],
)
def test_a_file_that_is_not_hl7_or_too_large_is_refused(clinician_client, content, error):
    response = clinician_client.post("/lab-messages/upload/", {"file": a_file(content, name="notes.csv")})
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == [error]
    assert not InboundMessage.objects.exists()
