import datetime

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils import timezone

# A cohort export may cover this many days at most: wider ones are split by the administrator.
MAX_COHORT_DAYS = 3660
# The dates a cohort range may use: no result was collected before 1900, and none after today (a range
# may reach into next year, so "to the end of the year" works).
EARLIEST_DATE = datetime.date(1900, 1, 1)


def latest_date():
    return datetime.date(timezone.localdate().year + 1, 12, 31)


class CohortExportForm(forms.Form):
    """The date range (collection dates, inclusive) and filter of a cohort CSV; read from the query string."""

    abnormal = forms.BooleanField(
        label="Only abnormal results (low, high, critically low or high; not entered in error)", required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The URL's parameters are ?from=…&to=…, and "from" cannot be a class attribute's name.
        date = forms.DateInput(attrs={"type": "date"})
        self.fields = {
            "from": forms.DateField(label="From (collection date)", widget=date),
            "to": forms.DateField(label="To (collection date, inclusive)", widget=date),
            **self.fields,
        }
        self.helper = FormHelper()
        self.helper.form_method = "get"
        # The form page (cohort_form) and the file (cohort_csv) are two URLs: without this the form
        # was sent back to its own page, which showed it again empty and never downloaded anything.
        self.helper.form_action = "exports:cohort_csv"
        self.helper.add_input(Submit("submit", "Download CSV"))

    def clean(self):
        data = super().clean()
        latest = latest_date()
        for name in ("from", "to"):
            day = data.get(name)
            if day and not EARLIEST_DATE <= day <= latest:
                self.add_error(
                    name,
                    f"{day.isoformat()} is out of range: choose a date from {EARLIEST_DATE:%d %b %Y} to {latest:%d %b %Y}.",
                )
        start, end = data.get("from"), data.get("to")
        if start and end:
            if end < start:
                self.add_error(
                    "to", f"The end date ({end:%d %b %Y}) is before the start date ({start:%d %b %Y}); swap them."
                )
            elif (end - start).days > MAX_COHORT_DAYS:
                self.add_error(
                    "to", f"The range is {(end - start).days + 1} days; choose at most {MAX_COHORT_DAYS} days."
                )
        return data

    def window(self):
        """The range as aware datetimes: from the start of `from` to the start of the day after `to`."""

        def midnight(day):
            return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))

        return midnight(self.cleaned_data["from"]), midnight(self.cleaned_data["to"] + datetime.timedelta(1))

    def describe(self):
        data = self.cleaned_data
        only = " (abnormal only)" if data["abnormal"] else ""
        return f"collected {data['from']:%Y-%m-%d} to {data['to']:%Y-%m-%d}{only}"
