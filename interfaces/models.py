"""What laboratories send: each HL7 v2 message as received, what it became, and the code mappings.

A message is stored (status "received") before it is processed, so one that fails is kept with its
error; processing then sets its status, its acknowledgement and what it created in one transaction
with the results themselves (interfaces.services).
"""

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from labs.models import Analyte, Result
from patients.models import Patient


class InboundMessage(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received, not yet processed"
        IMPORTED = "imported", "Imported"
        SKIPPED = "skipped", "Nothing Myolab tracks"
        HELD = "held", "Held for review"
        REJECTED = "rejected", "Rejected"
        ERROR = "error", "Error"

    class Channel(models.TextChoices):
        MLLP = "mllp", "MLLP listener"
        UPLOAD = "upload", "Upload"
        FHIR = "fhir", "FHIR API"

    # What a person may still act on in the queue (match, reject, reprocess).
    OPEN = (Status.HELD, Status.ERROR)

    raw = models.TextField("raw message", help_text="As received, segments separated by carriage returns.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    sending_application = models.CharField("sending application (MSH-3)", max_length=200, blank=True)
    sending_facility = models.CharField("sending facility (MSH-4)", max_length=200, blank=True)
    control_id = models.CharField("message control ID (MSH-10)", max_length=200, blank=True)
    message_type = models.CharField("message type (MSH-9)", max_length=40, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    ack_code = models.CharField("acknowledgement code (MSA-1)", max_length=2, blank=True)
    ack = models.TextField("acknowledgement sent", blank=True)
    errors = models.JSONField(default=list, blank=True, help_text="Why it was held, rejected or failed.")
    skipped = models.JSONField(default=list, blank=True, help_text="Observations not imported, with why.")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    results_created = models.PositiveIntegerField(default=0)
    results_changed = models.PositiveIntegerField(
        default=0, help_text="Earlier results corrected or withdrawn by this message."
    )
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who uploaded it; empty for the listener.",
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_note = models.TextField(blank=True, help_text="A person's match or rejection, with the reason.")
    import_job = models.ForeignKey(
        "ImportJob",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="received_messages",
        help_text="The uploaded file it came in, imported in the background.",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # Idempotence: a sender that resends a message (its ACK was lost) gets the first answer again.
            models.UniqueConstraint(
                fields=["sending_facility", "control_id"],
                condition=~models.Q(control_id=""),
                name="inbound_message_once_per_facility",
                violation_error_message="This facility has already sent a message with that control ID.",
            ),
        ]
        indexes = [
            # The message log filtered by status (the queue: held and failed messages), newest first.
            models.Index(fields=["status", "-received_at"], name="inbound_status_received_idx"),
        ]

    def __str__(self):
        return f"{self.sending_facility or '?'} {self.control_id or '(no control ID)'}: {self.get_status_display()}"

    @property
    def is_open(self):
        return self.status in self.OPEN


class ImportedResult(models.Model):
    """What the laboratory said about a result beside its value: its own range and flag and its notes.

    Myolab interprets every value against its own ranges; the laboratory's are kept here, as sent, so
    the message page can show both and say where the flags disagree.
    """

    message = models.ForeignKey(InboundMessage, on_delete=models.PROTECT, related_name="imported_results")
    result = models.ForeignKey(Result, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=20, help_text="created, corrected or entered-in-error")
    lab_range = models.CharField("laboratory's range (OBX-7)", max_length=100, blank=True)
    lab_flag = models.CharField("laboratory's flag (OBX-8)", max_length=20, blank=True)
    flag_disagreement = models.CharField(max_length=200, blank=True)
    notes = models.TextField("laboratory's notes (NTE)", blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.result} from {self.message}"


class CodeMapping(models.Model):
    """A laboratory's local test code (OBX-3) mapped to an analyte of the catalogue, per sending facility."""

    sending_facility = models.CharField(max_length=200, help_text="MSH-4 as the laboratory sends it, e.g. 'DEV'.")
    code = models.CharField(max_length=50, help_text="The local code in OBX-3, e.g. 'K'.")
    analyte = models.ForeignKey(Analyte, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sending_facility", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["sending_facility", "code"],
                name="code_mapping_once_per_facility",
                violation_error_message="This facility's code is already mapped.",
            ),
        ]

    def __str__(self):
        return f"{self.sending_facility} {self.code} → {self.analyte.name}"


class ImportJob(models.Model):
    """An uploaded file of HL7 messages, imported in the background message by message (interfaces.jobs).

    Created when its preview is shown (holding the file's messages, so the confirmation need not send the
    file again) and queued when a person confirms it; the worker then counts each message as it ends.
    """

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed, not confirmed"
        QUEUED = "queued", "Waiting for the worker"
        RUNNING = "running", "Importing"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Stopped by an error"

    # The messages' texts in `content` are separated by this character, which a normalised message never
    # holds (interfaces.oru.normalise strips MLLP's framing bytes).
    SEPARATOR = "\x1c"
    STALLED_AFTER = datetime.timedelta(minutes=5)

    file_name = models.CharField(max_length=255)
    content = models.TextField(help_text="The file's messages, normalised, separated by 0x1C.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREVIEWED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0, help_text="Messages in the file.")
    done = models.PositiveIntegerField(default=0, help_text="Messages processed so far.")
    imported = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Accepted, but nothing Myolab tracks.")
    held = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0, help_text="Messages in error, or that could not be processed.")
    results_created = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True, help_text="Why the job stopped, if it did.")
    # Which run of the task is importing (interfaces.jobs): a run that finds another has taken the job
    # over stops, so a resumed job is never imported by two workers at once.
    runner = models.CharField(max_length=32, blank=True, editable=False)
    progressed_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the import last counted a message (or started)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("view_every_importjob", "Can see every user's uploads and their imports")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done__lte=models.F("total")), name="import_job_done_within_total"
            ),
        ]

    def __str__(self):
        return f"{self.file_name}: {self.get_status_display().lower()} ({self.done} of {self.total})"

    @property
    def messages(self) -> list[str]:
        return self.content.split(self.SEPARATOR) if self.content else []

    @property
    def last_progress(self):
        """When the import last counted a message, else when it was confirmed (then queued), else created."""
        return self.progressed_at or self.confirmed_at or self.created_at

    def is_stalled(self) -> bool:
        """Confirmed but making no progress for STALLED_AFTER: its worker was stopped or lost the task.
        (Importing one message takes well under a second, so minutes without one mean it stopped.) The
        same rule as `stalled()`, for a job already read."""
        if self.status not in (self.Status.QUEUED, self.Status.RUNNING):
            return False
        return self.last_progress < timezone.now() - self.STALLED_AFTER

    @classmethod
    def stalled(cls, now) -> models.Q:
        """The jobs stalled at `now`, as a filter: is_stalled's rule, for the database to apply."""
        cutoff = now - cls.STALLED_AFTER
        no_progress = models.Q(progressed_at__isnull=True)
        return models.Q(status__in=(cls.Status.QUEUED, cls.Status.RUNNING)) & (
            models.Q(progressed_at__lt=cutoff)
            | (no_progress & models.Q(confirmed_at__lt=cutoff))
            | (no_progress & models.Q(confirmed_at__isnull=True, created_at__lt=cutoff))
        )

    @property
    def is_over(self) -> bool:
        return self.status in (self.Status.FINISHED, self.Status.FAILED)

    @property
    def percent(self) -> int:
        return 100 if not self.total else self.done * 100 // self.total
