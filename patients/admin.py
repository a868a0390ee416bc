import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from core import spreadsheet
from core.admin import NoDeleteAdmin, ReadOnlyAdmin

from . import services
from .models import AccessLogEntry, ContributingFactor, Patient

# The patient's admin page lists this many of the newest reads of the patient, then links to them all.
RECENT_READS = 10
# An access log export covers at most this many days (a year, leap day included); longer periods are
# exported a year at a time, so one file stays one a spreadsheet opens.
MAX_ACCESS_LOG_DAYS = 366


@admin.register(ContributingFactor)
class ContributingFactorAdmin(NoDeleteAdmin):
    list_display = ["name", "code", "active", "sort_order"]
    list_editable = ["active", "sort_order"]
    prepopulated_fields = {"code": ["name"]}


@admin.register(Patient)
class PatientAdmin(SimpleHistoryAdmin, NoDeleteAdmin):
    list_display = ["mrn", "family_name", "given_name", "date_of_birth", "sex", "is_active", "updated_at"]
    list_filter = ["is_active", "sex"]
    search_fields = ["mrn", "family_name", "given_name"]
    list_select_related = True
    readonly_fields = [
        *("created_at", "created_by", "updated_at", "updated_by", "last_activity_at"),
        # Deactivation goes through the actions, which ask for the reason.
        *("is_active", "deactivation_reason", "deactivated_at", "deactivated_by"),
    ]
    filter_horizontal = ["contributing_factors"]
    actions = ["deactivate", "reactivate"]

    def get_readonly_fields(self, request, obj=None):
        # "Who viewed this patient", for those who may read the access log (administrators).
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and request.user.has_perm("patients.view_accesslogentry"):
            return [*fields, "recent_reads"]
        return fields

    @admin.display(description="Who viewed this patient")
    def recent_reads(self, patient):
        entries = patient.access_log.select_related("user")[:RECENT_READS]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    date_format(timezone.localtime(entry.accessed_at), "DATETIME_FORMAT"),
                    entry.user.get_full_name() or entry.user.get_username(),
                    entry.get_what_display(),
                    entry.client_ip or "unknown",
                )
                for entry in entries
            ),
        )
        every_read = reverse("admin:patients_accesslogentry_changelist") + f"?patient__id__exact={patient.pk}"
        return format_html(
            '<table><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th>'
            '<th scope="col">From</th></tr></thead><tbody>{}</tbody></table>'
            '<p><a href="{}">Every read of this patient ({} in all)</a></p>',
            rows,
            every_read,
            patient.access_log.count(),
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Showing a patient's record in the admin is a read of patient data too (a failed save shows it again).
        if obj is not None:
            services.log_access(request, obj, AccessLogEntry.What.ADMIN_PATIENT)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_add_permission(self, request):
        # Patients are registered by clinicians in the app, which checks what the admin would not.
        return False

    def save_model(self, request, obj, form, change):
        # Through the service, as the app's own edit page: it checks the record, records who and when,
        # and sets the contributing factors (so save_related below leaves them alone).
        fields = {name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS if name in form.cleaned_data}
        services.update_patient(
            obj, by=request.user, contributing_factors=form.cleaned_data.get("contributing_factors"), **fields
        )

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description="Deactivate selected patients (read-only, hidden from the list, every record kept)")
    def deactivate(self, request, queryset):
        """Asks for the reason first (every page of the patient shows it), then deactivates."""
        form = DeactivationForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for patient in queryset:
                services.set_patient_active(patient, active=False, by=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, f"Deactivated {queryset.count()} patient(s). Their records are read-only.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Deactivate patients",
            "form": form,
            "patients": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/patients/patient/deactivate.html", context)

    @admin.action(description="Reactivate selected patients")
    def reactivate(self, request, queryset):
        for patient in queryset:
            services.set_patient_active(patient, active=True, by=request.user)
        messages.success(request, f"Reactivated {queryset.count()} patient(s).")

    def has_change_permission(self, request, obj=None):
        # A deactivated patient's record is read-only here too; reactivate first (the action above).
        return super().has_change_permission(request, obj) and (obj is None or obj.is_active)


class DeactivationForm(forms.Form):
    reason = forms.CharField(
        label="Reason for deactivating",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give the reason for deactivating (e.g. duplicate record, moved away)."},
        help_text="Shown on every page of the patient while they are inactive, and kept in the history.",
    )


class AccessLogPeriodForm(forms.Form):
    """The period of an access log export: local dates, both inclusive, at most MAX_ACCESS_LOG_DAYS."""

    start = forms.DateField(
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={
            "required": "Enter the first day of the period (YYYY-MM-DD).",
            "invalid": "The first day must be a date written YYYY-MM-DD, e.g. 2026-01-31.",
        },
    )
    end = forms.DateField(
        label="To (inclusive)",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={
            "required": "Enter the last day of the period (YYYY-MM-DD).",
            "invalid": "The last day must be a date written YYYY-MM-DD, e.g. 2026-12-31.",
        },
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        today = timezone.localdate()
        if start and start > today:
            self.add_error("start", f"The first day ({start:%d %b %Y}) is after today ({today:%d %b %Y}).")
        if start and end:
            if end < start:
                self.add_error(
                    "end", f"The last day ({end:%d %b %Y}) is before the first day ({start:%d %b %Y}); swap them."
                )
            elif (end - start).days >= MAX_ACCESS_LOG_DAYS:
                self.add_error(
                    "end",
                    f"The period is {(end - start).days + 1} days; choose at most {MAX_ACCESS_LOG_DAYS} days "
                    "(export a longer period a year at a time).",
                )
        return data

    def window(self):
        """The period as aware datetimes: from the start of `start` to the start of the day after `end`."""

        def midnight(day):
            return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))

        return midnight(self.cleaned_data["start"]), midnight(self.cleaned_data["end"] + datetime.timedelta(1))


ACCESS_LOG_HEADER = [
    "accessed at",
    "user",
    "user's name",
    "patient MRN",
    "patient id",
    "what",
    "address read",
    "client IP",
    "API client",
]
ACCESS_LOG_ROW_FIELDS = (
    "accessed_at",
    "user__username",
    "user__first_name",
    "user__last_name",
    "patient__mrn",
    "patient_id",
    "what",
    "path",
    "client_ip",
    "api_client",
)


def access_log_csv_lines(rows):
    """The access log as CSV lines (core.spreadsheet: BOM, no cell a spreadsheet would run)."""
    labels = dict(AccessLogEntry.What.choices)
    return spreadsheet.csv_lines(
        ACCESS_LOG_HEADER,
        (
            [
                timezone.localtime(accessed_at).isoformat(),
                username,
                f"{first_name} {last_name}".strip(),
                mrn or "",
                patient_id or "",
                labels.get(what, what),
                address,
                ip or "",
                api_client,
            ]
            for accessed_at, username, first_name, last_name, mrn, patient_id, what, address, ip, api_client in rows
        ),
    )


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(ReadOnlyAdmin):
    """The access log: administrators read it and export a period; nobody adds, edits or deletes a row."""

    list_display = ["accessed_at", "user", "api_client", "patient", "what", "client_ip", "path"]
    list_filter = ["what", "accessed_at"]
    search_fields = ["patient__mrn", "patient__family_name", "user__username", "api_client"]
    list_select_related = ["user", "patient"]
    # The log only grows: one count of the filtered rows a page, not a second one of every row.
    show_full_result_count = False

    def get_urls(self):
        export = path("export/", self.admin_site.admin_view(self.export_view), name="patients_accesslogentry_export")
        return [export, *super().get_urls()]

    def export_view(self, request):
        """A period of the log as CSV, oldest first; the form again, with what is wrong, if the dates are."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = AccessLogPeriodForm(request.GET or None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Export the access log",
                "form": form,
                "max_days": MAX_ACCESS_LOG_DAYS,
            }
            status = 400 if request.GET else 200
            return TemplateResponse(request, "admin/patients/accesslogentry/export.html", context, status=status)
        start, end = form.window()
        # The export shows which patients were read by whom: it is itself a read, logged like the others.
        services.log_access(request, None, AccessLogEntry.What.ACCESS_LOG_CSV)
        rows = (
            AccessLogEntry.objects.filter(accessed_at__gte=start, accessed_at__lt=end)
            .order_by("accessed_at", "id")
            .values_list(*ACCESS_LOG_ROW_FIELDS)
        )
        response = StreamingHttpResponse(
            access_log_csv_lines(rows.iterator(chunk_size=2000)), content_type="text/csv; charset=utf-8"
        )
        data = form.cleaned_data
        filename = f"myolab-access-log-{data['start']:%Y-%m-%d}-to-{data['end']:%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
