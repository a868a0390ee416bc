from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from core.admin import NoDeleteAdmin

from . import services
from .models import ContributingFactor, Patient


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
    readonly_fields = ["created_at", "created_by", "updated_at", "updated_by", "last_activity_at"]
    filter_horizontal = ["contributing_factors"]
    actions = ["deactivate", "reactivate"]

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

    @admin.action(description="Deactivate selected patients (hide from the list, keep every record)")
    def deactivate(self, request, queryset):
        for patient in queryset:
            services.set_patient_active(patient, active=False, by=request.user)
        messages.success(request, f"Deactivated {queryset.count()} patient(s).")

    @admin.action(description="Reactivate selected patients")
    def reactivate(self, request, queryset):
        for patient in queryset:
            services.set_patient_active(patient, active=True, by=request.user)
        messages.success(request, f"Reactivated {queryset.count()} patient(s).")
