"""An uploaded file of HL7 messages imported in the background: the job's counts and progress, its
summary, a message that fails, who sees which job, a confirmation pressed twice, and the worker."""

import datetime
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from interfaces import jobs, upload
from interfaces.models import ImportJob, InboundMessage
from labs.models import Result
from patients.models import Patient

from .factories import UserFactory
from .form_keys import hidden_fields

pytestmark = pytest.mark.django_db


def oru(control, *, value="3.0", mrn="MRN-77", kind="ORU^R01"):
    return (
        f"MSH|^~\\&|LIS|LABX|MYOLAB|CLINIC|202401151000||{kind}|{control}|P|2.5.1\r"
        f"PID|1||{mrn}^^^CLINIC^MR||Doe^Jane||19600501|F\r"
        f"OBR|1||ACC-{control}^LABX|CHEM|||202401150830\r"
        f"OBX|1|NM|2823-3^Potassium^LN||{value}|mmol/L|3.5-5.1|L|||F"
    )


# Two imported, one held (unknown MRN), one rejected (not ORU^R01), one in error (a value with letters).
FILE_MESSAGES = [
    oru("J-1"),
    oru("J-2", value="4.1"),
    oru("J-3", mrn="MRN-99"),
    oru("J-4", kind="ADT^A01"),
    oru("J-5", value="4,1x"),
]


@pytest.fixture
def jane(patient_factory, clinician):
    return patient_factory(
        mrn="MRN-77", date_of_birth=datetime.date(1960, 5, 1), sex=Patient.Sex.FEMALE, created_by=clinician
    )


def a_file(messages, name="batch.hl7"):
    return SimpleUploadedFile(name, "\n".join(messages).encode(), content_type="application/octet-stream")


def preview_and_confirm(client, messages, capture):
    preview = client.post("/lab-messages/upload/", {"file": a_file(messages)})
    assert preview.status_code == 200
    fields = hidden_fields(preview)
    data = {"confirm": "1", "job": fields["job"], "form_key": fields["form_key"]}
    with capture(execute=True):
        response = client.post("/lab-messages/upload/", data, follow=True)
    return ImportJob.objects.get(pk=fields["job"]), response, data


def test_a_confirmed_upload_is_counted_message_by_message_and_summarised(
    clinician_client, clinician, jane, django_capture_on_commit_callbacks
):
    job, response, _ = preview_and_confirm(clinician_client, FILE_MESSAGES, django_capture_on_commit_callbacks)
    assert response.redirect_chain == [(f"/lab-messages/imports/{job.pk}/", 302)]
    counts = (job.status, job.total, job.done, job.imported, job.skipped, job.held, job.rejected, job.errors)
    assert counts == ("finished", 5, 5, 2, 0, 1, 1, 1)
    assert (job.results_created, job.created_by, job.file_name) == (2, clinician, "batch.hl7")
    assert job.confirmed_at <= job.started_at <= job.finished_at
    assert list(job.received_messages.order_by("id").values_list("control_id", "status")) == [
        ("J-1", "imported"),
        ("J-2", "imported"),
        ("J-3", "held"),
        ("J-4", "rejected"),
        ("J-5", "error"),
    ]
    assert Result.objects.filter(patient=jane).count() == 2

    page = clinician_client.get(f"/lab-messages/imports/{job.pk}/")
    text = page.content.decode()
    assert (
        "2 messages imported with 2 results; 0 with nothing Myolab tracks; 1 held, 1 rejected and 1 in error." in text
    )
    held, rejected, error = job.received_messages.filter(control_id__in=["J-3", "J-4", "J-5"]).order_by("id")
    for message in (held, rejected, error):
        assert f'href="/lab-messages/{message.pk}/"' in text
    assert f'href="/lab-messages/?job={job.pk}&amp;status=queue">those to review (2)</a>' in text
    assert f'href="/lab-messages/?job={job.pk}&amp;status=rejected">rejected (1)</a>' in text
    assert "import_progress.js" not in text  # over: no polling

    log = clinician_client.get(f"/lab-messages/?job={job.pk}&status=queue")
    assert [m.control_id for m in log.context["page"].object_list] == ["J-5", "J-3"]
    detail = clinician_client.get(f"/lab-messages/{held.pk}/").content.decode()
    assert f'in <a href="/lab-messages/imports/{job.pk}/">an uploaded file</a>' in detail


def test_the_progress_endpoint_and_page_follow_a_running_job(clinician_client, clinician, jane):
    job = jobs.create_job(FILE_MESSAGES, file_name="batch.hl7", by=clinician)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, done=2, imported=2, results_created=2)
    progress = clinician_client.get(f"/lab-messages/imports/{job.pk}/progress/")
    assert progress.json() == {
        "status": "running",
        "status_text": "Importing",
        "total": 5,
        "done": 2,
        "percent": 40,
        "counts": {"imported": 2, "skipped": 0, "held": 0, "rejected": 0, "errors": 0},
        "results_created": 2,
        "over": False,
        "stalled": False,
    }
    assert "no-store" in progress["Cache-Control"]
    text = clinician_client.get(f"/lab-messages/imports/{job.pk}/").content.decode()
    assert '<progress class="w-100" max="5" value="2"' in text
    assert '<script src="/static/js/import_progress.js" defer></script>' in text
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in text
    assert "Summary" not in text
    assert clinician_client.post(f"/lab-messages/imports/{job.pk}/progress/").status_code == 405


def test_a_message_that_raises_is_counted_as_an_error_and_the_job_goes_on(clinician, jane, monkeypatch, caplog):
    real_receive = jobs.receive

    def receive(text, **kwargs):
        if "J-2" in text:
            raise RuntimeError("the disk is full")
        return real_receive(text, **kwargs)

    monkeypatch.setattr(jobs, "receive", receive)
    job = jobs.create_job([oru("J-1"), oru("J-2"), oru("J-6", value="5.0")], file_name="b.hl7", by=clinician)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    outcome = jobs.run_import_job.call(job.pk)
    assert outcome == {
        "done": 3,
        "imported": 2,
        "skipped": 0,
        "held": 0,
        "rejected": 0,
        "errors": 1,
        "results_created": 2,
    }
    job.refresh_from_db()
    assert job.status == "finished"
    assert sorted(job.received_messages.values_list("control_id", flat=True)) == ["J-1", "J-6"]
    assert f"Import job {job.pk}: message 2 of 3 could not be received" in caplog.text


def interrupted(job, *, minutes_ago=10, done=1):
    """`job` as a worker killed `minutes_ago` left it, after counting (and importing) `done` messages."""
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        runner="the killed worker's",
        progressed_at=timezone.now() - datetime.timedelta(minutes=minutes_ago),
        done=done,
        imported=done,
        results_created=done,
    )


def test_an_interrupted_job_goes_on_after_the_last_message_counted(clinician, jane):
    job = jobs.create_job([oru("J-1"), oru("J-2", value="4.0")], file_name="b.hl7", by=clinician)
    # The worker stopped after counting the first message (which it had imported).
    jobs.receive(oru("J-1"), channel="upload", by=clinician, import_job=job)
    interrupted(job)
    jobs.run_import_job.call(job.pk)
    job.refresh_from_db()
    assert (job.status, job.done, job.imported, job.results_created) == ("finished", 2, 2, 2)
    assert InboundMessage.objects.count() == 2
    # A finished job run again (a task delivered twice) imports nothing more.
    assert jobs.run_import_job.call(job.pk) == {"status": "finished"}
    assert InboundMessage.objects.count() == 2


def test_a_message_received_but_not_counted_when_the_worker_stopped_is_counted_once(clinician, jane):
    job = jobs.create_job([oru("J-1"), oru("J-2", value="4.0")], file_name="b.hl7", by=clinician)
    # Killed between receiving the first message and counting it.
    jobs.receive(oru("J-1"), channel="upload", by=clinician, import_job=job)
    interrupted(job, done=0)
    jobs.run_import_job.call(job.pk)
    job.refresh_from_db()
    assert (job.status, job.done, job.imported, job.results_created) == ("finished", 2, 2, 2)
    assert (InboundMessage.objects.count(), Result.objects.filter(patient=jane).count()) == (2, 2)


def test_a_job_another_run_is_importing_is_left_to_it(clinician, jane):
    job = jobs.create_job([oru("J-1"), oru("J-2", value="4.0")], file_name="b.hl7", by=clinician)
    interrupted(job, minutes_ago=1, done=0)  # a minute ago: slow, not stalled
    assert jobs.run_import_job.call(job.pk) == {"status": "running"}
    job.refresh_from_db()
    assert (job.done, job.runner, InboundMessage.objects.count()) == (0, "the killed worker's", 0)


def test_a_run_whose_job_was_taken_over_stops_without_counting(clinician, jane, monkeypatch):
    job = jobs.create_job([oru("J-1"), oru("J-2", value="4.0"), oru("J-6")], file_name="b.hl7", by=clinician)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    real_receive = jobs.receive

    def receive(text, **kwargs):
        if "J-2" in text:  # meanwhile the job was resumed elsewhere, which claimed it
            ImportJob.objects.filter(pk=job.pk).update(runner="another run")
        return real_receive(text, **kwargs)

    monkeypatch.setattr(jobs, "receive", receive)
    assert jobs.run_import_job.call(job.pk) == {"status": "taken over"}
    job.refresh_from_db()
    # The first message counted; the second received (the other run will count it, once) and the third
    # left to the other run.
    assert (job.status, job.done, job.runner) == ("running", 1, "another run")
    assert sorted(InboundMessage.objects.values_list("control_id", flat=True)) == ["J-1", "J-2"]


def test_a_stalled_import_says_so_and_its_uploader_resumes_it(
    client, clinician, other_clinician, jane, django_capture_on_commit_callbacks
):
    job = jobs.create_job([oru("J-1"), oru("J-2", value="4.0")], file_name="b.hl7", by=clinician)
    jobs.receive(oru("J-1"), channel="upload", by=clinician, import_job=job)
    interrupted(job)
    url = f"/lab-messages/imports/{job.pk}/"
    client.force_login(clinician)
    page = client.get(url).content.decode()
    assert "the worker that was importing this file stopped" in page
    assert f'action="{url}resume/"' in page
    assert client.get(f"{url}progress/").json()["stalled"] is True
    assert client.get(f"{url}resume/").status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        resumed = client.post(f"{url}resume/", follow=True)
    assert resumed.redirect_chain == [(url, 302)]
    assert "The import of b.hl7 goes on after message 1 of 2." in resumed.content.decode()
    job.refresh_from_db()
    assert (job.status, job.done, job.imported) == ("finished", 2, 2)
    # Over now: nothing to resume, and the page no longer offers it.
    again = client.post(f"{url}resume/", follow=True).content.decode()
    assert "This import is not stalled (finished): there is nothing to resume." in again
    assert "Resume the import" not in again
    # A colleague cannot see it, so cannot resume it; a visitor is sent to sign in.
    client.force_login(other_clinician)
    assert client.post(f"{url}resume/").status_code == 404
    client.logout()
    assert client.post(f"{url}resume/")["Location"] == f"/login/?next={url}resume/"


def test_an_import_making_progress_is_not_offered_for_resuming(clinician_client, clinician, jane):
    job = jobs.create_job(FILE_MESSAGES, file_name="batch.hl7", by=clinician)
    interrupted(job, minutes_ago=1)
    page = clinician_client.get(f"/lab-messages/imports/{job.pk}/").content.decode()
    assert "Resume the import" not in page
    refused = clinician_client.post(f"/lab-messages/imports/{job.pk}/resume/", follow=True).content.decode()
    assert "This import is not stalled (importing): there is nothing to resume." in refused
    job.refresh_from_db()
    assert job.done == 1


def test_the_worker_resumes_stalled_imports_as_it_starts(clinician, jane):
    stalled = jobs.create_job([oru("J-1"), oru("J-2", value="4.0")], file_name="stalled.hl7", by=clinician)
    jobs.receive(oru("J-1"), channel="upload", by=clinician, import_job=stalled)
    interrupted(stalled)
    running = jobs.create_job([oru("J-6")], file_name="running.hl7", by=clinician)
    interrupted(running, minutes_ago=1, done=0)
    jobs.create_job([oru("J-7")], file_name="previewed.hl7", by=clinician)
    out = io.StringIO()
    call_command("resume_import_jobs", stdout=out)
    assert out.getvalue() == f"Resumed the import of stalled.hl7 (job {stalled.pk}) after 1 of 2.\n"
    statuses = dict(ImportJob.objects.values_list("file_name", "status"))
    assert statuses == {"stalled.hl7": "finished", "running.hl7": "running", "previewed.hl7": "previewed"}
    out = io.StringIO()
    call_command("resume_import_jobs", stdout=out)
    assert out.getvalue() == "No stalled import to resume.\n"


def test_pressing_import_twice_makes_one_import(clinician_client, jane, django_capture_on_commit_callbacks):
    job, _, data = preview_and_confirm(clinician_client, FILE_MESSAGES, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = clinician_client.post("/lab-messages/upload/", data, follow=True)
    assert callbacks == []  # nothing enqueued
    assert again.redirect_chain == [(f"/lab-messages/imports/{job.pk}/", 302)]
    assert [str(m) for m in again.context["messages"]][0].startswith("This form was already saved at ")
    assert (ImportJob.objects.exclude(status="previewed").count(), InboundMessage.objects.count()) == (1, 5)
    assert Result.objects.count() == 2


def test_who_sees_which_import(client, clinician, other_clinician, administrator, jane):
    mine = jobs.create_job(FILE_MESSAGES[:1], file_name="mine.hl7", by=clinician)
    theirs = jobs.create_job(FILE_MESSAGES[:1], file_name="theirs.hl7", by=other_clinician)
    ImportJob.objects.update(status=ImportJob.Status.FINISHED)
    urls = [f"/lab-messages/imports/{mine.pk}/", f"/lab-messages/imports/{mine.pk}/progress/"]
    for url in urls + ["/lab-messages/imports/"]:
        assert client.get(url).status_code == 302  # anonymous: to the login page
        assert client.get(url)["Location"].startswith("/login/")
    client.force_login(UserFactory())  # no role
    assert [client.get(url).status_code for url in urls + ["/lab-messages/imports/"]] == [403, 403, 403]
    client.force_login(other_clinician)
    assert [client.get(url).status_code for url in urls] == [404, 404]
    assert [j.file_name for j in client.get("/lab-messages/imports/").context["page"]] == ["theirs.hl7"]
    client.force_login(clinician)
    assert [client.get(url).status_code for url in urls] == [200, 200]
    assert [j.file_name for j in client.get("/lab-messages/imports/").context["page"]] == ["mine.hl7"]
    client.force_login(administrator)
    assert [client.get(url).status_code for url in urls] == [200, 200]
    listed = client.get("/lab-messages/imports/").context["page"]
    assert sorted(j.file_name for j in listed) == ["mine.hl7", "theirs.hl7"]
    assert theirs.pk != mine.pk


def test_a_clinician_cannot_confirm_a_colleagues_preview(client, clinician, other_clinician, jane):
    client.force_login(clinician)
    fields = hidden_fields(client.post("/lab-messages/upload/", {"file": a_file(FILE_MESSAGES)}))
    client.force_login(other_clinician)
    response = client.post("/lab-messages/upload/", {"confirm": "1", **fields}, follow=True)
    assert response.redirect_chain[-1][0] == "/lab-messages/upload/"
    assert ImportJob.objects.get().status == "previewed"
    assert not InboundMessage.objects.exists()


def test_the_list_of_imports_reads_a_constant_number_of_rows(client, clinician, django_assert_num_queries):
    for number in range(3):
        jobs.create_job(FILE_MESSAGES, file_name=f"{number}.hl7", by=clinician)
    ImportJob.objects.update(status=ImportJob.Status.FINISHED)
    client.force_login(clinician)
    # session, user, the user's and the groups' permissions (one query), the roles for the navigation bar; count, page
    with django_assert_num_queries(6):
        assert client.get("/lab-messages/imports/").status_code == 200
    for number in range(10):
        jobs.create_job(FILE_MESSAGES, file_name=f"more-{number}.hl7", by=clinician)
    ImportJob.objects.update(status=ImportJob.Status.FINISHED)
    with django_assert_num_queries(6):
        assert client.get("/lab-messages/imports/").status_code == 200


def test_an_upload_of_more_messages_than_allowed_is_refused(clinician_client):
    header = "MSH|^~\\&|LIS|LABX|MYOLAB|CLINIC|202401151000||ORU^R01|{}|P|2.5.1"
    content = "\r".join(header.format(n) for n in range(upload.MAX_UPLOAD_MESSAGES + 1)).encode()
    response = clinician_client.post("/lab-messages/upload/", {"file": SimpleUploadedFile("big.hl7", content)})
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == [
        "big.hl7 holds 20,001 messages; an upload may hold up to 20,000. Split the file."
    ]
    assert not ImportJob.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_database_worker_runs_a_confirmed_import(clinician, jane, roles):
    backend = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with override_settings(TASKS=backend):
        job = jobs.create_job(FILE_MESSAGES[:2], file_name="b.hl7", by=clinician)
        with transaction.atomic():
            jobs.confirm_job(job.pk, by=clinician)
        job.refresh_from_db()
        assert (job.status, job.done) == ("queued", 0)  # waiting in the database for the worker
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    job.refresh_from_db()
    assert (job.status, job.done, job.imported, job.results_created) == ("finished", 2, 2, 2)


def test_a_large_file_is_previewed_in_part_and_imported_whole(
    clinician_client, jane, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(upload, "PREVIEW_PLANNED", 3)
    monkeypatch.setattr(upload, "PREVIEW_OTHERS_SHOWN", 1)
    preview = clinician_client.post("/lab-messages/upload/", {"file": a_file(FILE_MESSAGES)})
    file_preview = preview.context["hl7"]
    assert (file_preview.total, file_preview.planned, file_preview.not_planned) == (5, 3, 2)
    assert file_preview.counts == {"imported": 2, "held": 1}  # of the three checked
    assert [one.number for one in file_preview.shown] == [1, 3]  # the first without a problem, every one with
    text = preview.content.decode()
    assert "The first 3 are checked below; the other 2 are checked as they are imported" in text
    assert text.count("Import 5 messages</button>") == 1  # a short preview: below it only
    fields = hidden_fields(preview)
    with django_capture_on_commit_callbacks(execute=True):
        clinician_client.post(
            "/lab-messages/upload/", {"confirm": "1", "job": fields["job"], "form_key": fields["form_key"]}
        )
    job = ImportJob.objects.get(pk=fields["job"])
    assert (job.done, job.imported, job.held, job.rejected, job.errors) == (5, 2, 1, 1, 1)


def test_the_preview_checks_a_file_of_a_thousand_messages_and_lists_every_problem(clinician_client, jane):
    """Up to upload.PREVIEW_PLANNED (1,000) messages are checked before anything is saved (200 were, until
    the catalogue was read once a file), and every one with a problem is listed, however many."""
    messages = [oru(f"T-{n}") for n in range(1, 301)] + [oru(f"T-{n}", mrn="MRN-99") for n in range(301, 1001)]
    preview = clinician_client.post("/lab-messages/upload/", {"file": a_file(messages)})
    file_preview = preview.context["hl7"]
    assert (file_preview.total, file_preview.planned, file_preview.not_planned) == (1000, 1000, 0)
    assert file_preview.counts == {"imported": 300, "held": 700}
    shown = [one.number for one in file_preview.shown]
    assert shown == [*range(1, 51), *range(301, 1001)]  # the first 50 without a problem, all 700 with
    text = preview.content.decode()
    assert "The first" not in text  # nothing left to be checked as it is imported
    # Confirmed above the long list as below it, with the same one-time key.
    assert text.count("Import 1000 messages</button>") == 2
    assert text.count(f'name="form_key" value="{hidden_fields(preview)["form_key"]}"') == 2


def test_the_preview_reads_the_catalogue_once_for_the_file(jane, django_assert_num_queries):
    """Each further message costs its own reads (the earlier message with its control ID, the patient, the
    panels of its accession number), not the catalogue's again."""
    upload.preview([oru("W-0")])  # the first read of the content types and such
    with django_assert_num_queries(2 + 3):
        upload.preview([oru("W-1")])
    with django_assert_num_queries(2 + 3 * 4):
        upload.preview([oru(f"W-{n}") for n in range(2, 6)])


def test_previews_too_old_to_confirm_are_deleted_when_the_user_previews_again(clinician, other_clinician):
    old = jobs.create_job(FILE_MESSAGES[:1], file_name="old.hl7", by=clinician)
    theirs = jobs.create_job(FILE_MESSAGES[:1], file_name="theirs.hl7", by=other_clinician)
    done = jobs.create_job(FILE_MESSAGES[:1], file_name="done.hl7", by=clinician)
    a_day_ago = timezone.now() - datetime.timedelta(hours=24, minutes=1)
    ImportJob.objects.update(created_at=a_day_ago)
    ImportJob.objects.filter(pk=done.pk).update(status=ImportJob.Status.FINISHED)
    recent = jobs.create_job(FILE_MESSAGES[:1], file_name="recent.hl7", by=clinician)
    assert sorted(ImportJob.objects.values_list("pk", flat=True)) == sorted([theirs.pk, done.pk, recent.pk])
    assert not ImportJob.objects.filter(pk=old.pk).exists()


def test_a_message_links_its_uploaded_file_only_for_who_may_open_it(client, clinician, other_clinician, jane):
    job = jobs.create_job([oru("L-1")], file_name="mine.hl7", by=clinician)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)  # confirmed
    jobs.run_import_job.call(job.pk)
    message = InboundMessage.objects.get()
    link = f'<a href="/lab-messages/imports/{job.pk}/">an uploaded file</a>'

    client.force_login(clinician)
    assert link in client.get(f"/lab-messages/{message.pk}/").content.decode()
    client.force_login(other_clinician)
    page = client.get(f"/lab-messages/{message.pk}/").content.decode()
    assert link not in page
    assert "in a file a colleague uploaded" in page
    assert client.get(f"/lab-messages/imports/{job.pk}/").status_code == 404


def test_a_confirmed_import_whose_task_was_lost_is_resumed_too(clinician, jane):
    lost = jobs.create_job([oru("J-1")], file_name="lost.hl7", by=clinician)
    waiting = jobs.create_job([oru("J-2", value="4.0")], file_name="waiting.hl7", by=clinician)
    ten_minutes_ago = timezone.now() - datetime.timedelta(minutes=10)
    ImportJob.objects.filter(pk=lost.pk).update(status=ImportJob.Status.QUEUED, confirmed_at=ten_minutes_ago)
    ImportJob.objects.filter(pk=waiting.pk).update(status=ImportJob.Status.QUEUED, confirmed_at=timezone.now())
    assert [job.pk for job in jobs.resume_stalled_jobs()] == [lost.pk]
    statuses = dict(ImportJob.objects.values_list("file_name", "status"))
    assert statuses == {"lost.hl7": "finished", "waiting.hl7": "queued"}
