import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.text import age_in_years, display_name

EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)

mrn_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9./-]*$",
    "Medical record number may contain only letters, digits, '.', '/' and '-', and must start with a letter or digit.",
)


class ContributingFactor(models.Model):
    """Something about a patient that changes what a muscle-related result means (statins, diuretics…).

    Administrators extend the list in the admin; retired factors are made inactive, not deleted,
    because patients' records keep pointing at them.
    """

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self):
        return self.name


class PatientQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def with_mrn(self, *mrns: str):
        """The patients with any of these MRNs, ignoring case, through the unique index on lower(mrn)
        (patient_mrn_unique_ignoring_case; `mrn__iexact` compares UPPER() and reads every patient)."""
        return self.alias(mrn_lower=Lower("mrn")).filter(mrn_lower__in=[mrn.lower() for mrn in mrns])

    def search(self, text):
        """Patients whose MRN, given or family name contains every word of `text` (any case)."""
        queryset = self
        for word in text.split():
            queryset = queryset.filter(
                models.Q(mrn__icontains=word)
                | models.Q(given_name__icontains=word)
                | models.Q(family_name__icontains=word)
            )
        return queryset


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    mrn = models.CharField(
        "medical record number",
        max_length=32,
        validators=[mrn_validator],
        help_text="Unique in this clinic, compared ignoring case. Letters, digits, '.', '/' and '-'.",
    )
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(
        "sex (for reference ranges)",
        max_length=10,
        choices=Sex.choices,
        help_text="Chooses sex-specific reference ranges; 'other' and 'unknown' use ranges for any sex.",
    )
    notes = models.TextField(blank=True)
    contributing_factors = models.ManyToManyField(ContributingFactor, blank=True, related_name="patients")
    is_active = models.BooleanField(
        "active",
        default=True,
        help_text="Inactive patients are hidden from the patient list and read-only; every record is kept.",
    )
    # Why and by whom a patient was deactivated, shown on every page of the patient (set_patient_active).
    deactivation_reason = models.TextField(blank=True, editable=False)
    deactivated_at = models.DateTimeField(null=True, blank=True, editable=False)
    deactivated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False)
    # When anything was last recorded for this patient (registration, edit, new results):
    # the patient list sorts by it.
    last_activity_at = models.DateTimeField(default=timezone.now, editable=False)

    history = HistoricalRecords(m2m_fields=[contributing_factors])

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["family_name", "given_name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("mrn"),
                name="patient_mrn_unique_ignoring_case",
                violation_error_message="This medical record number is already used by another patient.",
            ),
            models.CheckConstraint(
                condition=models.Q(date_of_birth__gte=EARLIEST_BIRTH_DATE), name="patient_born_after_1900"
            ),
        ]
        indexes = [
            # The patient list sorted by last activity, most recent first.
            models.Index(fields=["-last_activity_at"], name="patient_last_activity_idx"),
            # The patient list sorted by name (the default), which shows active patients only: a deep page
            # (?page=900) reads this index in order instead of sorting every patient.
            models.Index(
                fields=["family_name", "given_name", "id"],
                condition=models.Q(is_active=True),
                name="patient_list_by_name_idx",
            ),
            # The patient search (PatientQuerySet.search) has trigram indexes on PostgreSQL only:
            # see migration 0004_patient_list_indexes.
        ]

    def __str__(self):
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    def get_absolute_url(self):
        # The patient page is served by guidance, the app at the top of what it shows (a name, not an import).
        return reverse("guidance:patient_page", args=[self.pk])

    @property
    def read_only_reason(self) -> str:
        """Why nothing may be recorded for this patient, or "" while they are active."""
        if self.is_active:
            return ""
        when = f" on {timezone.localtime(self.deactivated_at):%d %b %Y}" if self.deactivated_at else ""
        who = f" by {display_name(self.deactivated_by)}" if self.deactivated_by_id else ""
        why = f": {self.deactivation_reason}" if self.deactivation_reason else ""
        return (
            f"{self.full_name} was deactivated{when}{who}{why}. The record is read-only (view and export only); "
            "an administrator can reactivate the patient."
        )

    @property
    def full_name(self):
        return f"{self.given_name} {self.family_name}"

    @property
    def age(self):
        return self.age_on(timezone.localdate())

    def age_on(self, day):
        """Completed years of age on `day`."""
        return age_in_years(self.date_of_birth, day)

    def clean_fields(self, exclude=None):
        # Trim before the format check, so " MRN-1 " is stored as "MRN-1" instead of refused.
        self.mrn = (self.mrn or "").strip()
        super().clean_fields(exclude)

    def clean(self):
        errors = {}
        if self.date_of_birth:
            if self.date_of_birth > timezone.localdate():
                errors["date_of_birth"] = (
                    f"Date of birth {self.date_of_birth:%d %b %Y} is in the future; "
                    f"it must be on or before today ({timezone.localdate():%d %b %Y})."
                )
            elif self.date_of_birth < EARLIEST_BIRTH_DATE:
                errors["date_of_birth"] = (
                    f"Date of birth {self.date_of_birth:%d %b %Y} is before 1 Jan 1900; "
                    "check the year (allowed: 1 Jan 1900 to today)."
                )
        if self.mrn:
            clash = Patient.objects.with_mrn(self.mrn).exclude(pk=self.pk)
            if clash.exists():
                errors["mrn"] = (
                    f"Medical record number '{self.mrn}' is already used by another patient "
                    "(numbers are compared ignoring case)."
                )
        if errors:
            raise ValidationError(errors)


APPEND_ONLY = "The access log is append-only: its entries are never changed or deleted."


class AccessLogQuerySet(models.QuerySet):
    """The access log's rows are never changed or removed, not even in bulk."""

    def update(self, **kwargs):
        raise PermissionDenied(APPEND_ONLY)

    def delete(self):
        raise PermissionDenied(APPEND_ONLY)


class AccessLogEntry(models.Model):
    """One read of patient data: who read which patient's data, what, when and from where.

    The audit control of HIPAA §164.312(b). Written by patients.services.log_access, one row per request
    of each page and export that shows one patient's data (and per cohort export, with no patient).
    Append-only: save() refuses to change a saved row, delete() and the queryset's update() and delete()
    refuse, the admin has no add, change or delete, and on PostgreSQL a trigger refuses UPDATE and DELETE
    (migration 0007). Rows are never changed, so they keep no separate history.
    """

    class What(models.TextChoices):
        # New kinds of read (the API, the import queue) are new members here: a migration that changes
        # only the field's choices, no table change.
        PATIENT_PAGE = "patient-page", "Patient page"
        PATIENT_EDIT = "patient-edit", "Patient edit form"
        RESULT_HISTORY = "result-history", "Result history"
        FINDING = "finding", "Finding page"
        TREND_CHART = "trend-chart", "Trend chart image"
        SUMMARY = "summary", "Summary (print view)"
        SUMMARY_PDF = "summary-pdf", "Summary (PDF)"
        RESULTS_CSV = "results-csv", "Results (CSV)"
        FHIR = "fhir", "FHIR R4 bundle (JSON)"
        COHORT_CSV = "cohort-csv", "Cohort results (CSV)"
        ADMIN_PATIENT = "admin-patient", "Patient in the admin"
        ACCESS_LOG_CSV = "access-log-csv", "Access log (CSV)"
        LAB_MESSAGE = "lab-message", "Message from the laboratory"
        FHIR_API = "fhir-api", "FHIR API (a system's read)"
        CDS_HOOKS = "cds-hooks", "CDS Hooks cards (a system's request)"

    # Reads logged with no patient: those that span patients, and a laboratory's message not yet matched
    # to one (its page shows the patient as the message names them).
    WITHOUT_PATIENT = (What.COHORT_CSV, What.ACCESS_LOG_CSV, What.LAB_MESSAGE)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # No index of its own: access_log_patient_idx starts with it.
    patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="access_log",
        db_index=False,
        help_text="Empty for a read that spans patients (the cohort export, the access log export).",
    )
    what = models.CharField(max_length=20, choices=What.choices)
    accessed_at = models.DateTimeField(default=timezone.now, editable=False)
    client_ip = models.GenericIPAddressField(
        "client IP address", null=True, blank=True, help_text="Where the request came from (see the README)."
    )
    path = models.CharField(max_length=300, help_text="The address read, with its query (e.g. a cohort's dates).")
    api_client = models.CharField(
        "API client",
        max_length=100,
        blank=True,
        help_text="For a system's read through the API: the client credential's name when it read (the user is "
        "its service account).",
    )

    objects = AccessLogQuerySet.as_manager()

    class Meta:
        verbose_name = "access log entry"
        verbose_name_plural = "access log"
        ordering = ["-accessed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(patient__isnull=False)
                | models.Q(what__in=["cohort-csv", "access-log-csv", "lab-message"]),
                name="access_log_entry_names_patient",
                violation_error_message="Only a read that spans patients or an unmatched message may leave the patient empty.",
            ),
        ]
        indexes = [
            # "Who viewed this patient" on the patient's admin page, newest first.
            models.Index(fields=["patient", "-accessed_at"], name="access_log_patient_idx"),
            # The admin's log newest first, and the export of a period.
            models.Index(fields=["-accessed_at"], name="access_log_accessed_at_idx"),
        ]

    def __str__(self):
        who = self.patient.mrn if self.patient_id else "several patients"
        return f"{self.get_what_display()} of {who} by {self.user}, {self.accessed_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionDenied(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied(APPEND_ONLY)
