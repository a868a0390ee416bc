"""An uploaded file of HL7 messages imported in the background: the job, its confirmation and its task.

`create_job` keeps a previewed file's messages in an ImportJob (nothing is imported); `confirm_job`, in
the transaction that uses up the confirmation's one-time key, queues it and enqueues `run_import_job`
once that transaction commits. The task (run by `manage.py db_worker`, django-tasks' database backend)
receives each message exactly as the listener would (`services.receive`: one transaction per message)
and counts how it ended in the job's row, which the progress page reads. A message that raises is
counted as an error and the job goes on.

A job interrupted (its worker killed, the machine restarted) is stalled: no message counted for
ImportJob.STALLED_AFTER. `resume_stalled_jobs` (run by `manage.py resume_import_jobs`, which the Procfile
runs as the worker starts) and the job page's "Resume the import" button enqueue its task again; it goes
on from the message after the last one counted, and a message received twice imports once (the listener's
rule: the same control ID gets its first answer). Each run claims the job with a token of its own in
one conditional UPDATE and counts each message only while the job is still its own, so a resumed job is
never imported by two workers at once.
"""

import logging
import secrets

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_tasks import task

from core import form_keys

from .models import ImportJob, InboundMessage
from .services import receive

logger = logging.getLogger(__name__)

# How each message's status is counted on its job.
COUNTED = {
    InboundMessage.Status.IMPORTED: "imported",
    InboundMessage.Status.SKIPPED: "skipped",
    InboundMessage.Status.HELD: "held",
    InboundMessage.Status.REJECTED: "rejected",
    InboundMessage.Status.ERROR: "errors",
}


def create_job(messages: list[str], *, file_name: str, by) -> ImportJob:
    """Keep a previewed file's (normalised) messages until they are confirmed; imports nothing. `by`'s
    previews too old to be confirmed (their one-time key has expired) are deleted: they hold a file and
    nothing else refers to them."""
    ImportJob.objects.filter(
        created_by=by, status=ImportJob.Status.PREVIEWED, created_at__lt=timezone.now() - form_keys.MAX_AGE
    ).delete()
    job = ImportJob(
        file_name=file_name[:255],
        content=ImportJob.SEPARATOR.join(messages),
        total=len(messages),
        created_by=by,
    )
    job.full_clean()
    job.save()
    return job


def confirm_job(job_id: int, *, by) -> ImportJob:
    """Queue a previewed job of `by`'s for the worker. Run it inside the transaction of the form's
    one-time key (the view's), so a second submission of the confirmation is refused."""
    job = ImportJob.objects.select_for_update().filter(pk=job_id, created_by=by).first()
    if job is None:
        raise ValidationError("That preview is not yours or no longer exists: upload the file again.")
    if job.status != ImportJob.Status.PREVIEWED:
        raise ValidationError(f"This file's import was already confirmed ({job.get_status_display().lower()}).")
    job.status, job.confirmed_at = ImportJob.Status.QUEUED, timezone.now()
    job.save(update_fields=["status", "confirmed_at"])
    transaction.on_commit(lambda: run_import_job.enqueue(job.pk))
    return job


class TakenOver(Exception):
    """Another run of the task has claimed the job (it was resumed while this one was only slow)."""


@task()
def run_import_job(job_id: int) -> dict:
    """Import the job's messages one by one, each in its own transaction; the counts when it ends. A job
    another run is importing (not stalled) is left to it."""
    now, runner = timezone.now(), secrets.token_hex(16)
    claimable = Q(status=ImportJob.Status.QUEUED) | ImportJob.stalled(now)
    claimed = ImportJob.objects.filter(claimable, pk=job_id).update(
        status=ImportJob.Status.RUNNING, started_at=Coalesce("started_at", now), progressed_at=now, runner=runner
    )
    job = ImportJob.objects.get(pk=job_id)
    if not claimed:
        return {"status": job.status}
    try:
        for text in job.messages[job.done :]:
            _import_one(job, text, runner=runner)
    except TakenOver:
        logger.warning("Import job %s: taken over by another run after %s messages", job.pk, job.done)
        return {"status": "taken over"}
    except Exception as error:  # the database went away, say: the job stops and says so
        logger.exception("Import job %s stopped", job.pk)
        ImportJob.objects.filter(pk=job.pk, runner=runner).update(
            status=ImportJob.Status.FAILED,
            finished_at=timezone.now(),
            failure=f"The import stopped after {job.done} of {job.total} messages ({type(error).__name__}).",
        )
        raise
    ImportJob.objects.filter(pk=job.pk, runner=runner).update(
        status=ImportJob.Status.FINISHED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return {name: getattr(job, name) for name in ("done", *COUNTED.values(), "results_created")}


def _import_one(job: ImportJob, text: str, *, runner: str) -> None:
    """Receive one message and count it on the job (one UPDATE, while the job is still `runner`'s); a
    message that raises counts as an error, logged with its place in the file, and the next one is
    imported."""
    created = 0
    try:
        message = receive(text, channel=InboundMessage.Channel.UPLOAD, by=job.created_by, import_job=job).message
        counter, created = COUNTED.get(message.status, "errors"), message.results_created
    except Exception:
        logger.exception("Import job %s: message %s of %s could not be received", job.pk, job.done + 1, job.total)
        counter = "errors"
    counted = ImportJob.objects.filter(pk=job.pk, runner=runner).update(
        done=models.F("done") + 1,
        results_created=models.F("results_created") + created,
        progressed_at=timezone.now(),
        **{counter: models.F(counter) + 1},
    )
    if not counted:
        raise TakenOver
    job.done += 1


def resume_job(job: ImportJob) -> None:
    """Enqueue a stalled job again (the job page's button); refused when it is not stalled."""
    if not job.is_stalled():
        raise ValidationError(
            f"This import is not stalled ({job.get_status_display().lower()}): there is nothing to resume."
        )
    run_import_job.enqueue(job.pk)


def resume_stalled_jobs() -> list[ImportJob]:
    """Enqueue every stalled job again (the worker's start: what it was importing when it stopped)."""
    stalled = list(ImportJob.objects.filter(ImportJob.stalled(timezone.now())).defer("content"))
    for job in stalled:
        run_import_job.enqueue(job.pk)
    return stalled


def jobs_for(user):
    """The import jobs `user` may see: their own, or everyone's with the permission (administrators)."""
    jobs = ImportJob.objects.select_related("created_by").defer("content")
    if user.has_perm("interfaces.view_every_importjob"):
        return jobs
    return jobs.filter(created_by=user)
