import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.text import plain
from patients.models import Patient

from .interpretation import ABNORMAL_FLAGS, CRITICAL_FLAGS, Comparator, Flag, LabRange, Limits, places_to_show

# Room for CK up to 1,000,000 U/L with four decimals, and for conversion factors like 0.4006.
VALUE_DIGITS = {"max_digits": 14, "decimal_places": 4}
# Values are stored with VALUE_DIGITS' 4 decimal places: no unit may take or show more.
MAX_DECIMAL_PLACES = VALUE_DIGITS["decimal_places"]
# A reference range's age band is in whole years, from birth to this (no one is older).
MAX_AGE_YEARS = 150

loinc_validator = RegexValidator(r"^\d{1,7}-\d$", "A LOINC code looks like 2823-3 (digits, a hyphen, one check digit).")


def too_many_decimal_places(places) -> str | None:
    """What is wrong with a number of decimal places to take or show, or None if nothing is."""
    if places is not None and places > MAX_DECIMAL_PLACES:
        return f"{places} decimal places is more than values are stored with: choose 0 to {MAX_DECIMAL_PLACES}."
    return None


class Analyte(models.Model):
    """One entry of the catalogue: what is measured, how it is coded, and what values are believable."""

    code = models.SlugField(max_length=20, unique=True, help_text="Short code used in the app, e.g. 'k'.")
    name = models.CharField(max_length=100, unique=True)
    loinc = models.CharField("LOINC code", max_length=10, blank=True, validators=[loinc_validator])
    canonical_unit = models.CharField(
        max_length=20, help_text="UCUM unit values are stored and compared in, e.g. 'mmol/L'."
    )
    display_decimal_places = models.PositiveSmallIntegerField(
        default=1, help_text="Decimal places shown for values in the canonical unit."
    )
    plausible_low = models.DecimalField(
        **VALUE_DIGITS,
        help_text="Values below this (canonical unit) are refused as a probable typo or wrong unit.",
    )
    plausible_high = models.DecimalField(
        **VALUE_DIGITS,
        help_text="Values above this (canonical unit) are refused as a probable typo or wrong unit.",
    )
    sort_order = models.PositiveSmallIntegerField(default=100)
    active = models.BooleanField(default=True, help_text="Inactive analytes cannot be entered; old results stay.")
    changed_at = models.DateTimeField(default=timezone.now, editable=False)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["sort_order", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(plausible_low__lt=models.F("plausible_high")),
                name="analyte_plausible_low_below_high",
                violation_error_message="The plausible low limit must be below the plausible high limit.",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.canonical_unit})"

    def clean(self):
        errors = {}
        low, high = self.plausible_low, self.plausible_high
        if low is not None and low < 0:
            errors["plausible_low"] = (
                f"The plausible low limit ({plain(low)}) is negative; a lab value cannot be below zero: enter 0 or more."
            )
        elif low is not None and high is not None and low >= high:
            errors["plausible_high"] = f"The plausible high limit must be above the low limit ({plain(low)})."
        if message := too_many_decimal_places(self.display_decimal_places):
            errors["display_decimal_places"] = message
        if errors:
            raise ValidationError(errors)

    def format_value(self, value):
        """`value` in the canonical unit, shown with the analyte's display precision."""
        if value is None:
            return ""
        return f"{value:.{self.display_decimal_places}f}"


class AnalyteUnit(models.Model):
    """A unit an analyte may be entered in, and how to convert it: canonical = value × factor."""

    analyte = models.ForeignKey(Analyte, on_delete=models.PROTECT, related_name="units")
    unit = models.CharField(max_length=20, help_text="UCUM unit, e.g. 'nmol/L'.")
    factor = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        help_text="Multiply a value in this unit by this to get the canonical unit.",
    )
    decimal_places = models.PositiveSmallIntegerField(
        default=2, help_text="Most decimal places accepted for a value entered in this unit."
    )
    label = models.CharField(
        max_length=20, blank=True, help_text="The unit as lab reports write it, e.g. 'mEq/L' (empty: the UCUM unit)."
    )
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["analyte", "-active", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["analyte", "unit"],
                name="analyte_unit_unique",
                violation_error_message="This analyte already accepts that unit.",
            ),
            models.CheckConstraint(
                condition=models.Q(factor__gt=0),
                name="analyte_unit_factor_positive",
                violation_error_message="The conversion factor must be greater than zero.",
            ),
        ]

    def __str__(self):
        return f"{self.unit} (× {self.factor.normalize()} → {self.analyte.canonical_unit})"

    @property
    def shown(self):
        """The unit as people read it on lab reports (the UCUM code stays for storage and FHIR)."""
        return self.label or self.unit

    def clean(self):
        if message := too_many_decimal_places(self.decimal_places):
            raise ValidationError({"decimal_places": message})


class ReferenceRangeQuerySet(models.QuerySet):
    def used(self):
        """Ranges that have been applied to at least one result (never edited in place)."""
        return self.filter(models.Exists(Result.objects.filter(reference_range=models.OuterRef("pk"))))


# A reference range takes effect from 1900 (older results are not entered) to five years ahead (a range
# announced in advance); a date outside is a typing slip, such as 0001-01-01 or 9999-12-31.
EARLIEST_EFFECTIVE_FROM = datetime.date(1900, 1, 1)
EFFECTIVE_FROM_YEARS_AHEAD = 5


def latest_effective_from():
    today = timezone.localdate()
    return datetime.date(today.year + EFFECTIVE_FROM_YEARS_AHEAD, 12, 31)


class ReferenceRange(models.Model):
    """Normal and critical limits for an analyte, optionally by sex and age band, from a date on.

    Rows with the same analyte, sex and age band are versions: the latest one effective on a result's
    collection date applies. A version that has been applied to results is never edited; a change is
    saved as a new version (labs.services.revise_reference_range).
    """

    class Sex(models.TextChoices):
        ANY = "", "Any sex"
        FEMALE = Patient.Sex.FEMALE.value, "Female"
        MALE = Patient.Sex.MALE.value, "Male"

    analyte = models.ForeignKey(Analyte, on_delete=models.PROTECT, related_name="ranges")
    sex = models.CharField(max_length=10, choices=Sex.choices, blank=True, default=Sex.ANY)
    age_min_years = models.PositiveSmallIntegerField(
        "minimum age (years, inclusive)", default=0, help_text="Completed years on the collection date."
    )
    age_max_years = models.PositiveSmallIntegerField(
        "maximum age (years, exclusive)", null=True, blank=True, help_text="Empty for no upper age limit."
    )
    normal_low = models.DecimalField(**VALUE_DIGITS, null=True, blank=True, help_text="Empty for no lower limit.")
    normal_high = models.DecimalField(**VALUE_DIGITS, null=True, blank=True, help_text="Empty for no upper limit.")
    critical_low = models.DecimalField(**VALUE_DIGITS, null=True, blank=True)
    critical_high = models.DecimalField(**VALUE_DIGITS, null=True, blank=True)
    effective_from = models.DateField(help_text="Results collected on or after this date use this version.")
    source = models.TextField(blank=True, help_text="Where these limits come from (lab, guideline, paper).")
    changed_at = models.DateTimeField(default=timezone.now, editable=False)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    history = HistoricalRecords()

    objects = ReferenceRangeQuerySet.as_manager()

    class Meta:
        ordering = ["analyte", "sex", "age_min_years", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["analyte", "sex", "age_min_years", "age_max_years", "effective_from"],
                name="reference_range_one_version_per_date",
                violation_error_message="A range for this analyte, sex and age band already starts on that date.",
            ),
            models.CheckConstraint(
                condition=models.Q(normal_low__isnull=True)
                | models.Q(normal_high__isnull=True)
                | models.Q(normal_low__lt=models.F("normal_high")),
                name="reference_range_low_below_high",
                violation_error_message="The normal low limit must be below the normal high limit.",
            ),
            models.CheckConstraint(
                condition=models.Q(critical_low__isnull=True)
                | models.Q(normal_low__isnull=True)
                | models.Q(critical_low__lt=models.F("normal_low")),
                name="reference_range_critical_low_outside_normal",
                violation_error_message="The critical low limit must be below the normal low limit.",
            ),
            models.CheckConstraint(
                condition=models.Q(critical_high__isnull=True)
                | models.Q(normal_high__isnull=True)
                | models.Q(critical_high__gt=models.F("normal_high")),
                name="reference_range_critical_high_outside_normal",
                violation_error_message="The critical high limit must be above the normal high limit.",
            ),
            models.CheckConstraint(
                condition=models.Q(age_max_years__isnull=True) | models.Q(age_min_years__lt=models.F("age_max_years")),
                name="reference_range_age_band_not_empty",
                violation_error_message="The maximum age must be above the minimum age.",
            ),
        ]
        indexes = [
            # Choosing the range for a result: all versions of one analyte's ranges.
            models.Index(fields=["analyte", "effective_from"], name="refrange_analyte_effective_idx"),
        ]

    def __str__(self):
        return f"{self.analyte.name}: {self.describe()} ({self.applies_to_text()}, from {self.effective_from:%d %b %Y})"

    @property
    def limits(self):
        return Limits(self.normal_low, self.normal_high, self.critical_low, self.critical_high)

    def describe(self):
        return describe_limits(self.limits, self.analyte)

    def applies_to_text(self):
        who = self.get_sex_display() if self.sex else "any sex"
        if self.age_max_years is None:
            return f"{who}, age {self.age_min_years}+"
        return f"{who}, age {self.age_min_years}–{self.age_max_years - 1}"

    def clean(self):
        errors = {}
        for name in ("normal_low", "normal_high", "critical_low", "critical_high"):
            value = getattr(self, name)
            if value is not None and value < 0:
                label = self._meta.get_field(name).verbose_name
                errors[name] = (
                    f"The {label} limit ({plain(value)}) is negative; a lab value cannot be below zero: enter 0 or more."
                )
        for name in ("age_min_years", "age_max_years"):
            value = getattr(self, name)
            if value is not None and value > MAX_AGE_YEARS:
                label = self._meta.get_field(name).verbose_name
                errors[name] = f"{label.capitalize()}: {value} is not an age; enter 0 to {MAX_AGE_YEARS} years."
        if errors:
            raise ValidationError(errors)
        latest = latest_effective_from()
        if self.effective_from and not EARLIEST_EFFECTIVE_FROM <= self.effective_from <= latest:
            errors["effective_from"] = (
                f"Effective date {self.effective_from.isoformat()} is out of range: choose a date from "
                f"{EARLIEST_EFFECTIVE_FROM:%d %b %Y} to {latest:%d %b %Y}."
            )
        low, high = self.normal_low, self.normal_high
        if low is None and high is None:
            errors["normal_low"] = "Give a normal low limit, a normal high limit, or both."
        if low is not None and high is not None and low >= high:
            errors["normal_high"] = (
                f"The normal high limit ({plain(high)}) must be above the normal low limit ({plain(low)})."
            )
        if self.critical_low is not None and low is not None and self.critical_low >= low:
            errors["critical_low"] = (
                f"The critical low limit ({plain(self.critical_low)}) must be below the normal low limit ({plain(low)})."
            )
        if self.critical_high is not None and high is not None and self.critical_high <= high:
            errors["critical_high"] = (
                f"The critical high limit ({plain(self.critical_high)}) must be above the normal high limit ({plain(high)})."
            )
        if self.age_max_years is not None and self.age_max_years <= self.age_min_years:
            errors["age_max_years"] = (
                f"The maximum age ({self.age_max_years}) must be above the minimum age ({self.age_min_years})."
            )
        if not errors and self.analyte_id and self.effective_from:
            overlapping = [
                other
                for other in ReferenceRange.objects.filter(
                    analyte_id=self.analyte_id, sex=self.sex, effective_from=self.effective_from
                ).exclude(pk=self.pk)
                if bands_overlap(self, other)
            ]
            if overlapping:
                errors["age_min_years"] = (
                    f"This age band overlaps another range for the same analyte and sex starting on the same "
                    f"date: {overlapping[0].applies_to_text()}. Change the band or the effective date."
                )
        if errors:
            raise ValidationError(errors)


def bands_overlap(a, b):
    a_max = a.age_max_years if a.age_max_years is not None else 10**6
    b_max = b.age_max_years if b.age_max_years is not None else 10**6
    return a.age_min_years < b_max and b.age_min_years < a_max


def describe_limits(limits: Limits, analyte: Analyte) -> str:
    """Human-readable normal range, e.g. '3.5–5.2 mmol/L', '≤ 80.0 ng/mL', '≥ 20.0 ng/mL'."""
    fmt, unit = analyte.format_value, analyte.canonical_unit

    if limits.normal_low is not None and limits.normal_high is not None:
        text = f"{fmt(limits.normal_low)}–{fmt(limits.normal_high)} {unit}"
    elif limits.normal_low is not None:
        text = f"≥ {fmt(limits.normal_low)} {unit}"
    elif limits.normal_high is not None:
        text = f"≤ {fmt(limits.normal_high)} {unit}"
    else:
        return "no reference range"
    return text


class SpecimenCondition(models.Model):
    """What the lab says about the sample itself (haemolysed, lipaemic…): a short list administrators keep."""

    code = models.SlugField(max_length=30, unique=True, help_text="Short code used by guidance, e.g. 'haemolysed'.")
    name = models.CharField(max_length=60, unique=True)
    sort_order = models.PositiveSmallIntegerField(default=100)
    active = models.BooleanField(
        default=True, help_text="Inactive conditions are no longer offered; old panels keep theirs."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self):
        return self.name


# A comment is a sentence or a short paragraph from the report, not a document.
COMMENT_LENGTH = 2000
COMMENT_LIMIT = MaxLengthValidator(
    COMMENT_LENGTH, f"A comment takes at most {COMMENT_LENGTH} characters (this one has %(show_value)d)."
)


class PanelQuerySet(models.QuerySet):
    def with_accession(self, lab_name: str, *accession_numbers: str):
        """This lab's panels with any of these accession numbers, ignoring case, through the unique index
        on (lower(lab_name), lower(accession_number)) (panel_accession_unique_per_lab, partial: hence the
        `exclude`, which lets PostgreSQL use it; `__iexact` compares UPPER() and read every panel, 5–20 ms
        a look-up at 20,000 panels)."""
        return (
            self.alias(lab_lower=Lower("lab_name"), accession_lower=Lower("accession_number"))
            .filter(lab_lower=lab_name.lower(), accession_lower__in=[number.lower() for number in accession_numbers])
            .exclude(accession_number="")
        )


class Panel(models.Model):
    """A set of results collected together and entered in one go."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual entry"
        IMPORT = "import", "Imported"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="panels")
    collected_at = models.DateTimeField("collected at")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    lab_name = models.CharField(max_length=100, blank=True)
    accession_number = models.CharField(max_length=50, blank=True, help_text="Unique per lab when given.")
    specimen_condition = models.ForeignKey(
        SpecimenCondition, on_delete=models.PROTECT, null=True, blank=True, related_name="panels"
    )
    comment = models.TextField(
        blank=True, validators=[COMMENT_LIMIT], help_text="The lab's or the clinician's comment."
    )
    entered_at = models.DateTimeField(default=timezone.now, editable=False)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    objects = PanelQuerySet.as_manager()

    class Meta:
        ordering = ["-collected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                Lower("lab_name"),
                Lower("accession_number"),
                condition=~models.Q(accession_number=""),
                name="panel_accession_unique_per_lab",
                violation_error_message="This lab's accession number has already been entered.",
            ),
        ]
        indexes = [
            # The worklist's "recently entered panels".
            models.Index(fields=["-entered_at"], name="panel_entered_idx"),
        ]

    def __str__(self):
        return f"Panel for {self.patient} collected {self.collected_at:%Y-%m-%d %H:%M}"


class ResultQuerySet(models.QuerySet):
    def valid(self):
        """Results that count clinically: not marked entered in error."""
        return self.exclude(status=Result.Status.ENTERED_IN_ERROR)

    def abnormal(self):
        return self.valid().filter(flag__in=ABNORMAL_FLAGS)

    def with_previous(self):
        """Each result with the patient's previous valid result of the same test (collected strictly
        earlier; the newest such): `previous_id`, `previous_value`, `previous_at`, `previous_comparator`, None
        when there is none. Delta checks compare the two (labs.deltas); four subqueries on
        result_patient_analyte_idx."""
        previous = (
            Result.objects.valid()
            .filter(
                patient_id=models.OuterRef("patient_id"),
                analyte_id=models.OuterRef("analyte_id"),
                collected_at__lt=models.OuterRef("collected_at"),
            )
            .order_by("-collected_at", "-id")
        )
        return self.annotate(
            previous_id=models.Subquery(previous.values("pk")[:1]),
            previous_value=models.Subquery(previous.values("value")[:1]),
            previous_at=models.Subquery(previous.values("collected_at")[:1]),
            previous_comparator=models.Subquery(previous.values("comparator")[:1]),
        )


class Result(models.Model):
    """One analyte's value in a panel, with the interpretation frozen at the time it was made.

    The range applied is kept both as a link to the version used and as a snapshot of its limits, so
    a later change to the ranges never silently changes what a result said.
    """

    class Status(models.TextChoices):
        FINAL = "final", "Final"
        CORRECTED = "corrected", "Corrected"
        ENTERED_IN_ERROR = "entered-in-error", "Entered in error"
        # Sent by a laboratory before its final result (HL7 OBX-11 P): it counts, and opens findings, as a
        # final one does (a critical preliminary potassium must not wait); the final result replaces it.
        PRELIMINARY = "preliminary", "Preliminary"

    Flag = Flag

    panel = models.ForeignKey(Panel, on_delete=models.PROTECT, related_name="results")
    # Copied from the panel so that per-patient listings and trends read one indexed table.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="results")
    collected_at = models.DateTimeField()
    analyte = models.ForeignKey(Analyte, on_delete=models.PROTECT, related_name="results")
    # A censored value ("<5", below the lab's detection limit) keeps its comparator beside the number; the
    # number is both values' (as entered and canonical) limit.
    comparator = models.CharField(max_length=2, choices=Comparator.choices, blank=True, default=Comparator.EXACT)
    value_entered = models.DecimalField("value as entered", **VALUE_DIGITS)
    unit_entered = models.CharField("unit as entered", max_length=20)
    value = models.DecimalField("value in canonical unit", **VALUE_DIGITS)
    flag = models.CharField(max_length=3, choices=Flag.choices)
    reference_range = models.ForeignKey(
        ReferenceRange, on_delete=models.PROTECT, null=True, blank=True, related_name="results"
    )
    range_low = models.DecimalField(**VALUE_DIGITS, null=True, blank=True)
    range_high = models.DecimalField(**VALUE_DIGITS, null=True, blank=True)
    range_critical_low = models.DecimalField(**VALUE_DIGITS, null=True, blank=True)
    range_critical_high = models.DecimalField(**VALUE_DIGITS, null=True, blank=True)
    # Empty: the normal limits are Myolab's default range (reference_range). Otherwise they are the
    # laboratory's own, sent with the value (HL7 OBX-7): whose, and what Myolab's default said (a snapshot,
    # like the limits, so the comparison shown never changes).
    range_source = models.CharField(
        max_length=200,
        blank=True,
        help_text="Whose normal limits these are when they are the laboratory's (empty: Myolab's default range).",
    )
    range_default = models.CharField(
        max_length=100, blank=True, help_text="Myolab's default range for comparison, when the laboratory's applies."
    )
    comment = models.TextField(blank=True, validators=[COMMENT_LIMIT], help_text="A comment on this result alone.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.FINAL)
    status_reason = models.TextField(blank=True, help_text="Why the result was corrected or marked in error.")
    # Set by Django on every save() and bulk insert, so no writer can forget it: the trend-chart and FHIR
    # caches are keyed on it (labs.trends, exports.fhir).
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    objects = ResultQuerySet.as_manager()

    class Meta:
        ordering = ["-collected_at", "analyte__sort_order"]
        constraints = [
            models.UniqueConstraint(
                fields=["panel", "analyte"],
                name="result_one_per_analyte_per_panel",
                violation_error_message="This panel already has a result for that analyte.",
            ),
            models.CheckConstraint(
                condition=models.Q(value_entered__gte=0) & models.Q(value__gte=0),
                name="result_value_not_negative",
                violation_error_message="A lab value cannot be negative.",
            ),
        ]
        indexes = [
            # The patient page: a patient's results, newest first.
            models.Index(fields=["patient", "-collected_at"], name="result_patient_collected_idx"),
            # Trend charts and retest checks: one analyte's results for a patient over time.
            models.Index(fields=["patient", "analyte", "collected_at"], name="result_patient_analyte_idx"),
        ]

    def __str__(self):
        return f"{self.analyte.name} {self.entered_text} {self.unit_entered} ({self.get_flag_display()})"

    @property
    def limits(self):
        return Limits(self.range_low, self.range_high, self.range_critical_low, self.range_critical_high)

    @property
    def range_text(self):
        """The normal range applied, and where it comes from when it is the laboratory's: "3.5–5.5 mmol/L
        (range from LABX (OBX-7 '3.5-5.5'); Myolab default 3.5–5.2 mmol/L)"."""
        text = describe_limits(self.limits, self.analyte)
        return f"{text} ({self.range_origin})" if self.range_source else text

    @property
    def range_origin(self) -> str:
        """ "range from LABX (OBX-7 '3.5-5.5'), Myolab default 3.5–5.2 mmol/L", or "" for Myolab's own."""
        if not self.range_source:
            return ""
        return f"range from {self.range_source}, Myolab default {self.range_default}"

    @property
    def lab_range(self) -> LabRange | None:
        """The laboratory's limits this result was read against, if they were (kept on a correction)."""
        if not self.range_source:
            return None
        return LabRange(self.range_low, self.range_high, self.range_source)

    @property
    def is_entered_in_error(self):
        return self.status == self.Status.ENTERED_IN_ERROR

    @property
    def is_abnormal(self):
        return self.status != self.Status.ENTERED_IN_ERROR and self.flag in ABNORMAL_FLAGS

    @property
    def is_critical(self):
        return self.status != self.Status.ENTERED_IN_ERROR and self.flag in CRITICAL_FLAGS

    @property
    def comparator_symbol(self):
        """ "<", "≤", "≥", ">" or "" (exact), as lab reports print them."""
        return Comparator(self.comparator).label if self.comparator else ""

    @property
    def display_value(self):
        """The canonical value as shown everywhere, with its comparator when censored ("<5.0"), and with
        the precision its flag needs (labs.interpretation.places_to_show: 10.02 beside "high, 8.6–10.0")."""
        places = places_to_show(
            self.value, self.comparator, self.limits, self.flag, self.analyte.display_decimal_places
        )
        return f"{self.comparator_symbol}{self.value:.{places}f}"

    @property
    def entered_text(self):
        """The value as entered, with its comparator ("<5")."""
        return f"{self.comparator_symbol}{plain(self.value_entered)}"


# For each result, its previous valid result of the test for the patient (as with_previous finds it): the
# columns delta checks read, under their own names so that Django converts them as it does a model's
# (decimals and times on SQLite); and the next one's id. On result_patient_analyte_idx. In SQL because
# Django took 3.8 ms to build and read the same five subqueries through the ORM on every save, and the
# database 0.8 ms to run them.
NEIGHBOURS_SQL = """
SELECT w.written_id, w.next_id, p.id, p.value, p.collected_at, p.comparator
FROM (
    SELECT r.id AS written_id,
        (SELECT e.id FROM labs_result e
         WHERE e.patient_id = r.patient_id AND e.analyte_id = r.analyte_id AND e.collected_at < r.collected_at
           AND e.status <> %s
         ORDER BY e.collected_at DESC, e.id DESC LIMIT 1) AS previous_id,
        (SELECT n.id FROM labs_result n
         WHERE n.patient_id = r.patient_id AND n.analyte_id = r.analyte_id AND n.collected_at > r.collected_at
           AND n.status <> %s
         ORDER BY n.collected_at, n.id LIMIT 1) AS next_id
    FROM labs_result r
    WHERE r.id IN ({ids})
) w
LEFT JOIN labs_result p ON p.id = w.previous_id
"""


def read_neighbours(results) -> None:
    """Give each of `results` (saved, as in the database) the attributes ResultQuerySet.with_previous
    annotates (`previous_id`, `previous_value`, `previous_at`, `previous_comparator`: None without a
    previous result), and `next_id`: the patient's next valid result of the test, collected strictly later
    (the oldest such), or None. One query whatever the number of results."""
    if not results:
        return
    ids = [result.pk for result in results]
    entered_in_error = Result.Status.ENTERED_IN_ERROR
    # Each row is the previous result (its id None when there is none), with written_id and next_id.
    rows = Result.objects.raw(
        NEIGHBOURS_SQL.format(ids=", ".join(["%s"] * len(ids))), [entered_in_error, entered_in_error, *ids]
    )
    neighbours = {row.written_id: row for row in rows}
    for result in results:
        previous = neighbours[result.pk]
        result.next_id = previous.next_id
        result.previous_id = previous.pk
        result.previous_value = previous.value
        result.previous_at = previous.collected_at
        result.previous_comparator = previous.comparator


class DeltaRule(models.Model):
    """How large a change between a patient's consecutive results of one analyte is worth pointing out.

    The current result is compared with the patient's previous valid result of the analyte when that one
    was collected at most `window_days` before it; labs.deltas decides whether the change exceeds the
    rule. A laboratory's choice: the defaults Myolab ships (guidance/content/delta_rules.toml) each name
    their source, and an administrator edits them here.
    """

    class Kind(models.TextChoices):
        ABSOLUTE = "absolute", "Absolute change (canonical unit)"
        PERCENT = "percent", "Percentage change"
        RCV = "rcv", "Reference change value (from biological and analytical variation)"

    # Both percentage kinds divide by the previous value.
    RELATIVE_KINDS = (Kind.PERCENT, Kind.RCV)

    analyte = models.ForeignKey(Analyte, on_delete=models.PROTECT, related_name="delta_rules")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    limit = models.DecimalField(
        **VALUE_DIGITS,
        null=True,
        blank=True,
        help_text="Absolute: the change in the canonical unit; percentage: the change in %. "
        "A change larger than this fires. Empty for a reference change value (computed from the CVs).",
    )
    cv_within_subject = models.DecimalField(
        "within-subject biological CV (CVI, %)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="For a reference change value: e.g. from the EFLM Biological Variation Database.",
    )
    cv_analytical = models.DecimalField(
        "analytical CV (CVA, %)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="For a reference change value: the method's imprecision, from the laboratory's quality control.",
    )
    z = models.DecimalField(
        "Z score",
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.96"),
        help_text="For a reference change value: 1.96 for 95 % probability, 2.58 for 99 %.",
    )
    window_days = models.PositiveIntegerField(
        "window (days)", help_text="Compare only with a previous result collected at most this many days before."
    )
    source = models.TextField(help_text="Where this rule's figures come from (guideline, paper, the lab's own data).")
    active = models.BooleanField(default=True)
    shipped_hash = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="SHA-256 of the shipped default (guidance/content/delta_rules.toml) this row last held; "
        "manage.py load_guidance_content --update-unchanged updates only rows still holding it.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["analyte__sort_order"]
        constraints = [
            models.UniqueConstraint(
                fields=["analyte"],
                name="delta_rule_one_per_analyte",
                violation_error_message="This analyte already has a delta rule; edit that one.",
            ),
            models.CheckConstraint(
                condition=models.Q(window_days__gt=0),
                name="delta_rule_window_positive",
                violation_error_message="The window must be at least one day.",
            ),
            models.CheckConstraint(
                condition=models.Q(limit__isnull=True) | models.Q(limit__gt=0),
                name="delta_rule_limit_positive",
                violation_error_message="The limit must be greater than zero.",
            ),
        ]

    def __str__(self):
        return f"{self.analyte.name}: {self.describe()}"

    @property
    def percent_limit(self) -> Decimal | None:
        """The percentage change that fires: the limit, or for an RCV √2 × Z × √(CVA² + CVI²)."""
        if self.kind == self.Kind.PERCENT:
            return self.limit
        if self.kind == self.Kind.RCV and self.cv_within_subject is not None and self.cv_analytical is not None:
            spread = (self.cv_analytical**2 + self.cv_within_subject**2).sqrt()
            return (Decimal(2).sqrt() * self.z * spread).quantize(Decimal("0.1"))
        return None

    def describe(self) -> str:
        """'change > 1.0 mmol/L within 7 days', '> 13.9 % (RCV) within 7 days'."""
        within = f"within {self.window_days} day{'s' if self.window_days != 1 else ''}"
        if self.kind == self.Kind.ABSOLUTE:
            return f"change > {plain(self.limit)} {self.analyte.canonical_unit} {within}"
        if self.kind == self.Kind.RCV:
            return f"change > {plain(self.percent_limit)} % (reference change value) {within}"
        return f"change > {plain(self.limit)} % {within}"

    def clean(self):
        errors = {}
        if self.window_days is not None and self.window_days <= 0:
            errors["window_days"] = f"The window must be at least 1 day (you gave {self.window_days})."
        if self.kind in (self.Kind.ABSOLUTE, self.Kind.PERCENT):
            if self.limit is None:
                errors["limit"] = "Give the limit: the change that fires this rule."
            elif self.limit <= 0:
                errors["limit"] = f"The limit must be greater than zero (you gave {plain(self.limit)})."
        if self.kind == self.Kind.RCV:
            if self.limit is not None:
                errors["limit"] = "Leave the limit empty for a reference change value: it is computed from the CVs."
            for name in ("cv_within_subject", "cv_analytical"):
                value = getattr(self, name)
                if value is None or value <= 0:
                    label = self._meta.get_field(name).verbose_name
                    given = "nothing" if value is None else plain(value)
                    errors[name] = f"A reference change value needs the {label} above zero (you gave {given})."
            if self.z is not None and self.z <= 0:
                errors["z"] = f"The Z score must be greater than zero (you gave {plain(self.z)}): 1.96 or 2.58."
        if self.kind in self.RELATIVE_KINDS and self.analyte_id and self.analyte.plausible_low <= 0:
            errors["kind"] = (
                f"A percentage change is undefined from a previous value of 0, and {self.analyte.name} accepts "
                f"values down to {plain(self.analyte.plausible_low)}: use an absolute change."
            )
        if errors:
            raise ValidationError(errors)
