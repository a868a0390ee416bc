"""Reads that pages repeat: each one a fixed number of queries, whatever the amount of data."""

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Subquery,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce

from labs.models import Panel, Result

from .models import Finding, FollowUpPlan, Topic

RECENT_PANELS = 10

# What a finding still needs, most pressing first: a critical result to acknowledge, a decision, a
# follow-up still planned; CLOSED_RANK: nothing (no action needed, resolved, or every plan done or cancelled).
CLOSED_RANK = 3
ATTENTION_RANK = Case(
    When(status=Finding.Status.OPEN, critical=True, then=Value(0)),
    When(status__in=Finding.UNDECIDED, then=Value(1)),
    When(
        Exists(FollowUpPlan.objects.planned().filter(finding=OuterRef("pk"))),
        then=Value(2),
    ),
    default=Value(CLOSED_RANK),
    output_field=IntegerField(),
)


USER_NAME = ("username", "first_name", "last_name")
# A result's range snapshot: what its shown value's precision depends on (Result.display_value).
LIMITS = ("range_low", "range_high", "range_critical_low", "range_critical_high")
# What a plan line shows (guidance/includes/plan_line.html): building three whole users per plan, with
# their passwords and dates, cost the patient page more than its query did.
PLAN_LINE_FIELDS = (
    *("finding_id", "action_type", "analyte_id", "details", "due_date", "status", "outcome_note", "closed_at"),
    *("met_result_id", "version", "updated_at", "owner_id", "closed_by_id", "updated_by_id", "analyte__name"),
    *(f"{user}__{field}" for user in ("owner", "closed_by", "updated_by") for field in USER_NAME),
    *(f"met_result__{field}" for field in ("comparator", "value", "flag", "collected_at", "analyte_id", *LIMITS)),
    *(f"met_result__analyte__{field}" for field in ("name", "canonical_unit", "display_decimal_places")),
)


def plans_prefetch():
    return Prefetch(
        "plans",
        queryset=FollowUpPlan.objects.select_related(
            "owner", "closed_by", "updated_by", "analyte", "met_result__analyte"
        )
        .only(*PLAN_LINE_FIELDS)
        .order_by("status", "due_date", "id"),
    )


# The patient page shows every finding that still needs something, up to ATTENTION_SHOWN, then the
# CLOSED_SHOWN most recent others, and a link to all of them. It showed the first twenty in status
# order: for a patient with years of results, a planned follow-up that was overdue sat below a screenful
# of findings whose plans were long done, and rendering them was a third of the page's time.
ATTENTION_SHOWN = 20
CLOSED_SHOWN = 3


def patient_findings(patient, *, everything=False) -> tuple[list[Finding], bool]:
    """(A patient's findings with their topics and plans, whether some were left out): three queries.

    Those still needing something come first (ATTENTION_RANK), then the others, newest first. Unless
    `everything`, only the first ATTENTION_SHOWN still needing something and the CLOSED_SHOWN newest others.
    """
    findings = (
        Finding.objects.filter(patient=patient)
        # What the list shows (title, result date, explanation link), not for_display()'s patient, rule and
        # deciders: with those ten joins PostgreSQL spent 6 ms planning the query, with these four 1 ms.
        .select_related("result__analyte", "partner_result__analyte")
        .annotate(rank=ATTENTION_RANK)
        .order_by("rank", "-created_at", "id")
    )
    if everything:
        shown = list(findings)
        left_out = False
    else:
        first = list(findings[: ATTENTION_SHOWN + CLOSED_SHOWN + 1])
        needing = [finding for finding in first if finding.rank < CLOSED_RANK][:ATTENTION_SHOWN]
        closed = [finding for finding in first if finding.rank == CLOSED_RANK][:CLOSED_SHOWN]
        shown = needing + closed
        left_out = len(first) > len(shown)
    # Topics' titles and slugs in a query of their own: joined in, each finding brought its topic's
    # whole text. Fetched for the findings shown only.
    prefetch_related_objects(
        shown, Prefetch("topic", queryset=Topic.objects.only("id", "slug", "title")), plans_prefetch()
    )
    return shown, left_out


def finding_detail(pk):
    return Finding.objects.for_display().prefetch_related(plans_prefetch()).get(pk=pk)


# The home page shows this many rows of each list, with the list's full count and a link to all of
# it (worklist_list). 100 rows a list made the page cost 90 ms at 2,000,000 results, most of it
# rendering rows nobody scrolls to; with 25 and a clinician's follow-ups shown too it still cost 31 ms,
# a p95 of 154 ms under make bench's load. Nothing is hidden: the count and the link stay on the page.
WORKLIST_SHOWN = 20

# What a worklist row shows (guidance/includes/worklist_findings.html): no rule or reviewers. The topic's
# title comes in its own small query: joining the topics (wide rows of markdown) into the findings'
# query doubled PostgreSQL's planning and execution time for it (4 ms more a list).
FINDING_ROW = ("patient", "result__analyte", "partner_result__analyte")
# Only the columns the row shows: Django spent more time building the query with every column of five
# tables (hashing each one to place the ORDER BY) than PostgreSQL spent running it.
RESULT_SHOWN = (
    "comparator",
    "value",
    "flag",
    *LIMITS,  # the value is shown with the precision its flag needs (Result.display_value)
    "analyte__name",
    "analyte__canonical_unit",
    "analyte__display_decimal_places",
)
FINDING_ROW_FIELDS = (
    *("patient_id", "result_id", "partner_result_id", "topic_id", "severity", "critical", "summary", "status"),
    *("created_at", "patient__mrn", "patient__given_name", "patient__family_name"),
    *(f"result__{name}" for name in RESULT_SHOWN),
    *(f"partner_result__{name}" for name in RESULT_SHOWN),
)


def topic_titles():
    return Prefetch("topic", queryset=Topic.objects.only("id", "title"))


def critical_findings():
    """Critical findings awaiting acknowledgement, oldest first."""
    return (
        Finding.objects.critical_awaiting_acknowledgement()
        .select_related(*FINDING_ROW)
        .only(*FINDING_ROW_FIELDS)
        .prefetch_related(topic_titles())
        .order_by("created_at", "id")
    )


def findings_awaiting_review():
    """Every other finding without a decision yet, oldest first."""
    return (
        Finding.objects.awaiting_decision()
        .exclude(status=Finding.Status.OPEN, critical=True)
        .select_related(*FINDING_ROW)
        .only(*FINDING_ROW_FIELDS)
        .prefetch_related(topic_titles())
        .order_by("created_at", "id")
    )


def _plans_of(*, user, everyone: bool):
    return FollowUpPlan.objects.all() if everyone else FollowUpPlan.objects.filter(owner=user)


def plans_needing_attention(*, user, everyone: bool, today):
    """Plans due, overdue or with their repeat result back: the user's own, or everyone's."""
    plans = _plans_of(user=user, everyone=everyone).needing_attention(today=today)
    # The analytes (a catalogue of a few rows) come in their own small queries: with them joined in,
    # the query had eight joins and PostgreSQL spent 9 ms planning it, even when it found no plans.
    return (
        plans.select_related("patient", "owner", "finding__result")
        .only(
            *("finding_id", "patient_id", "action_type", "analyte_id", "due_date", "owner_id", "met_result_id"),
            *("patient__mrn", "patient__given_name", "patient__family_name", "finding__result_id"),
            *("owner__username", "owner__first_name", "owner__last_name"),
            *("finding__result__comparator", "finding__result__value", "finding__result__flag"),
            "finding__result__analyte_id",
            *(f"finding__result__{name}" for name in LIMITS),
        )
        .prefetch_related("analyte", "met_result__analyte", "finding__result__analyte")
        .order_by("due_date", "id")
    )


def worklist(*, user, everyone: bool, today):
    """The home page: the first rows of each list and each list's full count, in a fixed number of
    queries whatever the amount of data."""
    plans = plans_needing_attention(user=user, everyone=everyone, today=today)
    # Counted from the two partial indexes alone (finding_worklist_undecided_idx and
    # finding_worklist_critical_idx, 2 ms); counting "undecided but not open-critical" directly reads
    # every undecided finding's row (23 ms at 11,000 of them).
    critical_count = Finding.objects.critical_awaiting_acknowledgement().count()
    awaiting_count = Finding.objects.awaiting_decision().count() - critical_count
    panels = list(
        Panel.objects.select_related("patient", "entered_by")
        .only(
            *("entered_at", "collected_at", "patient__mrn", "patient__given_name", "patient__family_name"),
            *("entered_by__username", "entered_by__first_name", "entered_by__last_name"),
        )
        .annotate(
            result_count=_count_results(Result.objects.all()), abnormal_count=_count_results(Result.objects.abnormal())
        )
        .order_by("-entered_at", "-id")[:RECENT_PANELS]
    )
    return {
        "critical": list(critical_findings()[:WORKLIST_SHOWN]),
        "critical_count": critical_count,
        "awaiting": list(findings_awaiting_review()[:WORKLIST_SHOWN]),
        "awaiting_count": awaiting_count,
        "plans": list(plans[:WORKLIST_SHOWN]),
        "plans_count": _plans_of(user=user, everyone=everyone).count_needing_attention(today=today),
        "panels": panels,
        "shown": WORKLIST_SHOWN,
    }


def _count_results(results):
    """The panel's `results` (a Result queryset), counted in a subquery that PostgreSQL runs only for the
    panels shown. Count("results") grouped every result of every panel first: 5 s at 2,000,000 results."""
    results = results.filter(panel=OuterRef("pk")).order_by().values("panel")
    return Coalesce(Subquery(results.annotate(n=Count("pk")).values("n")), 0)
