from django.contrib import admin


class NoDeleteAdmin(admin.ModelAdmin):
    """Clinical records and catalogue entries are deactivated, never deleted."""

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoDeleteAdmin):
    """Rows that change only elsewhere (findings through the clinician pages) or never (the logs):
    administrators read them; nobody adds, edits or deletes one here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
