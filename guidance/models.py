import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.text import display_name
from labs.interpretation import ABNORMAL_FLAGS
from labs.models import VALUE_DIGITS, Analyte, DeltaRule, Panel, Result
from patients.models import ContributingFactor, Patient


def shipped_hash_field():
    """For Topic and Rule, the content Myolab ships (guidance/content/): see load_guidance_content."""
    return models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="SHA-256 of the shipped content (guidance/content) this row last held; "
        "manage.py load_guidance_content --update-unchanged updates only rows still holding it.",
    )


class Topic(models.Model):
    """An explanation page: one deficiency or problem behind abnormal results, in markdown sections."""

    slug = models.SlugField(max_length=60, unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, help_text="One line, shown in lists.")
    what_it_is = models.TextField(blank=True, help_text="Markdown.")
    muscle_symptoms = models.TextField(blank=True, help_text="Markdown.")
    other_symptoms = models.TextField(blank=True, help_text="Markdown.")
    mechanism = models.TextField("how it affects muscle", blank=True, help_text="Markdown.")
    causes = models.TextField("common causes and contributing factors", blank=True, help_text="Markdown.")
    next_checks = models.TextField("what to check next", blank=True, help_text="Markdown.")
    management = models.TextField("management options to discuss", blank=True, help_text="Markdown.")
    escalation = models.TextField("when to escalate", blank=True, help_text="Markdown.")
    sources = models.TextField(blank=True, help_text="Markdown. Every topic names its sources.")
    active = models.BooleanField(default=True, help_text="Inactive topics are hidden from the guidance index.")
    shipped_hash = shipped_hash_field()
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    history = HistoricalRecords()

    # The explanation page shows these sections in this order, under these headings.
    SECTIONS = (
        ("what_it_is", "What it is"),
        ("muscle_symptoms", "Muscle symptoms"),
        ("other_symptoms", "Other symptoms"),
        ("mechanism", "How it affects muscle"),
        ("causes", "Common causes and contributing factors"),
        ("next_checks", "What to check next"),
        ("management", "Management options to discuss"),
        ("escalation", "When to escalate"),
        ("sources", "Sources"),
    )

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("guidance:topic", args=[self.slug])


class Severity(models.TextChoices):
    """How soon a finding needs a decision. Critical results always make a finding urgent."""

    ROUTINE = "routine", "Routine"
    PROMPT = "prompt", "Prompt"
    URGENT = "urgent", "Urgent"


class ActionType(models.TextChoices):
    REPEAT_TEST = "repeat-test", "Repeat test"
    SUPPLEMENTATION = "supplementation", "Supplementation"
    DIETARY_ADVICE = "dietary-advice", "Dietary advice"
    HYDRATION = "hydration-electrolytes", "Hydration and electrolytes"
    MEDICATION_REVIEW = "medication-review", "Medication review"
    REFERRAL = "referral", "Referral"
    OTHER = "other", "Other"


def parse_flags(text: str) -> frozenset[str]:
    """'L, LL' -> {'L', 'LL'}."""
    return frozenset(part.strip().upper() for part in (text or "").split(",") if part.strip())


# A rule's retest interval becomes a follow-up's due date, which may be at most five years ahead
# (guidance.forms.DUE_DATE_YEARS_AHEAD; 365 × 5 days is within five years in every calendar).
MAX_RETEST_DAYS = 5 * 365


class Rule(models.Model):
    """Maps an abnormal result (analyte, flags, thresholds) to a topic, a severity and a suggested action.

    A rule with `with_analyte` is a pattern: it matches only when the same panel also holds a result of
    that analyte with one of `with_flags`. Among the plain rules matching a result, only the one with the
    lowest `priority` number makes a finding (so CK > 10× ULN does not also say "> 5×" and "high");
    every matching pattern makes its own finding. guidance.rules does the matching.
    """

    code = models.SlugField(max_length=60, unique=True)
    analyte = models.ForeignKey(Analyte, on_delete=models.PROTECT, related_name="+")
    flags = models.CharField(
        max_length=20,
        help_text="Flags this rule applies to, comma-separated: L, LL, H, HH (e.g. 'L,LL').",
    )
    value_below = models.DecimalField(
        **VALUE_DIGITS, null=True, blank=True, help_text="Only values below this (canonical unit). Empty: no limit."
    )
    value_above = models.DecimalField(
        **VALUE_DIGITS, null=True, blank=True, help_text="Only values above this (canonical unit). Empty: no limit."
    )
    uln_multiple_above = models.DecimalField(
        "multiple of the upper reference limit",
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Only values above this many times the upper limit of the range applied (e.g. 5). Empty: no limit.",
    )
    with_analyte = models.ForeignKey(
        Analyte,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="pattern: with analyte",
        help_text="Makes this a pattern rule: the same panel must hold a result of this analyte…",
    )
    with_flags = models.CharField(
        "pattern: with flags", max_length=20, blank=True, help_text="…with one of these flags, e.g. 'L,LL'."
    )

    class Covers(models.TextChoices):
        """Which plain findings of its panel a pattern explains: the review shows them under the pattern,
        as one item decided together (guidance.findings.review_items)."""

        NONE = "none", "None: its finding stands beside the others"
        RESULT = "result", "The plain finding of its own result"
        PARTNER = "partner", "The plain finding of the other result"
        BOTH = "both", "The plain findings of both results"

    covers = models.CharField(
        "pattern: covers",
        max_length=10,
        choices=Covers.choices,
        default=Covers.NONE,
        help_text="For a pattern: the plain findings of the same panel it explains, shown and decided under it.",
    )
    priority = models.PositiveSmallIntegerField(
        default=100, help_text="Among plain rules matching one result, the lowest number wins."
    )
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="rules")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ROUTINE)
    summary = models.CharField(max_length=300, help_text="One line shown on the finding, in plain clinical language.")
    action_type = models.CharField("suggested action", max_length=30, choices=ActionType.choices)
    retest_days = models.PositiveSmallIntegerField(
        "suggested retest interval (days)", null=True, blank=True, help_text="Sets a new plan's default due date."
    )
    relevant_factors = models.ManyToManyField(
        ContributingFactor,
        blank=True,
        related_name="+",
        help_text="Contributing factors named on the finding when the patient has them.",
    )
    active = models.BooleanField(default=True)
    shipped_hash = shipped_hash_field()
    history = HistoricalRecords(m2m_fields=[relevant_factors])

    class Meta:
        ordering = ["analyte__sort_order", "priority", "code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(with_analyte__isnull=True) | ~models.Q(with_flags=""),
                name="rule_pattern_has_flags",
                violation_error_message="A pattern rule needs the flags of the other analyte.",
            ),
            models.CheckConstraint(
                condition=models.Q(value_below__isnull=True)
                | models.Q(value_above__isnull=True)
                | models.Q(value_above__lt=models.F("value_below")),
                name="rule_thresholds_not_empty",
                violation_error_message="'Values above' must be lower than 'values below', or no value could match.",
            ),
        ]

    def __str__(self):
        return self.code

    @property
    def flag_set(self):
        return parse_flags(self.flags)

    @property
    def with_flag_set(self):
        return parse_flags(self.with_flags)

    @property
    def is_pattern(self):
        return self.with_analyte_id is not None

    def clean(self):
        errors = {}
        allowed = ", ".join(sorted(ABNORMAL_FLAGS))
        for name in ("flags", "with_flags"):
            unknown = parse_flags(getattr(self, name)) - ABNORMAL_FLAGS
            if unknown:
                errors[name] = f"Unknown flag(s) {', '.join(sorted(unknown))}: use abnormal flags only ({allowed})."
        if not self.flag_set and "flags" not in errors:
            errors["flags"] = f"Give at least one flag this rule applies to ({allowed})."
        if self.with_analyte_id and not self.with_flag_set and "with_flags" not in errors:
            errors["with_flags"] = f"A pattern rule needs the flags of the other analyte ({allowed})."
        if not self.with_analyte_id and self.covers != self.Covers.NONE:
            errors["covers"] = "Only a pattern (a rule with another analyte) covers other findings; choose 'None'."
        if self.with_analyte_id and self.with_analyte_id == self.analyte_id:
            errors["with_analyte"] = "A pattern joins two different analytes; choose another analyte."
        for name in ("value_below", "value_above", "uln_multiple_above"):
            value = getattr(self, name)
            if value is not None and value < 0:
                label = self._meta.get_field(name).verbose_name
                errors[name] = f"{label.capitalize()} ({value}) is negative; lab values are 0 or more: enter 0 or more."
        if self.retest_days is not None and self.retest_days > MAX_RETEST_DAYS:
            errors["retest_days"] = (
                f"A retest in {self.retest_days} days is too far ahead: a follow-up is due at most five years "
                f"ahead, so choose at most {MAX_RETEST_DAYS} days."
            )
        if self.value_below is not None and self.value_above is not None and self.value_above >= self.value_below:
            errors["value_above"] = (
                f"'Values above' ({self.value_above}) must be lower than 'values below' ({self.value_below})."
            )
        if errors:
            raise ValidationError(errors)


class FindingQuerySet(models.QuerySet):
    def critical_awaiting_acknowledgement(self):
        return self.filter(status=Finding.Status.OPEN, critical=True)

    def awaiting_decision(self):
        """Everything without a disposition yet: the worklist keeps showing these."""
        return self.filter(status__in=Finding.UNDECIDED)

    def for_display(self):
        """What the finding page shows: the rows most findings have joined in one query; the optional ones
        (a partner, a previous result and delta rule, a newer result, the critical call) each in a small
        query of their own, and only when the finding has one (the call's is asked for always). Joining all eighteen tables made PostgreSQL spend
        39 ms planning the query (2 ms running it) at 2,000,000 results."""
        return self.select_related(
            "patient",
            "result__analyte",
            "result__panel__specimen_condition",  # the finding page shows the specimen and comments
            "topic",
            "rule",
            "acknowledged_by",
            "decided_by",
        ).prefetch_related(
            "partner_result__analyte",
            "previous_result",
            "delta_rule",
            "superseded_by__analyte",
            "critical_call__recorded_by",
        )


class Finding(models.Model):
    """One abnormal result matched by one rule (or by no rule): stays open until a clinician decides."""

    class Status(models.TextChoices):
        OPEN = "open", "Awaiting review"
        ACKNOWLEDGED = "acknowledged", "Acknowledged, awaiting decision"
        FOLLOW_UP_PLANNED = "follow-up-planned", "Follow-up planned"
        NO_ACTION = "no-action", "No action needed"
        RESOLVED = "resolved", "Resolved"
        # A newer valid result of the same test replaced this one before anyone decided on it
        # (guidance.services: _bring_superseding_in_line). Never an unacknowledged critical result.
        SUPERSEDED = "superseded", "Superseded by a newer result"

    UNDECIDED = (Status.OPEN, Status.ACKNOWLEDGED)

    # UNINDEXED: the rule, topic, previous result, superseding result and the three users are only ever
    # read from a finding, never looked up the other way (the superseded findings of a result are found
    # among the patient's), so they have no index of their own (db_index=False). Each index of this table
    # cost PostgreSQL planning time in every query that joins findings, and a write with every finding:
    # without these seven the finding page's query was planned in 2.7 ms instead of 5.9 at 2,000,000
    # results. Deleting a user, rule or topic (never done from the clinician UI) then reads the table.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="findings")
    result = models.ForeignKey(Result, on_delete=models.PROTECT, related_name="findings")
    # The report (panel) of `result` and its collection time, copied when the finding opens (neither
    # changes afterwards: a correction changes a value, not when or in which report it was taken). The
    # worklist lists reports oldest collected first from one index of these (finding_worklist_reports_idx)
    # instead of reading every undecided finding's result and panel (9,400 of each at 2,000,000 results).
    panel = models.ForeignKey(Panel, on_delete=models.PROTECT, related_name="findings", editable=False)
    collected_at = models.DateTimeField(editable=False)
    partner_result = models.ForeignKey(
        Result,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="pattern_findings",
        help_text="For a pattern: the other result in the panel.",
    )
    rule = models.ForeignKey(
        Rule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="findings",
        help_text="Empty: no rule.",
        db_index=False,  # UNINDEXED above
    )
    # A delta finding (guidance.services.evaluate_deltas): the result changed from `previous_result`, the
    # patient's previous valid result of the test, by more than `delta_rule` allows.
    delta_rule = models.ForeignKey(
        DeltaRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="findings",
        help_text="Empty: not a delta finding.",
    )
    previous_result = models.ForeignKey(
        Result,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="later_delta_findings",
        help_text="For a delta finding: the previous result the change is measured from.",
        db_index=False,
    )
    topic = models.ForeignKey(
        Topic, on_delete=models.PROTECT, null=True, blank=True, related_name="findings", db_index=False
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    critical = models.BooleanField(help_text="The result was critically abnormal when the finding was made.")
    summary = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    acknowledgement_comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    no_action_reason = models.TextField(blank=True)
    decided_with = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decided_together",
        help_text="Decided together with this finding (a pattern's, or the first of a group decision): "
        "cancelling its only plan brings both back to awaiting a decision.",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    resolution_note = models.TextField(blank=True)
    superseded_by = models.ForeignKey(
        Result,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_findings",
        help_text="The newer result of the same test that replaced this finding's result.",
        db_index=False,
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    # The report and collection time are the result's, which never change: nothing to keep history of.
    history = HistoricalRecords(excluded_fields=["panel", "collected_at"])

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="no-action") | ~models.Q(no_action_reason=""),
                name="finding_no_action_has_reason",
                violation_error_message="Give the reason no action is needed.",
            ),
            models.CheckConstraint(
                condition=models.Q(critical=False)
                | models.Q(acknowledged_at__isnull=True)
                | ~models.Q(acknowledgement_comment=""),
                name="finding_critical_ack_has_comment",
                violation_error_message="A critical result needs a comment to be acknowledged.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="resolved") | ~models.Q(resolution_note=""),
                name="finding_resolved_has_note",
                violation_error_message="Say why the finding is resolved.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="superseded") | models.Q(superseded_by__isnull=False),
                name="finding_superseded_has_result",
                violation_error_message="A superseded finding names the newer result that replaced it.",
            ),
            models.CheckConstraint(
                condition=models.Q(delta_rule__isnull=True, previous_result__isnull=True)
                | models.Q(delta_rule__isnull=False, previous_result__isnull=False),
                name="finding_delta_has_rule_and_previous",
                violation_error_message="A delta finding needs both its delta rule and the previous result.",
            ),
        ]
        indexes = [
            # Worklist: critical results awaiting acknowledgement, oldest first.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="open", critical=True),
                name="finding_worklist_critical_idx",
            ),
            # Worklist: findings awaiting a decision, oldest first.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status__in=["open", "acknowledged"]),
                name="finding_worklist_undecided_idx",
            ),
            # Worklist: the reports awaiting review, oldest collected first.
            models.Index(
                fields=["collected_at", "panel"],
                condition=models.Q(status__in=["open", "acknowledged"]),
                name="finding_worklist_reports_idx",
            ),
            # Worklist: how many reports await review (distinct panels of the undecided findings), read in
            # the index's order: 2.0 ms at 9,400 undecided findings, against 5.6 ms hashing them from the
            # index above (ReportsAwaitingReview.count).
            models.Index(
                fields=["panel"],
                condition=models.Q(status__in=["open", "acknowledged"]),
                name="finding_undecided_panel_idx",
            ),
            # The patient page: a patient's findings.
            models.Index(fields=["patient", "status"], name="finding_patient_idx"),
        ]

    def __str__(self):
        return f"{self.result.analyte.name} {self.result.get_flag_display().lower()}: {self.summary[:60]}"

    def get_absolute_url(self):
        return reverse("guidance:finding", args=[self.pk])

    @property
    def is_undecided(self):
        return self.status in self.UNDECIDED

    @property
    def title(self):
        if self.delta_rule_id:
            return f"{self.result.analyte.name}: large change since the previous result (delta check)"
        name = (
            self.topic.title
            if self.topic_id
            else f"{self.result.analyte.name} {self.result.get_flag_display().lower()}"
        )
        if self.partner_result_id:
            return f"{name}: pattern with {self.partner_result.analyte.name.lower()}"
        return name

    def clean(self):
        errors = {}
        if self.status == self.Status.NO_ACTION and not self.no_action_reason.strip():
            errors["no_action_reason"] = "Give the reason no action is needed."
        if self.critical and self.acknowledged_at and not self.acknowledgement_comment.strip():
            errors["acknowledgement_comment"] = "A critical result needs a comment to be acknowledged."
        if self.status == self.Status.RESOLVED and not self.resolution_note.strip():
            errors["resolution_note"] = "Say why the finding is resolved."
        if self.status == self.Status.SUPERSEDED and not self.superseded_by_id:
            errors["superseded_by"] = "A superseded finding names the newer result that replaced it."
        if (self.delta_rule_id is None) != (self.previous_result_id is None):
            errors["previous_result"] = "A delta finding needs both its delta rule and the previous result."
        if errors:
            raise ValidationError(errors)


class CriticalCall(models.Model):
    """How a critical result was communicated, recorded when it is acknowledged: who was told, how, when,
    and that the value was read back. The Joint Commission's National Patient Safety Goal NPSG.02.03.01
    asks for critical results to reach the responsible caregiver within a time the organisation sets,
    and a verbal report to be confirmed by reading it back (shared/DOMAIN.md, "Communicating critical
    results")."""

    class Method(models.TextChoices):
        PHONE = "phone", "Phone"
        IN_PERSON = "in-person", "In person"
        MESSAGE = "message", "Message (written)"

    VERBAL = (Method.PHONE, Method.IN_PERSON)

    finding = models.OneToOneField(Finding, on_delete=models.PROTECT, related_name="critical_call")
    told = models.CharField("who was told", max_length=200, help_text="Name and role, e.g. 'Dr A. Patel, on-call GP'.")
    method = models.CharField("how", max_length=20, choices=Method.choices)
    told_at = models.DateTimeField("when")
    read_back = models.BooleanField("value read back", default=False)
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(told=""),
                name="critical_call_names_who",
                violation_error_message="Say who was told.",
            ),
            models.CheckConstraint(
                condition=~models.Q(method__in=["phone", "in-person"]) | models.Q(read_back=True),
                name="critical_call_verbal_read_back",
                violation_error_message="A critical result told by phone or in person is read back.",
            ),
        ]

    def __str__(self):
        return f"{self.get_method_display()} to {self.told} at {timezone.localtime(self.told_at):%d %b %Y %H:%M}"

    @property
    def description(self):
        """One sentence for the summary and its PDF (reads the finding's result and analyte, and who recorded it)."""
        result = self.finding.result
        read_back = "value read back" if self.read_back else "not read back"
        return (
            f"{result.analyte.name} {result.display_value} {result.analyte.canonical_unit} "
            f"({result.get_flag_display().lower()}), collected {timezone.localtime(result.collected_at):%d %b %Y %H:%M}: "
            f"told {self.told} ({self.get_method_display().lower()}) on {timezone.localtime(self.told_at):%d %b %Y %H:%M}, "
            f"{read_back}; recorded by {display_name(self.recorded_by)}."
        )

    def clean(self):
        errors = {}
        if not self.told.strip():
            errors["told"] = "Say who was told the critical result (name and role)."
        if self.method in self.VERBAL and not self.read_back:
            errors["read_back"] = (
                "A critical result told by phone or in person is read back by whoever took it "
                "(NPSG.02.03.01): tick 'Value read back' once they have."
            )
        if self.told_at and self.told_at > timezone.now() + datetime.timedelta(minutes=5):
            errors["told_at"] = "The time they were told cannot be in the future."
        if errors:
            raise ValidationError(errors)


class ReviewSettings(models.Model):
    """Settings of the review an administrator sets (one row, created with its defaults when first read)."""

    critical_call_minutes = models.PositiveSmallIntegerField(
        "minutes to acknowledge a critical result",
        default=60,
        validators=[MinValueValidator(1)],
        help_text="A critical result not acknowledged (and its communication recorded) within this many minutes "
        "of being entered is marked overdue on the worklist. The Joint Commission's NPSG.02.03.01 asks each "
        "organisation to set this time and check it is met; 60 minutes is a common choice.",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "review settings"

    def __str__(self):
        return "Review settings"

    @classmethod
    def current(cls):
        return cls.objects.get_or_create(pk=1)[0]


class FollowUpPlanQuerySet(models.QuerySet):
    def planned(self):
        return self.filter(status=FollowUpPlan.Status.PLANNED)

    def needing_attention(self, *, today):
        """Planned plans that are due, overdue, or whose repeat test has come back."""
        return self.planned().filter(models.Q(due_date__lte=today) | models.Q(met_result__isnull=False))

    def count_needing_attention(self, *, today):
        """How many plans needing_attention() finds, as two counts that each read one range of
        plan_worklist_due_idx (or plan_worklist_mine_idx): counted with the OR, PostgreSQL visited
        every planned plan's row (12 ms at 16,000 of them); the plans due read the index alone."""
        planned = self.planned()
        due = planned.filter(due_date__lte=today).count()
        return due + planned.filter(due_date__gt=today, met_result__isnull=False).count()


class FollowUpPlan(models.Model):
    """What was decided for a finding. Edits carry `version`, so a stale form cannot overwrite a newer save."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    ActionType = ActionType

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="plans")
    # Copied from the finding so "a patient's repeat tests" reads one indexed table.
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="follow_up_plans")
    action_type = models.CharField(max_length=30, choices=ActionType.choices)
    analyte = models.ForeignKey(
        Analyte,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="test to repeat",
        help_text="For a repeat test: the analyte whose next result meets this plan.",
    )
    details = models.TextField(blank=True)
    due_date = models.DateField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="follow_up_plans")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    outcome_note = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    met_result = models.ForeignKey(
        Result,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="met_plans",
        help_text="The new result that met this repeat-test plan.",
    )
    met_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    objects = FollowUpPlanQuerySet.as_manager()

    class Meta:
        verbose_name = "follow-up plan"
        ordering = ["due_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(action_type="repeat-test") | models.Q(analyte__isnull=False),
                name="plan_repeat_test_has_analyte",
                violation_error_message="A repeat test needs the test to repeat.",
            ),
            models.CheckConstraint(
                condition=models.Q(status="planned") | (models.Q(closed_at__isnull=False) & ~models.Q(outcome_note="")),
                name="plan_closed_has_outcome",
                violation_error_message="A done or cancelled plan needs an outcome note.",
            ),
        ]
        indexes = [
            # Worklist: everyone's follow-ups due or overdue.
            models.Index(fields=["due_date"], condition=models.Q(status="planned"), name="plan_worklist_due_idx"),
            # Worklist: my follow-ups due or overdue.
            models.Index(
                fields=["owner", "due_date"], condition=models.Q(status="planned"), name="plan_worklist_mine_idx"
            ),
            # Saving results: a patient's open repeat-test plans for the analytes just entered.
            models.Index(
                fields=["patient", "analyte"],
                condition=models.Q(status="planned", met_result__isnull=True),
                name="plan_open_repeat_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_action_type_display()} for {self.patient}, due {self.due_date:%d %b %Y}"

    @property
    def is_overdue(self):
        return self.status == self.Status.PLANNED and self.due_date < timezone.localdate()

    def clean(self):
        errors = {}
        if self.action_type == ActionType.REPEAT_TEST and not self.analyte_id:
            errors["analyte"] = "A repeat test needs the test to repeat: choose the analyte."
        if self.status != self.Status.PLANNED and not self.outcome_note.strip():
            errors["outcome_note"] = "Write an outcome note: what happened, or why the plan was cancelled."
        if errors:
            raise ValidationError(errors)
