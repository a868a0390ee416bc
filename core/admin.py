from django.contrib import admin

from .forms import AsciiDigitsModelForm


class NoDeleteAdmin(admin.ModelAdmin):
    """Clinical records and catalogue entries are deactivated, never deleted; number fields and id
    choices take the digits 0–9 only (AsciiDigitsModelForm)."""

    form = AsciiDigitsModelForm

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoDeleteAdmin):
    """Rows that change only elsewhere (findings through the clinician pages) or never (the logs):
    administrators read them; nobody adds, edits or deletes one here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
