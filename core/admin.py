from django.contrib import admin


class NoDeleteAdmin(admin.ModelAdmin):
    """Clinical records and catalogue entries are deactivated, never deleted."""

    def has_delete_permission(self, request, obj=None):
        return False
