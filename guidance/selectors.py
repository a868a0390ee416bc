"""Reads that pages repeat: each one a fixed number of queries, whatever the amount of data."""

import datetime
import hashlib
import math
from dataclasses import dataclass

from django.contrib.auth.context_processors import PermWrapper
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone

from labs.models import Panel, Result
from labs.selectors import analytes_version
from labs.trends import CHART_CACHE_SECONDS

from .findings import ReviewItem, review_items
from .models import Finding, FollowUpPlan, ReviewSettings, Topic

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
# A result's limits, and whose they are when the laboratory's (Result.range_text reads all six).
LIMITS = ("range_low", "range_high", "range_critical_low", "range_critical_high", "range_source", "range_default")
# What a plan line shows (guidance/includes/plan_line.html): building three whole users per plan, with
# their passwords and dates, cost the patient page more than its query did.
PLAN_LINE_FIELDS = (
    *("finding_id", "action_type", "analyte_id", "details", "due_date", "status", "outcome_note", "closed_at"),
    *("met_result_id", "version", "updated_at", "owner_id", "closed_by_id", "updated_by_id", "analyte__name"),
    *(f"{user}__{field}" for user in ("owner", "closed_by", "updated_by") for field in USER_NAME),
    *(f"met_result__{field}" for field in ("comparator", "value", "flag", "status", "collected_at", "analyte_id")),
    *(f"met_result__{field}" for field in LIMITS),
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
        .select_related("result__analyte", "partner_result__analyte", "previous_result")
        # And only the columns it shows (the worklist's row, the result's date): 118 columns made reading
        # and building the rows cost more than the query.
        .only(*(name for name in FINDING_ROW_FIELDS if not name.startswith("patient__")), "result__collected_at")
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


# The patient page's findings summary was half of the page's own time for a patient with years of
# results (about 19 ms to read ten findings and their plans through the ORM, 6 ms to render them, of
# 46 ms), and changes only when what it shows does. It is kept in the cache as HTML under a key made of
# all of it (_findings_key), as labs.selectors keeps the results' views.
FINDINGS_TEMPLATE = "guidance/includes/patient_findings.html"
# Bump when that template (or an include of it, or the tags and code that fill them) changes, so cached
# summaries of the old look are not served: as labs.selectors' RESULTS_SECTIONS_VERSION.
FINDINGS_SECTION_VERSION = 1


def findings_section(patient, analytes, *, user, everything=False) -> str:
    """The patient page's findings summary (FINDINGS_TEMPLATE filled by patient_findings), as HTML.
    `analytes` are labs.trends.patient_analytes(patient): their results' versions are in the key, since
    the summary shows the findings' values; `user` decides the review and plan links.

    Queries: what the findings' and plans' version is made of (one), the cache read; on a cache miss,
    patient_findings' three and the cache write."""
    key = _findings_key(patient, analytes, user, everything)
    html = cache.get(key)
    if html is None:
        findings, more_findings = patient_findings(patient, everything=everything)
        context = {"findings": findings, "more_findings": more_findings, "patient": patient, "perms": PermWrapper(user)}
        html = render_to_string(FINDINGS_TEMPLATE, context)
        cache.set(key, html, timeout=CHART_CACHE_SECONDS)
    return html  # a SafeString, from the template or as the cache pickled it


# What _findings_key reads, written out in SQL: through the ORM (four subqueries) Django took 3.3 ms to
# build the query, which PostgreSQL answers in 0.4 ms from the indexes on patient_id.
FINDINGS_VERSIONS_SQL = """
SELECT (SELECT COUNT(*) FROM guidance_finding WHERE patient_id = %s),
       (SELECT MAX(history_id) FROM guidance_historicalfinding WHERE patient_id = %s),
       (SELECT MAX(history_id) FROM guidance_historicalfollowupplan WHERE patient_id = %s),
       (SELECT MAX(history_id) FROM guidance_historicaltopic)
"""


def _findings_key(patient, analytes, user, everything):
    """Changes whenever the summary would: a finding opened (their count) or changed in any way, a plan
    made or changed (every write of either keeps a history row, whose newest id is in the key), an
    explanation retitled (the same, for topics), a result shown or its analyte changed
    (labs.selectors.analytes_version), the day (a plan falls overdue), the patient's being active, the
    user's right to decide findings and change plans, `everything`, the time zone, or
    FINDINGS_SECTION_VERSION. What it does not follow: an account renamed after it was named as a plan's
    owner (as the results' views do not)."""
    with connection.cursor() as cursor:
        cursor.execute(FINDINGS_VERSIONS_SQL, [patient.pk] * 3)
        versions = cursor.fetchone()
    made_of = repr(
        (
            FINDINGS_SECTION_VERSION,
            timezone.get_current_timezone_name(),
            timezone.localdate(),
            (patient.pk, patient.is_active),
            user.has_perm("guidance.change_finding"),
            user.has_perm("guidance.change_followupplan"),
            everything,
            versions,
            analytes_version(analytes),
        )
    )
    return f"findings-section:{patient.pk}:{hashlib.sha256(made_of.encode()).hexdigest()}"


EARLIER_SHOWN = 5


def finding_context(finding) -> dict:
    """What the finding page shows around its result, in three queries however long the history: the
    last EARLIER_SHOWN values of the test up to this one (dates and flags), the rest of its panel, and
    the patient's contributing factors."""
    result = finding.result
    return {
        "earlier_values": list(
            Result.objects.filter(patient_id=finding.patient_id, analyte_id=result.analyte_id)
            .filter(Q(collected_at__lt=result.collected_at) | Q(pk=result.pk))
            .select_related("analyte")
            .order_by("-collected_at", "-id")[:EARLIER_SHOWN]
        ),
        "panel_results": list(
            Result.objects.filter(panel_id=result.panel_id)
            .exclude(pk=result.pk)
            .select_related("analyte")
            .order_by("analyte__sort_order", "id")
        ),
        "factors": list(finding.patient.contributing_factors.all()),
    }


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
FINDING_ROW = ("patient", "result__analyte", "partner_result__analyte", "previous_result")
# Only the columns the row shows: Django spent more time building the query with every column of five
# tables (hashing each one to place the ORDER BY) than PostgreSQL spent running it.
RESULT_SHOWN = (
    "comparator",
    "value",
    "flag",
    "status",  # a preliminary result says so
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
    *(
        "delta_rule_id",
        "previous_result_id",
        "previous_result__value",
        "previous_result__comparator",
        "previous_result__collected_at",
    ),
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


# --- the worklist by report -----------------------------------------------------------------------

REPORTS_SHOWN = 10  # reports on the home page (each row shows its values and findings)
# The patient as a report's row names them, and whether they are deactivated (then read-only).
PATIENT_NAME = ("patient__mrn", "patient__given_name", "patient__family_name", "patient__is_active")


class ReportsAwaitingReview:
    """The reports (panels) with a finding awaiting a decision, in the worklist's order: those with a
    critical result not yet acknowledged first, then the oldest collected first. A superseded finding
    awaits nothing. Sliceable and countable, for the home page's first rows and for Paginator.

    Read from the findings' own copies of their report and collection time, in two parts: the reports with
    a critical result waiting are few (the partial index finding_worklist_critical_idx, with since when
    each has waited); the others are read a slice at a time in the order of finding_worklist_reports_idx.
    Ordering the panels by an EXISTS "has a critical finding" took 510 ms in PostgreSQL at 2,000,000
    results, reading every undecided finding's result and panel; see README "Performance"."""

    def __init__(self):
        self._critical = list(
            Finding.objects.critical_awaiting_acknowledgement()
            .values_list("panel_id", "collected_at")
            .annotate(since=Min("created_at"))
            .order_by("collected_at", "panel_id")
        )
        self._critical_since = {panel_id: since for panel_id, _, since in self._critical}
        self._others = Finding.objects.awaiting_decision().exclude(
            panel_id__in=Finding.objects.critical_awaiting_acknowledgement().values("panel_id")
        )
        self._count = None

    def count(self):
        if self._count is None:
            self._count = len(self._critical) + self._others.values("panel_id").distinct().count()
        return self._count

    def __len__(self):
        return self.count()

    def __getitem__(self, window):
        if not isinstance(window, slice) or window.step is not None:
            raise TypeError("Reports awaiting review are read a slice at a time.")
        start, stop = window.start or 0, window.stop
        ids = [panel_id for panel_id, _, _ in self._critical[start:stop]]
        others_known_none = self._count is not None and self._count == len(self._critical)
        if (stop is None or stop > len(self._critical)) and not others_known_none:
            first = max(0, start - len(self._critical))
            last = None if stop is None else stop - len(self._critical)
            ids += [
                panel_id
                for _, panel_id in self._others.values_list("collected_at", "panel_id")
                .distinct()
                .order_by("collected_at", "panel_id")[first:last]
            ]
        panels = (
            Panel.objects.filter(pk__in=ids)
            .select_related("patient")
            .only("collected_at", "lab_name", "accession_number", "patient_id", *PATIENT_NAME)
            .in_bulk()
        )
        shown = [panels[pk] for pk in ids if pk in panels]
        for panel in shown:
            panel.critical_since = self._critical_since.get(panel.pk)
            panel.critical_waiting = panel.critical_since is not None
        return shown


@dataclass
class ReportRow:
    """One report on the worklist: its abnormal values and its findings awaiting a decision, as review
    items (a pattern with the plain findings it covers)."""

    panel: Panel
    abnormal: list[Result]
    items: list[ReviewItem]
    overdue: bool = False  # a critical result not acknowledged within ReviewSettings.critical_call_minutes

    @property
    def finding_count(self):
        return sum(len(item.findings) for item in self.items)


REPORT_FINDING_FIELDS = (
    *("patient_id", "result_id", "partner_result_id", "topic_id", "rule_id", "severity", "critical", "summary"),
    *("status", "created_at", "rule__covers", "result__panel_id"),
    *(f"result__{name}" for name in RESULT_SHOWN),
    *(f"partner_result__{name}" for name in RESULT_SHOWN),
    # A delta finding's change: its rule and the previous result (labs_format.delta_text).
    *(
        "delta_rule_id",
        "previous_result_id",
        "previous_result__value",
        "previous_result__comparator",
        "previous_result__collected_at",
    ),
)


def report_rows(panels, *, overdue_before=None) -> list[ReportRow]:
    """The rows of `panels` (a page of ReportsAwaitingReview()): three queries however many, the
    abnormal results, the findings awaiting a decision and their topics' titles. A report whose critical
    result has waited since before `overdue_before` is overdue."""
    panels = list(panels)
    ids = [panel.pk for panel in panels]
    abnormal, findings = {}, {}
    for result in (
        Result.objects.abnormal()
        .filter(panel_id__in=ids)
        .select_related("analyte")
        .only("panel_id", "status", *RESULT_SHOWN)
        .order_by("analyte__sort_order", "id")
    ):
        abnormal.setdefault(result.panel_id, []).append(result)
    for finding in (
        Finding.objects.awaiting_decision()
        .filter(result__panel_id__in=ids)
        .select_related("rule", "result__analyte", "partner_result__analyte", "previous_result")
        .only(*REPORT_FINDING_FIELDS)
        .prefetch_related(topic_titles())
    ):
        findings.setdefault(finding.result.panel_id, []).append(finding)
    return [
        ReportRow(
            panel,
            abnormal.get(panel.pk, []),
            review_items(findings.get(panel.pk, [])),
            overdue=bool(overdue_before and panel.critical_since and panel.critical_since < overdue_before),
        )
        for panel in panels
    ]


def critical_overdue_before(now):
    """Critical results entered before this time and still not acknowledged are overdue (one query)."""
    return now - datetime.timedelta(minutes=ReviewSettings.current().critical_call_minutes)


def report_detail(panel_id):
    """A report with all its results and its findings awaiting a decision, for reviewing it in one go."""
    panel = Panel.objects.select_related("patient").get(pk=panel_id)
    findings = (
        Finding.objects.awaiting_decision()
        .filter(result__panel=panel)
        .select_related("rule", "result__analyte", "partner_result__analyte", "previous_result")
        .prefetch_related(topic_titles())
    )
    results = list(panel.results.select_related("analyte").order_by("analyte__sort_order", "id"))
    return panel, results, review_items(findings)


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
            *("finding__result__analyte_id", "finding__result__status"),
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
    overdue_before = critical_overdue_before(timezone.now())
    reports = ReportsAwaitingReview()
    return {
        "overdue_before": overdue_before,
        "reports": report_rows(reports[:REPORTS_SHOWN], overdue_before=overdue_before),
        "reports_count": reports.count(),
        "reports_shown": REPORTS_SHOWN,
        "critical_count": critical_count,
        "awaiting_count": awaiting_count,
        "plans": list(plans[:WORKLIST_SHOWN]),
        "plans_count": _plans_of(user=user, everyone=everyone).count_needing_attention(today=today),
        "panels": panels,
        "shown": WORKLIST_SHOWN,
    }


# The worklist's sections (its reports, follow-ups and recent panels) cost most of the home page's time:
# 30–55 ms at 2,000,000 results, for the 20 queries of worklist() and rendering its rows. Every clinician's
# home page shows the same reports until something on them changes, so they are kept in the cache as HTML
# under a key of all they show, as the patient page's sections are.
WORKLIST_SECTIONS_TEMPLATE = "guidance/includes/worklist_sections.html"
# Bump when that template (or an include of it, or the tags and code that fill them) changes.
WORKLIST_SECTIONS_VERSION = 2
# Every write of a finding, plan, result, panel, patient, explanation, rule, analyte or the review settings
# keeps a history row; the newest ids say whether anything the worklist shows has changed (each the last
# entry of a primary key's index: 0.3 ms for them all).
WORKLIST_VERSIONS_SQL = """
SELECT (SELECT MAX(history_id) FROM guidance_historicalfinding),
       (SELECT MAX(history_id) FROM guidance_historicalfollowupplan),
       (SELECT MAX(history_id) FROM labs_historicalresult),
       (SELECT MAX(history_id) FROM labs_historicalpanel),
       (SELECT MAX(history_id) FROM patients_historicalpatient),
       (SELECT MAX(history_id) FROM guidance_historicaltopic),
       (SELECT MAX(history_id) FROM guidance_historicalrule),
       (SELECT MAX(history_id) FROM labs_historicalanalyte),
       (SELECT MAX(history_id) FROM guidance_historicalreviewsettings)
"""


def worklist_sections(*, user, everyone: bool, today) -> str:
    """The home page's reports, follow-ups and recent panels (WORKLIST_SECTIONS_TEMPLATE filled by
    worklist()), as HTML: two queries while nothing they show has changed (what their version is made
    of, the cache read); else worklist()'s and the cache write.

    Kept until the first report shown becomes overdue (its critical result unacknowledged for longer
    than the review settings allow), so that mark is never late. What the key does not follow: an account
    renamed after it entered a panel or owns a plan (as the patient page's sections do not)."""
    with connection.cursor() as cursor:
        cursor.execute(WORKLIST_VERSIONS_SQL)
        versions = cursor.fetchone()
    made_of = repr(
        (
            WORKLIST_SECTIONS_VERSION,
            timezone.get_current_timezone_name(),
            today,  # a plan falls due, or overdue
            everyone or user.pk,  # whose follow-ups
            versions,
        )
    )
    key = f"worklist-sections:{hashlib.sha256(made_of.encode()).hexdigest()}"
    html = cache.get(key)
    if html is None:
        lists = worklist(user=user, everyone=everyone, today=today)
        html = render_to_string(WORKLIST_SECTIONS_TEMPLATE, {**lists, "everyone": everyone, "today": today})
        cache.set(key, html, timeout=_fresh_for(lists["reports"], lists["overdue_before"]))
    return html  # a SafeString, from the template or as the cache pickled it


def _fresh_for(reports, overdue_before) -> int:
    """Seconds until the first of `reports` (ReportRow) not yet overdue becomes so; a week if none will."""
    waiting = [row.panel.critical_since for row in reports if row.panel.critical_since and not row.overdue]
    if not waiting:
        return CHART_CACHE_SECONDS
    return max(1, math.ceil((min(waiting) - overdue_before).total_seconds()))


def _count_results(results):
    """The panel's `results` (a Result queryset), counted in a subquery that PostgreSQL runs only for the
    panels shown. Count("results") grouped every result of every panel first: 5 s at 2,000,000 results."""
    results = results.filter(panel=OuterRef("pk")).order_by().values("panel")
    return Coalesce(Subquery(results.annotate(n=Count("pk")).values("n")), 0)
