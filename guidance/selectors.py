"""Reads that pages repeat: each one a fixed number of queries, whatever the amount of data."""

from django.db.models import Case, Count, IntegerField, OuterRef, Prefetch, Q, Subquery, Value, When
from django.db.models.functions import Coalesce

from labs.interpretation import ABNORMAL_FLAGS
from labs.models import Panel, Result

from .models import Finding, FollowUpPlan

WORKLIST_LIMIT = 100
RECENT_PANELS = 10

# Undecided first (critical before others), then decided, then resolved.
STATUS_RANK = Case(
    When(status=Finding.Status.OPEN, critical=True, then=Value(0)),
    When(status__in=Finding.UNDECIDED, then=Value(1)),
    When(status=Finding.Status.FOLLOW_UP_PLANNED, then=Value(2)),
    When(status=Finding.Status.NO_ACTION, then=Value(3)),
    default=Value(4),
    output_field=IntegerField(),
)


def plans_prefetch():
    return Prefetch(
        "plans",
        queryset=FollowUpPlan.objects.select_related(
            "owner", "closed_by", "updated_by", "analyte", "met_result__analyte"
        ).order_by("status", "due_date", "id"),
    )


# The patient page lists this many findings (undecided first, then the newest); a link shows them all.
# Without a limit, a patient with years of results made the page slower with every finding.
PATIENT_FINDINGS_SHOWN = 20


def patient_findings(patient, *, limit=None):
    """A patient's findings, undecided first, with their plans: two queries. With `limit`, at most
    limit + 1 of them, so that a page can say there are more without counting them all."""
    findings = (
        Finding.objects.filter(patient=patient)
        .for_display()
        .prefetch_related(plans_prefetch())
        .annotate(rank=STATUS_RANK)
        .order_by("rank", "-created_at", "id")
    )
    return list(findings if limit is None else findings[: limit + 1])


def finding_detail(pk):
    return Finding.objects.for_display().prefetch_related(plans_prefetch()).get(pk=pk)


def worklist(*, user, everyone: bool, today):
    """The home page's four lists, one query each."""
    critical = list(
        Finding.objects.critical_awaiting_acknowledgement().for_display().order_by("created_at", "id")[:WORKLIST_LIMIT]
    )
    awaiting = list(
        Finding.objects.awaiting_decision()
        .exclude(status=Finding.Status.OPEN, critical=True)
        .for_display()
        .order_by("created_at", "id")[:WORKLIST_LIMIT]
    )
    plans = FollowUpPlan.objects.needing_attention(today=today)
    if not everyone:
        plans = plans.filter(owner=user)
    plans = list(
        plans.select_related("patient", "owner", "analyte", "met_result__analyte", "finding__result__analyte").order_by(
            "due_date", "id"
        )[:WORKLIST_LIMIT]
    )
    abnormal = Q(flag__in=ABNORMAL_FLAGS) & ~Q(status=Result.Status.ENTERED_IN_ERROR)
    panels = list(
        Panel.objects.select_related("patient", "entered_by")
        .annotate(result_count=_count_results(), abnormal_count=_count_results(abnormal))
        .order_by("-entered_at", "-id")[:RECENT_PANELS]
    )
    return {"critical": critical, "awaiting": awaiting, "plans": plans, "panels": panels, "limit": WORKLIST_LIMIT}


def _count_results(condition=None):
    """The panel's results (meeting `condition`), counted in a subquery that PostgreSQL runs only for the
    panels shown. Count("results") grouped every result of every panel first: 5 s at 2,000,000 results."""
    results = Result.objects.filter(condition or Q(), panel=OuterRef("pk")).order_by().values("panel")
    return Coalesce(Subquery(results.annotate(n=Count("pk")).values("n")), 0)
