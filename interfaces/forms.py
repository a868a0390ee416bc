from django import forms

from core.form_keys import OneTimeKeyMixin
from patients.models import Patient

from .models import InboundMessage

QUEUE = "queue"


class MessageFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), (QUEUE, "To review (held or in error)"), *InboundMessage.Status.choices],
    )
    facility = forms.CharField(required=False, max_length=200, label="Sending facility")
    q = forms.CharField(required=False, max_length=200, label="Control ID or MRN")
    job = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1, widget=forms.HiddenInput)

    def filter(self, messages):
        data = self.cleaned_data
        if data["status"] == QUEUE:
            messages = messages.filter(status__in=InboundMessage.OPEN)
        elif data["status"]:
            messages = messages.filter(status=data["status"])
        if data["facility"]:
            messages = messages.filter(sending_facility__iexact=data["facility"].strip())
        if data["q"]:
            text = data["q"].strip()
            messages = messages.filter(control_id__iexact=text) | messages.filter(patient__mrn__iexact=text)
        if data["job"]:
            messages = messages.filter(import_job_id=data["job"])
        return messages


class MatchForm(forms.Form):
    mrn = forms.CharField(label="Patient's MRN", max_length=32)
    note = forms.CharField(
        label="Why this is the patient", widget=forms.Textarea(attrs={"rows": 2}), help_text="What you checked."
    )

    def clean_mrn(self):
        mrn = self.cleaned_data["mrn"].strip()
        patient = Patient.objects.filter(mrn__iexact=mrn).first()
        if patient is None:
            raise forms.ValidationError(
                f"No patient has the MRN '{mrn}'. Register the patient first, then match the message."
            )
        if not patient.is_active:
            raise forms.ValidationError(f"Patient {patient.mrn} is deactivated: results are not filed for them.")
        self.patient = patient
        return mrn


class RejectForm(forms.Form):
    reason = forms.CharField(label="Reason for rejecting", widget=forms.Textarea(attrs={"rows": 2}))


class UploadForm(forms.Form):
    file = forms.FileField(
        label="File of HL7 v2 messages",
        help_text=(
            "One or many ORU^R01 messages (MLLP-framed or not; CR, LF or CRLF between segments), up to 20 MB and "
            "20,000 messages; or a results CSV up to 2 MB."
        ),
    )


class ConfirmImportForm(OneTimeKeyMixin, forms.Form):
    """The preview's "Import" button: its one-time key makes a second submission import nothing more."""

    job = forms.IntegerField(min_value=1, max_value=2**31 - 1, widget=forms.HiddenInput)

    def __init__(self, *args, job_id: int, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["job"].initial = job_id
        self.add_form_key(purpose=f"import-job-{job_id}", user=user)
