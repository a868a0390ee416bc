"""Administrators keep the analyte catalogue and the reference ranges here. Nothing is deleted.

A reference range that has been applied to results is never edited in place: saving a change to it
creates a new version from the effective date the administrator enters (labs.services.revise_reference_range),
and the results already interpreted keep the version they used.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from core.admin import NoDeleteAdmin
from core.forms import AsciiDigitsModelForm, add_service_errors
from core.text import plain

from . import services
from .models import Analyte, AnalyteUnit, DeltaRule, Panel, ReferenceRange, Result, SpecimenCondition


class AnalyteUnitInline(admin.TabularInline):
    model = AnalyteUnit
    form = AsciiDigitsModelForm
    extra = 0
    fields = ["unit", "label", "factor", "decimal_places", "active"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Analyte)
class AnalyteAdmin(SimpleHistoryAdmin, NoDeleteAdmin):
    list_display = ["name", "code", "loinc", "canonical_unit", "plausible_low", "plausible_high", "active"]
    list_filter = ["active"]
    search_fields = ["name", "code", "loinc"]
    readonly_fields = ["changed_at", "changed_by"]
    inlines = [AnalyteUnitInline]

    def save_model(self, request, obj, form, change):
        obj.changed_by, obj.changed_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(SpecimenCondition)
class SpecimenConditionAdmin(SimpleHistoryAdmin, NoDeleteAdmin):
    """The list offered on the entry form; retire an entry (active off) rather than delete it."""

    list_display = ["name", "code", "sort_order", "active"]
    list_editable = ["sort_order", "active"]


class ReferenceRangeForm(AsciiDigitsModelForm):
    class Meta:
        model = ReferenceRange
        fields = [
            "analyte",
            "sex",
            "age_min_years",
            "age_max_years",
            "normal_low",
            "normal_high",
            "critical_low",
            "critical_high",
            "effective_from",
            "source",
        ]

    def clean(self):
        cleaned = super().clean()
        effective_from = cleaned.get("effective_from")
        if self.instance.pk and self.has_changed() and effective_from:
            try:
                services.check_revision_date(self.instance, effective_from)
            except ValidationError as error:
                add_service_errors(self, error)
        return cleaned


@admin.register(ReferenceRange)
class ReferenceRangeAdmin(SimpleHistoryAdmin, NoDeleteAdmin):
    form = ReferenceRangeForm
    list_display = ["analyte", "sex", "age_band", "limits_text", "effective_from", "changed_by"]
    list_filter = ["analyte", "sex", "effective_from"]
    list_select_related = ["analyte", "changed_by"]
    readonly_fields = ["changed_at", "changed_by"]
    fields = [*ReferenceRangeForm.Meta.fields, "changed_at", "changed_by"]

    @admin.display(description="age band")
    def age_band(self, obj):
        return obj.applies_to_text().split(", ", 1)[1]

    @admin.display(description="normal range")
    def limits_text(self, obj):
        return obj.describe()

    def _is_used(self, obj):
        return obj is not None and obj.pk is not None and ReferenceRange.objects.used().filter(pk=obj.pk).exists()

    def get_readonly_fields(self, request, obj=None):
        # Who a used range applies to is part of what results were read against: a new band is a new range.
        if self._is_used(obj):
            return [*self.readonly_fields, "analyte", "sex", "age_min_years", "age_max_years"]
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if self._is_used(obj):
            form.base_fields["effective_from"].help_text = (
                f"This range has been applied to results. Saving a change creates a new version effective "
                f"from the date you enter here (after {obj.effective_from:%d %b %Y}); the results already "
                "interpreted keep this version."
            )
        return form

    def save_model(self, request, obj, form, change):
        # Always through the service, which edits an unused range in place and saves a change to a used
        # one as a new version; a new range is saved in place too.
        if change and not form.has_changed():
            return
        used = change and self._is_used(obj)
        new = services.revise_reference_range(
            ReferenceRange.objects.get(pk=obj.pk) if used else obj,
            effective_from=obj.effective_from,
            by=request.user,
            **{name: getattr(obj, name) for name in services.RANGE_FIELDS},
        )
        obj.pk = new.pk  # the confirmation message and redirect name the version saved
        if used:
            messages.info(
                request,
                f"This range had been applied to results, so the change was saved as a new version effective "
                f"from {new.effective_from:%d %b %Y}. The earlier version and its results are unchanged.",
            )


@admin.register(Panel)
class PanelAdmin(SimpleHistoryAdmin, NoDeleteAdmin):
    """Read-only in the admin: clinicians enter and correct results in the app, which checks them."""

    list_display = ["patient", "collected_at", "lab_name", "accession_number", "source", "entered_by"]
    list_filter = ["source"]
    list_select_related = ["patient", "entered_by"]
    search_fields = ["patient__mrn", "accession_number"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Result)
class ResultAdmin(PanelAdmin):
    list_display = ["patient", "analyte", "value_entered", "unit_entered", "flag", "status", "collected_at"]
    list_filter = ["flag", "status", "analyte"]
    list_select_related = ["patient", "analyte"]
    search_fields = ["patient__mrn"]


@admin.register(DeltaRule)
class DeltaRuleAdmin(SimpleHistoryAdmin, NoDeleteAdmin):
    """Delta rules: which change between consecutive results opens a finding. A changed rule applies to
    results saved, corrected or withdrawn from then on; findings already open are kept as they are."""

    list_display = ["analyte", "kind", "rule_text", "active"]
    list_filter = ["kind", "active"]
    list_select_related = ["analyte"]
    fields = [
        "analyte",
        "kind",
        "limit",
        "cv_within_subject",
        "cv_analytical",
        "z",
        "rcv_text",
        "window_days",
        "source",
        "active",
    ]
    readonly_fields = ["rcv_text"]

    @admin.display(description="rule")
    def rule_text(self, obj):
        return obj.describe()

    @admin.display(description="reference change value (computed)")
    def rcv_text(self, obj):
        if obj.pk and obj.kind == DeltaRule.Kind.RCV:
            return f"{plain(obj.percent_limit)} % = √2 × Z × √(CVA² + CVI²)"
        return "Only for a reference change value: √2 × Z × √(CVA² + CVI²), from the fields above."
