from django.contrib import admin

from .models import CodeMapping


@admin.register(CodeMapping)
class CodeMappingAdmin(admin.ModelAdmin):
    """Local codes: a laboratory's own test codes (OBX-3 without LOINC) mapped to the catalogue's analytes.
    A mapping is configuration, not clinical data: a wrong one is changed or deleted here; the results
    imported with it keep their own history."""

    list_display = ["sending_facility", "code", "analyte", "changed_at"]
    list_filter = ["sending_facility"]
    search_fields = ["sending_facility", "code", "analyte__name"]
    list_select_related = ["analyte"]
