from django.contrib import admin
from django.shortcuts import redirect
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from core.admin import NoDeleteAdmin, ReadOnlyAdmin

from .models import CriticalCall, Finding, FollowUpPlan, ReviewSettings, Rule, Topic


@admin.register(Topic)
class TopicAdmin(SimpleHistoryAdmin, NoDeleteAdmin):
    list_display = ["title", "slug", "active", "updated_at", "updated_by"]
    list_filter = ["active"]
    search_fields = ["title", "summary"]
    readonly_fields = ["updated_at", "updated_by"]
    prepopulated_fields = {"slug": ["title"]}
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "active"]}),
        (
            "Sections (markdown: **bold**, *italic*, lists with '-', links as [text](https://…))",
            {"fields": [name for name, _ in Topic.SECTIONS]},
        ),
        ("Last change", {"fields": ["updated_at", "updated_by"]}),
    ]

    def save_model(self, request, obj, form, change):
        obj.updated_at, obj.updated_by = timezone.now(), request.user
        super().save_model(request, obj, form, change)


@admin.register(Rule)
class RuleAdmin(SimpleHistoryAdmin, NoDeleteAdmin):
    list_display = [
        "code",
        "analyte",
        "flags",
        "with_analyte",
        "priority",
        "topic",
        "severity",
        "action_type",
        "active",
    ]
    list_filter = ["active", "severity", "topic", "analyte"]
    list_select_related = ["analyte", "with_analyte", "topic"]
    search_fields = ["code", "summary"]
    filter_horizontal = ["relevant_factors"]
    fieldsets = [
        (None, {"fields": ["code", "active", "topic", "severity", "summary"]}),
        ("When it matches", {"fields": ["analyte", "flags", "value_below", "value_above", "uln_multiple_above"]}),
        ("Pattern (optional)", {"fields": ["with_analyte", "with_flags", "covers", "priority"]}),
        ("Suggestion", {"fields": ["action_type", "retest_days", "relevant_factors"]}),
    ]


class ReviewRecordAdmin(SimpleHistoryAdmin, ReadOnlyAdmin):
    """Findings and plans change only through the clinician pages (which enforce the review rules)."""


@admin.register(Finding)
class FindingAdmin(ReviewRecordAdmin):
    list_display = ["id", "patient", "result", "topic", "severity", "critical", "status", "created_at"]
    list_filter = ["status", "severity", "critical", "topic"]
    list_select_related = ["patient", "result__analyte", "topic"]
    search_fields = ["patient__mrn", "patient__family_name", "summary"]


@admin.register(FollowUpPlan)
class FollowUpPlanAdmin(ReviewRecordAdmin):
    list_display = ["id", "patient", "action_type", "due_date", "owner", "status", "met_result", "version"]
    list_filter = ["status", "action_type"]
    list_select_related = ["patient", "owner", "met_result__analyte"]
    search_fields = ["patient__mrn", "patient__family_name", "details"]


@admin.register(CriticalCall)
class CriticalCallAdmin(ReviewRecordAdmin):
    list_display = ["finding", "told", "method", "told_at", "read_back", "recorded_by"]
    list_filter = ["method", "read_back"]
    list_select_related = ["finding__result__analyte", "finding__topic", "recorded_by"]
    search_fields = ["finding__patient__mrn", "finding__patient__family_name", "told"]


@admin.register(ReviewSettings)
class ReviewSettingsAdmin(SimpleHistoryAdmin, NoDeleteAdmin):
    """One row: its page opens straight from the list, and there is nothing to add."""

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        return redirect("admin:guidance_reviewsettings_change", ReviewSettings.current().pk)
