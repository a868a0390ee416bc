from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms

from core.form_keys import OneTimeKeyMixin
from core.forms import AsciiDigitsModelForm, ModelMultipleIdsField

from .models import ContributingFactor, Patient

# Notes are a few lines about the patient, as the other free-text fields of the app (plan details 4,000).
NOTES_MAX_LENGTH = 4000


class PatientForm(OneTimeKeyMixin, AsciiDigitsModelForm):
    contributing_factors = ModelMultipleIdsField(
        queryset=ContributingFactor.objects.filter(active=True),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Anything that changes what a muscle-related result means for this patient.",
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=NOTES_MAX_LENGTH)

    class Meta:
        model = Patient
        fields = ["mrn", "given_name", "family_name", "date_of_birth", "sex", "contributing_factors", "notes"]
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }
        error_messages = {
            "mrn": {"required": "Medical record number is required."},
            "given_name": {"required": "Given name is required."},
            "family_name": {"required": "Family name is required."},
            "date_of_birth": {
                "required": "Date of birth is required.",
                "invalid": "Date of birth must be a date such as 1970-03-31.",
            },
            "sex": {
                "required": "Sex is required (choose unknown if it is not known).",
                "invalid_choice": "Sex must be one of: female, male, other, unknown.",
            },
        }

    def __init__(self, *args, submit_label="Save patient", registering_user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if registering_user is not None:
            # A registration repeated (Back then Save, a double click) would register the patient twice.
            self.add_form_key(purpose="register_patient", user=registering_user)
        if self.instance.pk:
            # Keep factors that have since been retired visible for patients who have them.
            self.fields["contributing_factors"].queryset = ContributingFactor.objects.filter(
                active=True
            ) | ContributingFactor.objects.filter(patients=self.instance)
            self.fields["contributing_factors"].queryset = self.fields["contributing_factors"].queryset.distinct()
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", submit_label))

    def clean_mrn(self):
        return self.cleaned_data["mrn"].strip()

    def clean_given_name(self):
        return self.cleaned_data["given_name"].strip()

    def clean_family_name(self):
        return self.cleaned_data["family_name"].strip()


class PatientSearchForm(forms.Form):
    SORTS = {"name": ("family_name", "given_name", "id"), "activity": ("-last_activity_at", "id")}

    q = forms.CharField(label="Search by name or MRN", required=False, max_length=100)
    sort = forms.ChoiceField(
        label="Sort by",
        choices=[("name", "Name"), ("activity", "Last activity")],
        required=False,
    )

    def ordering(self):
        return self.SORTS[self.cleaned_data.get("sort") or "name"]
