"""Trend charts: one analyte's values over time against the normal range, readable without colour.

One drawing function (`trend_figure`) serves the patient page (SVG) and the PDF summary (JPEG). It uses
matplotlib's object API (a Figure printed by the Agg backend, never pyplot), which needs no display and
keeps no global state between requests.

A web page does not carry its charts: each is an <img> whose URL (`trend_chart_svg`, the view
`labs:trend_chart`) names the chart's version, so the page itself draws nothing and the browser keeps
a chart until it changes. Drawing a chart takes tens of milliseconds, so rendered charts are kept in
Django's cache (configured in config/settings.py) under a key made of the patient, the analyte (with
what the chart shows of it) and the newest change to that analyte's results (`Result.updated_at`, which
Django sets on every save): entering, correcting or withdrawing a result makes a new key
(and a new URL), and the chart is drawn again; otherwise it is read from the cache. The Trends section
of the pages (charts' <img> and the tables of latest values) is cached the same way (`trend_section`).
"""

import datetime
import hashlib
import io
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

import matplotlib
from django.core.cache import cache
from django.db.models import Count, F, Max, Min, Q, Window
from django.db.models.functions import RowNumber
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, DateFormatter
from matplotlib.figure import Figure

from labs.deltas import delta
from labs.interpretation import Flag
from labs.models import Analyte, DeltaRule, Result

# Without a date in the file, the same chart always gives the same bytes.
matplotlib.rcParams["svg.hashsalt"] = "myolab"

# The latest values drawn per chart: more points are not readable at page width, and drawing time
# grows with them. The table beside the chart lists the latest TABLE_ROWS; the CSV export has them all.
CHART_POINTS = 200
TABLE_ROWS = 10
# Bump when the drawing changes, so cached charts of the old look are not served.
CHART_VERSION = 6
CHART_CACHE_SECONDS = 7 * 24 * 3600
TREND_SECTION_TEMPLATE = "labs/includes/trend_charts.html"
# Bump when that template (or an include of it) changes, so cached sections of the old look are not served.
TREND_SECTION_VERSION = 3

# The time spans a page may ask for (`?span=`): code -> (label, days back from today; None: everything).
SPANS = {"1y": ("1 year", 365), "5y": ("5 years", 5 * 365 + 1), "all": ("All", None)}
DEFAULT_SPAN = "all"

# flag: (marker shape, colour, legend label). The shapes alone tell the flags apart.
MARKERS = {
    Flag.NORMAL: ("o", "#198754", "Normal (circle)"),
    Flag.LOW: ("v", "#c35a00", "Low (triangle down)"),
    Flag.HIGH: ("^", "#c35a00", "High (triangle up)"),
    Flag.CRITICAL_LOW: ("X", "#b02a37", "Critically low (cross)"),
    Flag.CRITICAL_HIGH: ("P", "#b02a37", "Critically high (plus)"),
    Flag.NO_RANGE: ("s", "#6c757d", "No reference range (square)"),
    Flag.INDETERMINATE: ("D", "#6c757d", "Cannot be judged (diamond)"),
}
# A censored value (">1000", "<5") is drawn at its limit as the comparator itself, in its flag's colour,
# so it never looks like a measured point.
CENSORED_MARKERS = {"<": ("$<$", "Below the value shown (<)"), ">": ("$>$", "Above the value shown (>)")}
BAND_COLOUR = "#cfe8d8"
# How to read a chart, printed above the charts on the page and in the PDF.
LEGEND = (
    "Shaded band: the normal range applied to each result. Marker shapes show the flag: circle normal, "
    "triangle down low, triangle up high, cross critically low, plus critically high, square no reference range, "
    "diamond cannot be judged. A value the lab reported as beyond a limit (<5, >1000) is drawn at that limit as < or >. "
    "Δ above a point: a change from the previous result beyond the test's delta rule."
)
# A single value (or values all on one day) is drawn in the middle of this many days either side.
SINGLE_DAY_PAD = timedelta(days=15)


class UnknownSpan(ValueError):
    """A time span the charts do not offer; the message says which ones they do."""


def parse_span(text: str | None) -> str:
    """The span code for `?span=` (empty: DEFAULT_SPAN), or UnknownSpan naming the ones offered."""
    if not text:
        return DEFAULT_SPAN
    if text not in SPANS:
        offered = ", ".join(f"{code} ({label.lower()})" for code, (label, _days) in SPANS.items())
        raise UnknownSpan(f"The trend charts have no time span '{text}': choose {offered}. Showing all results.")
    return text


def span_start(span: str) -> datetime.datetime | None:
    """The start of `span` (midnight, local time, that many days ago), or None for all results."""
    days = SPANS[span][1]
    if days is None:
        return None
    start = timezone.localdate() - timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(start, datetime.time.min))


def draw_trend(analyte: Analyte, results: list[Result], *, image_format: str) -> bytes:
    """`results` (oldest first) as a chart: "svg" for the page, "jpeg" for the PDF.

    The PDF takes JPEG because a PDF embeds a JPEG file as it is, while a PNG has to be decoded and
    compressed again on every export (about 20 ms a chart). Quality 95 without colour subsampling
    keeps lines and text sharp at 150 dpi.
    """
    buffer = io.BytesIO()
    figure = trend_figure(analyte, results)
    if image_format == "svg":
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    else:
        figure.savefig(buffer, format="jpeg", dpi=150, pil_kwargs={"quality": 95, "subsampling": 0})
    return buffer.getvalue()


def trend_figure(analyte: Analyte, results: list[Result]) -> Figure:
    """The chart of `results` (oldest first, at least one).

    The normal range drawn is the one each result was interpreted against (its snapshot), so a
    range that changed over time shows as a step.
    """
    figure = Figure(figsize=(7.5, 2.7), dpi=100)
    # Fixed margins with room for the legend on the right: an automatic layout would draw twice.
    axes = figure.add_axes((0.085, 0.15, 0.64, 0.75))
    times = [timezone.localtime(result.collected_at).replace(tzinfo=None) for result in results]
    # Floats for drawing only: the values stored and shown in the table stay Decimal.
    values = [float(result.value) for result in results]

    span = times[-1] - times[0]
    single_day = times[0].date() == times[-1].date()
    pad = SINGLE_DAY_PAD if single_day else max(span * 0.03, timedelta(days=2))
    bottom, top = value_axis(values, results)
    band_times = [times[0] - pad, *times[1:], times[-1] + pad]
    lows = [_band_edge(r.range_low, r.range_high, bottom) for r in results]
    highs = [_band_edge(r.range_high, r.range_low, top) for r in results]
    if any(low is not None for low in lows):
        axes.fill_between(
            band_times,
            [low if low is not None else float("nan") for low in lows] + [lows[-1] or float("nan")],
            [high if high is not None else float("nan") for high in highs] + [highs[-1] or float("nan")],
            step="post",
            color=BAND_COLOUR,
            label="Normal range",
            zorder=0,
        )

    axes.plot(times, values, color="#6c757d", linewidth=1, zorder=1)
    for flag, (marker, colour, label) in MARKERS.items():
        points = [
            (time, value)
            for time, value, r in zip(times, values, results, strict=True)
            if r.flag == flag and not r.comparator
        ]
        if points:
            axes.plot(
                [time for time, _ in points],
                [value for _, value in points],
                linestyle="none",
                marker=marker,
                markersize=8,
                color=colour,
                markeredgecolor="black",
                markeredgewidth=0.6,
                label=label,
                zorder=2,
            )

    for side, (marker, label) in CENSORED_MARKERS.items():
        censored = [(t, v, r) for t, v, r in zip(times, values, results, strict=True) if r.comparator.startswith(side)]
        if censored:
            axes.scatter(
                [t for t, _, _ in censored],
                [v for _, v, _ in censored],
                marker=marker,
                s=110,
                c=[MARKERS[r.flag][1] for _, _, r in censored],
                label=label,
                zorder=3,
            )

    changes = _fired_deltas(getattr(analyte, "delta_rule", None), results)
    for time, value, result in zip(times, values, results, strict=True):
        if result.pk in changes:
            axes.annotate(
                "Δ", (time, value), xytext=(0, 8), textcoords="offset points", ha="center", fontsize=10, weight="bold"
            )
    if changes:
        axes.plot([], [], linestyle="none", marker="$Δ$", color="black", label="Delta check fired (Δ)")

    period = f"{times[0]:%d %b %Y}" if single_day else f"{times[0]:%b %Y} to {times[-1]:%b %Y}"
    axes.set_title(f"{analyte.name} ({analyte.canonical_unit}), {period}", loc="left", fontsize=11)
    axes.set_ylabel(analyte.canonical_unit)
    axes.set_xlim(times[0] - pad, times[-1] + pad)
    axes.set_ylim(bottom, top)
    if single_day:
        # One date on the axis, under the value(s), instead of a calendar of empty days.
        axes.set_xticks([times[0]])
        axes.xaxis.set_major_formatter(DateFormatter("%d %b %Y"))
    elif span < timedelta(days=90):
        # Over a few weeks the concise labels read like "Jun, 02, 03, 2025-Jun"; full dates are clearer.
        axes.xaxis.set_major_locator(AutoDateLocator(minticks=2, maxticks=4))
        axes.xaxis.set_major_formatter(DateFormatter("%d %b %Y"))
    else:
        locator = AutoDateLocator(minticks=3, maxticks=8)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.grid(axis="y", color="#dee2e6", linewidth=0.6)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return figure


def value_axis(values: list[float], results: list[Result]) -> tuple[float, float]:
    """The value axis's (bottom, top): the values and the normal limits applied to them, with a tenth of
    that spread as margin (not from 0, so magnesium 1.5 against a lower limit of 1.7 does not look flat),
    never below 0 (no lab value is negative). A single value without a range gets ±10 % of itself."""
    limits = [float(limit) for r in results for limit in (r.range_low, r.range_high) if limit is not None]
    low, high = min(values + limits), max(values + limits)
    margin = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
    return max(0.0, low - margin), high + margin


def _fired_deltas(rule, results: list[Result]) -> set[int]:
    """The ids of `results` (consecutive valid results, oldest first) whose change from the one before
    exceeds `rule` (labs.deltas); the first has no previous result on the chart and is not marked."""
    if rule is None:
        return set()
    fired = set()
    for previous, result in pairwise(results):
        change = delta(
            rule,
            value=result.value,
            collected_at=result.collected_at,
            previous_value=previous.value,
            previous_at=previous.collected_at,
            comparator=result.comparator,
            previous_comparator=previous.comparator,
        )
        if change is not None and change.fires:
            fired.add(result.pk)
    return fired


def _band_edge(limit, other_limit, open_end):
    """A band edge for drawing: the limit, the open end of a one-sided range, or None without a range."""
    if limit is not None:
        return float(limit)
    return open_end if other_limit is not None else None


@dataclass
class Trend:
    """One analyte's trend for a patient: the chart, and the latest values for the table beside it."""

    analyte: Analyte
    count: int  # results that count (not entered in error)
    first_at: object
    latest: list[Result]  # newest first, at most TABLE_ROWS
    chart: bytes | str  # JPEG bytes for the PDF, or the URL of the SVG for an <img>

    @property
    def charted(self):
        return min(self.count, CHART_POINTS)

    @property
    def description(self):
        """The chart's text alternative; the table beside it carries the values."""
        newest = self.latest[0]
        when = timezone.localtime(newest.collected_at)
        return (
            f"Trend of {self.analyte.name}: {self.charted} of {self.count} results plotted against the normal "
            f"range; latest {newest.display_value} {self.analyte.canonical_unit} ({newest.get_flag_display()}) "
            f"on {when:%d %b %Y}."
        )


def trends_for(patient, *, image_format: str = "svg", span: str = DEFAULT_SPAN) -> list[Trend]:
    """A Trend per analyte with results that count, in catalogue order.

    For a web page ("svg") each chart is a URL of its own (`trend_chart_svg` draws it when the browser
    asks), so the page carries no image data and draws nothing. For the PDF ("jpeg") the images are
    read from the cache or drawn here.

    Queries, whatever the number of results: the analytes with their result counts and newest change,
    the latest results per analyte; for JPEG also the cache read and, on a cache miss, the cache writes.
    """
    return _trends(patient, _charted_analytes(patient, span=span), image_format)


def _trends(patient, analytes, image_format):
    if not analytes:
        return []
    if image_format == "svg":
        charts = {analyte.pk: _chart_url(patient, analyte) for analyte in analytes}
        by_analyte = _latest_results(patient, analytes, TABLE_ROWS)
    else:
        keys = {analyte.pk: _chart_key(patient, analyte, image_format) for analyte in analytes}
        cached = cache.get_many(keys.values())
        missing = [analyte for analyte in analytes if keys[analyte.pk] not in cached]
        by_analyte = _latest_results(patient, analytes, CHART_POINTS if missing else TABLE_ROWS)
        if missing:
            drawn = {
                keys[analyte.pk]: draw_trend(analyte, by_analyte[analyte.pk], image_format=image_format)
                for analyte in missing
            }
            cache.set_many(drawn, timeout=CHART_CACHE_SECONDS)
            cached.update(drawn)
        charts = {analyte.pk: cached[keys[analyte.pk]] for analyte in analytes}
    return [
        Trend(
            analyte=analyte,
            count=analyte.counted,
            first_at=analyte.first_at,
            latest=by_analyte[analyte.pk][::-1][:TABLE_ROWS],
            chart=charts[analyte.pk],
        )
        for analyte in analytes
    ]


def trend_section(
    patient, trends: list[Trend] | None = None, *, analytes=None, span: str = DEFAULT_SPAN, refused: str = ""
) -> str:
    """The Trends section of the patient page and the print summary (`TREND_SECTION_TEMPLATE`), as HTML.

    Rendering eighty table rows took about 9 ms a page, so the section is kept in the cache under a key
    made of everything it shows: each analyte's chart version (which changes whenever a result of it is
    entered, corrected or withdrawn), the analyte's name, unit and display precision, the time zone and
    language of the dates and labels, and TREND_SECTION_VERSION. With `trends` (as the summary has them)
    it renders those; without, it reads the latest results only on a cache miss. `analytes` are
    patient_analytes(patient, span=span), when the caller has read them already.

    `span` (a key of SPANS) limits the charts to the results since its start; `refused` is the message for
    a span asked for that is not offered (the section then shows all results, and the message).

    Queries: the analytes with their versions and the delta rules (none when `trends` are given), the
    cache read; on a cache miss, the latest results (unless given) and the cache write.
    """
    if trends is not None:
        analytes = [trend.analyte for trend in trends]
    else:
        if analytes is None:
            analytes = patient_analytes(patient, span=span)
        analytes = [analyte for analyte in analytes if analyte.counted]
    key = _section_key(patient, analytes, span, refused)
    html = cache.get(key)
    if html is None:
        if trends is None:
            trends = _trends(patient, analytes, "svg")
        spans = [(code, label) for code, (label, _days) in SPANS.items()]
        html = render_to_string(
            TREND_SECTION_TEMPLATE,
            {"trends": trends, "legend": LEGEND, "span": span, "spans": spans, "refused": refused},
        )
        cache.set(key, html, timeout=CHART_CACHE_SECONDS)
    return html  # a SafeString, from the template or as the cache pickled it: the page shows it unescaped


def _section_key(patient, analytes, span, refused):
    shown = [(a.pk, a.code, a.name, a.canonical_unit, a.display_decimal_places, _chart_version(a)) for a in analytes]
    made_of = repr((TREND_SECTION_VERSION, timezone.get_current_timezone_name(), get_language(), span, refused, shown))
    return f"trend-section:{patient.pk}:{hashlib.sha256(made_of.encode()).hexdigest()}"


def trend_chart_svg(patient, analyte_code: str, span: str = DEFAULT_SPAN) -> tuple[bytes, str] | None:
    """The SVG chart of one analyte for the patient and its version (which changes with the chart), or
    None when the patient has no result of that analyte that counts.

    Queries: the analyte with its result counts and newest change, the cache read; on a cache miss, the
    latest results and the cache write.
    """
    analytes = _charted_analytes(patient, analyte_code=analyte_code, span=span)
    if not analytes:
        return None
    [analyte] = analytes
    key = _chart_key(patient, analyte, "svg")
    image = cache.get(key)
    if image is None:
        image = draw_trend(analyte, _latest_results(patient, analytes, CHART_POINTS)[analyte.pk], image_format="svg")
        cache.set(key, image, timeout=CHART_CACHE_SECONDS)
    return image, _chart_version(analyte)


# What the charts read of a delta rule.
RULE_FIELDS = ("kind", "limit", "cv_within_subject", "cv_analytical", "z", "window_days")


def _charted_analytes(patient, *, analyte_code=None, span=DEFAULT_SPAN):
    """The analytes the patient has results that count of within `span` (patient_analytes)."""
    return [analyte for analyte in patient_analytes(patient, analyte_code=analyte_code, span=span) if analyte.counted]


def patient_analytes(patient, *, analyte_code=None, span=DEFAULT_SPAN):
    """The analytes the patient has results of (entered in error too), in catalogue order, with the count
    of those that count within `span` (`counted`), the first one's collection time and what a version
    of the patient's results of it is made of (`last_change`, `last_id`: labs.selectors' cached sections
    use them too); each with its active delta rule (`delta_rule`, None without one), `span` and `since`
    (the span's start)."""
    since = span_start(span)
    valid = ~Q(results__status=Result.Status.ENTERED_IN_ERROR)
    if since is not None:
        valid &= Q(results__collected_at__gte=since)
    analytes = Analyte.objects.filter(results__patient=patient)
    if analyte_code is not None:
        analytes = analytes.filter(code=analyte_code)
    analytes = list(
        analytes.annotate(
            counted=Count("results", filter=valid),
            first_at=Min("results__collected_at", filter=valid),
            last_change=Max("results__updated_at"),
            last_id=Max("results__id"),
        ).order_by("sort_order", "name")
    )
    # The active delta rules (the charts' Δ marks and their version) in a query of their own: as six
    # subqueries of the one above they cost Django 5 ms to build, twice the query's own time.
    rules = DeltaRule.objects.filter(active=True, analyte__in=analytes).only("analyte_id", *RULE_FIELDS).order_by()
    rule_of = {rule.analyte_id: rule for rule in rules}  # no query when there are no analytes (an empty IN)
    for analyte in analytes:
        analyte.delta_rule = rule_of.get(analyte.pk)
        if analyte.delta_rule is not None:
            analyte.delta_rule.analyte = analyte  # its describe() names the unit: no query for it
        analyte.span, analyte.since = span, since
    return analytes


def _chart_version(analyte):
    """Changes whenever the chart would: a result of the analyte added, corrected or withdrawn (the
    results' newest `updated_at`, which Django sets on every save, their count and newest id), the
    analyte's name and unit (the title and the axis show them), the time zone (the dates)
    or the drawing itself (CHART_VERSION), the span's start, and the delta rule (its Δ marks). The
    precision is not drawn (the table beside the chart shows it, and the section's own key has it)."""
    changed = int(analyte.last_change.timestamp() * 1_000_000)
    rule = analyte.delta_rule
    marks = "" if rule is None else f"{rule.kind}|{rule.limit}|{rule.percent_limit}|{rule.window_days}"
    shown = f"{analyte.name}|{analyte.canonical_unit}|{timezone.get_current_timezone_name()}|{analyte.since}|{marks}"
    digest = hashlib.sha256(shown.encode()).hexdigest()[:12]
    return f"{CHART_VERSION}-{changed}-{analyte.last_id}-{analyte.counted}-{digest}"


def _chart_key(patient, analyte, image_format):
    return f"trend:{image_format}:{patient.pk}:{analyte.pk}:{_chart_version(analyte)}"


def _chart_url(patient, analyte):
    # The version in the URL lets the browser keep the chart until a result changes (see the view).
    path = reverse("labs:trend_chart", args=[patient.pk, analyte.code])
    span = "" if analyte.span == DEFAULT_SPAN else f"&span={analyte.span}"
    return f"{path}?v={_chart_version(analyte)}{span}"


# What a trend reads of a result: the chart's points and band, the table's columns (range_text reads
# all four limits and the laboratory's range's origin). Building whole results took most of the page's trend time.
TREND_FIELDS = (
    "analyte_id",
    "collected_at",
    "comparator",
    "value",
    "flag",
    "range_low",
    "range_high",
    "range_critical_low",
    "range_critical_high",
    "range_source",
    "range_default",
)


def _latest_results(patient, analytes, limit):
    """The latest `limit` results that count of each analyte, oldest first, in one query."""
    since = analytes[0].since  # one span for them all (_charted_analytes)
    results = Result.objects.valid().filter(patient=patient, analyte__in=analytes)
    if since is not None:
        results = results.filter(collected_at__gte=since)
    ranked = (
        results.only(*TREND_FIELDS)
        .annotate(
            recency=Window(
                RowNumber(), partition_by=[F("analyte_id")], order_by=[F("collected_at").desc(), F("id").desc()]
            )
        )
        .filter(recency__lte=limit)
        # Sorted below rather than by the database: an ordered query costs Django more to build.
        .order_by()
    )
    analyte_by_pk = {analyte.pk: analyte for analyte in analytes}
    by_analyte = {analyte.pk: [] for analyte in analytes}
    for result in sorted(ranked, key=lambda result: (result.collected_at, result.pk)):
        result.analyte = analyte_by_pk[result.analyte_id]  # already loaded: no query per row
        by_analyte[result.analyte_id].append(result)
    return by_analyte
