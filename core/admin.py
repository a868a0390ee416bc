from django.contrib import admin

from .forms import AsciiDigitsModelForm, ModelMultipleIdsField


class NoDeleteAdmin(admin.ModelAdmin):
    """Clinical records and catalogue entries are deactivated, never deleted; number fields and id
    choices take the digits 0–9 only (AsciiDigitsModelForm), and no id too large for a row (ModelMultipleIdsField)."""

    form = AsciiDigitsModelForm

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return super().formfield_for_manytomany(db_field, request, form_class=ModelMultipleIdsField, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoDeleteAdmin):
    """Rows that change only elsewhere (findings through the clinician pages) or never (the logs):
    administrators read them; nobody adds, edits or deletes one here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
