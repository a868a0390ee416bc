from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout, Submit
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.utils import timezone

from core.form_keys import OneTimeKeyMixin
from core.forms import AsciiDigitsMixin
from core.text import display_name
from labs.models import Analyte

from .models import ActionType, CriticalCall


def _helper(label, css="btn-primary"):
    helper = FormHelper()
    # The app's messages say more than the browser's "Please fill out this field", so let them through.
    helper.attrs = {"novalidate": ""}
    button = Submit("submit", label)
    # Submit always adds btn-primary, which hides an outline button's text. A long label wraps rather than
    # push a 390 px screen wider ("Record the decision for the ticked findings").
    button.field_classes = f"btn text-wrap mw-100 {css}"
    helper.add_input(button)
    return helper


class AcknowledgeForm(forms.Form):
    """Acknowledging a finding, or a report's findings. For a critical result: a comment, and how the
    result was communicated (CriticalCall: who was told, how, when, read back)."""

    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
    )
    told = forms.CharField(
        label="Who was told",
        max_length=200,
        help_text="Name and role of the person responsible for acting on it, e.g. 'Dr A. Patel, on-call GP'.",
        error_messages={"required": "A critical result: say who was told it (name and role)."},
    )
    method = forms.ChoiceField(
        label="How",
        choices=CriticalCall.Method.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "A critical result: say how they were told (phone, in person or message).",
            "invalid_choice": "Choose phone, in person or message.",
        },
    )
    told_at = forms.DateTimeField(
        label="When",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        error_messages={
            "required": "Say when they were told.",
            "invalid": "When they were told must be a date and time such as 2026-03-31 14:05.",
        },
    )
    read_back = forms.BooleanField(
        label="Value read back",
        required=False,
        help_text="Whoever took it by phone or in person repeated the value back to you (required for those).",
    )

    CALL_FIELDS = ("told", "method", "told_at", "read_back")

    def __init__(self, *args, critical=False, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("told_at", timezone.localtime().replace(second=0, microsecond=0))
        super().__init__(*args, **kwargs)
        self.critical = critical
        self.fields["comment"].required = critical
        self.fields["comment"].help_text = (
            "Required for a critical result: what you did or will do." if critical else "Optional."
        )
        self.fields["comment"].error_messages["required"] = (
            "This is a critical result: write a comment (what you did or will do) to acknowledge it."
        )
        if not critical:
            for name in self.CALL_FIELDS:
                del self.fields[name]
        self.helper = _helper("Acknowledge")

    def call(self):
        """The communication record's fields, for a critical result (None otherwise)."""
        if not self.critical:
            return None
        return {name: self.cleaned_data[name] for name in self.CALL_FIELDS}


class NoActionForm(forms.Form):
    reason = forms.CharField(
        label="Reason no action is needed",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        error_messages={"required": "Give the reason no action is needed (e.g. known and stable, already treated)."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper("Record: no action needed", "btn-outline-primary")


def plan_owners():
    """Users who can keep follow-up plans: those given the permission through a role or directly."""
    permission = Permission.objects.filter(codename="change_followupplan", content_type__app_label="guidance")
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__permissions__in=permission) | Q(user_permissions__in=permission) | Q(is_superuser=True))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user):
        return display_name(user)


# A follow-up is due from a year ago (a plan written up late) to five years ahead (a slow recheck).
DUE_DATE_YEARS_BACK = 1
DUE_DATE_YEARS_AHEAD = 5


def due_date_bounds(today):
    def years_from_today(years):
        try:
            return today.replace(year=today.year + years)
        except ValueError:  # 29 February in a year without one
            return today.replace(year=today.year + years, day=28)

    return years_from_today(-DUE_DATE_YEARS_BACK), years_from_today(DUE_DATE_YEARS_AHEAD)


TAMPERED_VERSION = (
    "This form did not say which version of the plan it edits (the page was changed or is incomplete), so "
    "nothing was saved. Reload the plan and make your changes again."
)


def show_version_errors(form):
    """The plan's `version` is a hidden field, whose errors no one would see: say at the top what happened."""
    if form.errors.pop("version", None):
        form.add_error(None, TAMPERED_VERSION)


class PlanForm(OneTimeKeyMixin, AsciiDigitsMixin, forms.Form):
    action_type = forms.ChoiceField(
        label="Action",
        choices=ActionType.choices,
        error_messages={"invalid_choice": "Choose one of the listed actions."},
    )
    analyte = forms.ModelChoiceField(
        label="Test to repeat",
        queryset=Analyte.objects.filter(active=True),
        required=False,
        help_text="For a repeat test: the plan is marked met when a new result of this test is entered.",
    )
    details = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000)
    due_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "required": "Due date is required.",
            "invalid": "Due date must be a date such as 2026-03-31.",
        },
    )
    owner = OwnerChoiceField(
        queryset=None,
        error_messages={"required": "Choose who owns this plan.", "invalid_choice": "Choose an owner from the list."},
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, submit_label="Save plan", new_plan_for=None, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if new_plan_for is not None:
            # A new plan submitted twice (Back then Save, a double click) would plan the follow-up twice.
            self.add_form_key(purpose=f"plan_create:{new_plan_for.pk}", user=user)
        self.fields["owner"].queryset = plan_owners()
        self.helper = _helper(submit_label)

    def clean_due_date(self):
        due = self.cleaned_data["due_date"]
        # Editing a plan keeps its due date, however old, unless the user changes it.
        if due == self.initial.get("due_date"):
            return due
        earliest, latest = due_date_bounds(timezone.localdate())
        if not earliest <= due <= latest:
            raise forms.ValidationError(
                f"Due date {due.isoformat()} is out of range: choose a date from {earliest:%d %b %Y} "
                f"(a year ago) to {latest:%d %b %Y} (five years ahead)."
            )
        return due

    def clean(self):
        data = super().clean()
        if data.get("action_type") == ActionType.REPEAT_TEST and not data.get("analyte"):
            self.add_error("analyte", "A repeat test needs the test to repeat: choose the analyte.")
        show_version_errors(self)
        return data

    def plan_fields(self):
        data = self.cleaned_data
        return {name: data[name] for name in ("action_type", "analyte", "details", "due_date", "owner")}


class OutcomeForm(AsciiDigitsMixin, forms.Form):
    outcome = forms.CharField(
        label="Outcome note",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        error_messages={"required": "Write an outcome note: what happened, or why the plan is cancelled."},
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, submit_label="Save", **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(submit_label)

    def clean(self):
        data = super().clean()
        show_version_errors(self)
        return data


class FindingIdsField(forms.Field):
    """The findings ticked on a report (each a review item's leading finding). Only their form is
    checked here: guidance.services.decide_report refuses ids that are not that report's, naming them."""

    widget = forms.CheckboxSelectMultiple

    def to_python(self, value):
        values = value if isinstance(value, (list, tuple)) else ([value] if value else [])
        try:
            return [int(item) for item in values]
        except (TypeError, ValueError) as exc:
            raise forms.ValidationError(
                "Findings are chosen by their numbers; reload the report and tick them."
            ) from exc


class ReportDecisionForm(PlanForm):
    """One decision for the findings ticked on a report: no action needed (with the reason), or one
    follow-up plan for all of them."""

    NO_ACTION, PLAN = "no-action", "plan"

    findings = FindingIdsField(required=False)
    decision = forms.ChoiceField(
        choices=[(NO_ACTION, "No action needed"), (PLAN, "Plan one follow-up for them")],
        widget=forms.RadioSelect,
        initial=NO_ACTION,
        error_messages={"required": "Choose the decision.", "invalid_choice": "Choose one of the listed decisions."},
    )
    reason = forms.CharField(
        label="Reason no action is needed",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, submit_label="Record the decision for the ticked findings", **kwargs)
        for name in ("action_type", "due_date", "owner"):
            self.fields[name].required = False
        self.fields["action_type"].help_text = "For a follow-up: what to do."
        self.helper.form_tag = False
        self.helper.layout = Layout("decision", "reason", "action_type", "analyte", "details", "due_date", "owner")

    def clean(self):
        data = super().clean()
        if data.get("decision") == self.NO_ACTION:
            self.errors.pop("analyte", None)  # PlanForm asks it of a repeat test: no plan is made here
            if not (data.get("reason") or "").strip():
                self.add_error(
                    "reason", "Give the reason no action is needed (e.g. known and stable, already treated)."
                )
        elif data.get("decision") == self.PLAN:
            for name, message in [
                ("action_type", "Choose the follow-up's action."),
                ("due_date", "Due date is required."),
                ("owner", "Choose who owns this plan."),
            ]:
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, message)
        return data
