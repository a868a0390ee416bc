from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .models import ContributingFactor, Patient, PatientExport


class NoDeleteAdmin(admin.ModelAdmin):
    """Clinical records and catalogue entries are deactivated, never deleted."""

    def has_delete_permission(self, request, obj=None):
        return False


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
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)

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


@admin.register(PatientExport)
class PatientExportAdmin(admin.ModelAdmin):
    """The export log: administrators read it; nobody adds, edits or deletes a row."""

    list_display = ["created_at", "user", "patient", "format", "detail"]
    list_filter = ["format", "created_at"]
    search_fields = ["patient__mrn", "patient__family_name", "user__username", "detail"]
    list_select_related = ["user", "patient"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
