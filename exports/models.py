"""The export log: who took which patient's data out of Myolab, in which format, and when."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from patients.models import Patient


class PatientExport(models.Model):
    """One export of patient data: who took which patient's data out, in which format, and when.

    An append-only access log written by exports.services.record_export and read by administrators in
    the admin; rows are never changed, so they keep no separate history.
    """

    class Format(models.TextChoices):
        SUMMARY = "summary", "Summary (print view)"
        SUMMARY_PDF = "summary-pdf", "Summary (PDF)"
        RESULTS_CSV = "results-csv", "Results (CSV)"
        FHIR = "fhir", "FHIR R4 bundle (JSON)"
        COHORT_CSV = "cohort-csv", "Cohort results (CSV)"

    patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exports",
        help_text="Empty for a cohort export, which spans patients.",
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=20, choices=Format.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    detail = models.CharField(max_length=200, blank=True, help_text="What was exported, e.g. a cohort's date range.")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("export_cohort", "Can export a cohort CSV of all patients' results")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(patient__isnull=False) | models.Q(format="cohort-csv"),
                name="patient_export_names_patient",
                violation_error_message="Only a cohort export may leave the patient empty.",
            ),
        ]
        indexes = [
            # The admin's export log, newest first.
            models.Index(fields=["-created_at"], name="patient_export_created_idx"),
        ]

    def __str__(self):
        who = self.patient.mrn if self.patient_id else "cohort"
        return f"{self.get_format_display()} of {who} by {self.user}, {self.created_at:%Y-%m-%d %H:%M}"

    def clean(self):
        if self.patient_id is None and self.format != self.Format.COHORT_CSV:
            raise ValidationError(
                {"patient": f"Name the patient: a {self.get_format_display()} export is of one patient."}
            )
