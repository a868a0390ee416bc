from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import PatientExport


@admin.register(PatientExport)
class PatientExportAdmin(ReadOnlyAdmin):
    """The export log: administrators read it; nobody adds, edits or deletes a row."""

    list_display = ["created_at", "user", "patient", "format", "detail"]
    list_filter = ["format", "created_at"]
    search_fields = ["patient__mrn", "patient__family_name", "user__username", "detail"]
    list_select_related = ["user", "patient"]
    date_hierarchy = "created_at"
