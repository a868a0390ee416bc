"""Reads for the exports: each builds what one export shows with a fixed number of queries."""

import datetime
from dataclasses import dataclass, field

from django.db.models import Case, Count, IntegerField, Max, Min, Q, Value, When
from django.utils import timezone

from guidance.models import CriticalCall, Finding, FollowUpPlan, Severity
from labs.cumulative import CumulativeTable, cumulative_table
from labs.models import Result
from labs.trends import Trend, trend_section, trends_for

# Closed follow-up plans stay on the summary this long after closing.
RECENTLY_CLOSED_DAYS = 90
OPEN_FINDING_STATUSES = (Finding.Status.OPEN, Finding.Status.ACKNOWLEDGED, Finding.Status.FOLLOW_UP_PLANNED)
SEVERITY_RANK = {Severity.URGENT: 0, Severity.PROMPT: 1, Severity.ROUTINE: 2}
SEVERITY_RANK_SQL = Case(
    *(When(severity=severity, then=Value(rank)) for severity, rank in SEVERITY_RANK.items()),
    output_field=IntegerField(),
)


@dataclass
class FindingGroup:
    """The open findings with one title (a topic, or an analyte and flag): a patient with years of low
    magnesium has one line, not fifty."""

    latest: Finding
    count: int
    critical: bool
    severity: str

    @property
    def title(self):
        return self.latest.title

    @property
    def severity_label(self):
        return Severity(self.severity).label


def open_finding_groups(patient) -> list[FindingGroup]:
    """Open findings grouped by title, the critical and most severe first, then the most recent.

    Two queries whatever the number of findings: the counts per topic, analyte, flag and pattern partner,
    then the newest finding of each of those.
    """
    counts = list(
        Finding.objects.filter(patient=patient, status__in=OPEN_FINDING_STATUSES)
        .values("topic_id", "result__analyte_id", "result__flag", "partner_result__analyte_id")
        .annotate(
            count=Count("id"),
            newest=Max("id"),
            critical=Max(Case(When(critical=True, then=Value(1)), default=Value(0))),
            rank=Min(SEVERITY_RANK_SQL),
        )
        .order_by()
    )
    newest = Finding.objects.select_related("result__analyte", "partner_result__analyte", "topic").in_bulk(
        [row["newest"] for row in counts]
    )
    groups = {}
    rank_to_severity = {rank: severity for severity, rank in SEVERITY_RANK.items()}
    for row in counts:
        finding = newest[row["newest"]]
        group = groups.get(finding.title)
        if group is None:
            groups[finding.title] = FindingGroup(
                latest=finding,
                count=row["count"],
                critical=bool(row["critical"]),
                severity=rank_to_severity[row["rank"]],
            )
            continue
        group.count += row["count"]
        group.critical = group.critical or bool(row["critical"])
        group.severity = min(group.severity, rank_to_severity[row["rank"]], key=SEVERITY_RANK.get)
        if finding.pk > group.latest.pk:
            group.latest = finding
    return sorted(groups.values(), key=lambda g: (not g.critical, SEVERITY_RANK[g.severity], -g.latest.pk))


@dataclass
class Summary:
    patient: object
    exported_by: object
    exported_at: datetime.datetime
    factors: list
    trends: list[Trend]
    finding_groups: list[FindingGroup]
    cumulative: CumulativeTable | None = None  # the patient page's results over time, its newest page
    open_plans: list[FollowUpPlan] = field(default_factory=list)
    closed_plans: list[FollowUpPlan] = field(default_factory=list)
    critical_calls: list[CriticalCall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def trend_section(self):
        """The print view's trend charts section (HTML, cached: see trend_section)."""
        return trend_section(self.patient, self.trends)


def plans_for(patient, *, closed_since=None):
    """The patient's follow-up plans, due first: all of them, or the open ones and those closed since."""
    plans = FollowUpPlan.objects.filter(patient=patient).select_related("owner", "analyte", "finding")
    if closed_since is not None:
        plans = plans.filter(Q(status=FollowUpPlan.Status.PLANNED) | Q(closed_at__gte=closed_since))
    return list(plans.order_by("due_date", "id"))


def critical_calls_for(patient, *, since):
    """How the patient's critical results were communicated (NPSG.02.03.01), newest first: one query."""
    return list(
        CriticalCall.objects.filter(finding__patient=patient, told_at__gte=since)
        .select_related("finding__result__analyte", "recorded_by")
        .order_by("-told_at", "-id")
    )


def latest_result_notes(trends) -> list[str]:
    """What the lab or the clinician noted on the latest results shown (specimen condition, panel and
    result comments), one line each, in the table's order. One query, for the few latest results."""
    latest = [trend.latest[0].pk for trend in trends]
    noted = (
        Result.objects.filter(pk__in=latest)
        .filter(~Q(comment="") | ~Q(panel__comment="") | Q(panel__specimen_condition__isnull=False))
        .select_related("analyte", "panel__specimen_condition")
        .only("analyte__name", "comment", "panel__comment", "panel__specimen_condition__name")
    )
    by_pk = {result.pk: result for result in noted}
    notes = []
    for result in (by_pk[pk] for pk in latest if pk in by_pk):
        said = []
        if result.panel.specimen_condition_id:
            said.append(f"specimen {result.panel.specimen_condition.name.lower()}")
        said += [text for text in (result.panel.comment, result.comment) if text]
        notes.append(f"{result.analyte.name}: {'; '.join(said)}")
    return notes


def patient_summary(patient, *, by, image_format: str = "svg") -> Summary:
    """Everything the print view and the PDF show.

    Queries: the plans, the contributing factors, the trends (see trends_for), the notes on the latest
    results, the open findings (two), the critical results' communication records, the cumulative view's
    newest page (five, see labs.cumulative).
    """
    now = timezone.now()
    plans = plans_for(patient, closed_since=now - datetime.timedelta(days=RECENTLY_CLOSED_DAYS))
    trends = trends_for(patient, image_format=image_format)
    return Summary(
        patient=patient,
        exported_by=by,
        exported_at=now,
        factors=list(patient.contributing_factors.all()),
        trends=trends,
        notes=latest_result_notes(trends),
        finding_groups=open_finding_groups(patient),
        cumulative=cumulative_table(patient, None),
        open_plans=[plan for plan in plans if plan.status == FollowUpPlan.Status.PLANNED],
        closed_plans=[plan for plan in plans if plan.status != FollowUpPlan.Status.PLANNED],
        critical_calls=critical_calls_for(patient, since=now - datetime.timedelta(days=RECENTLY_CLOSED_DAYS)),
    )
