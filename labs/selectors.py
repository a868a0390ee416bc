"""Reads for the lab pages. The patient page's results part is built here, for guidance's patient page."""

import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .cumulative import cumulative_table
from .derived import derived_for_panel
from .models import Analyte, Panel, Result, SpecimenCondition
from .trends import CHART_CACHE_SECONDS, RULE_FIELDS

PANELS_PER_PAGE = 10
# A pk no result has, reversed in its place and then swapped for each result's pk (see _result_links).
PK_PLACEHOLDER = 2147483647


def patient_panels_page(patient, page_number):
    """The page `page_number` of the patient's panels, newest first, ten a page, each with its results and
    derived values.

    Queries: the panel count, the page of panels, and their results with analytes (one prefetch),
    whatever the number of results.
    """
    results = Result.objects.select_related("analyte").order_by("analyte__sort_order", "analyte__name")
    panels = (
        Panel.objects.filter(patient=patient)
        .select_related("entered_by", "specimen_condition")
        .prefetch_related(Prefetch("results", queryset=results))
        .order_by("-collected_at", "-id")
    )
    page = Paginator(panels, PANELS_PER_PAGE).get_page(page_number)
    links = _result_links()
    for panel in page:
        panel.derived = derived_for_panel(panel.results.all())
        for result in panel.results.all():
            result.history_url, result.correct_url, result.in_error_url = (
                link.replace(str(PK_PLACEHOLDER), str(result.pk)) for link in links
            )
    return page


def _result_links():
    """A result's history, correction and entered-in-error URLs, for PK_PLACEHOLDER. A page lists up to
    ninety results with these three links each, and reverse() costs about 20 µs: reversing each once
    per page instead of per result took 5 ms off the patient page."""
    return [
        reverse(name, args=[PK_PLACEHOLDER])
        # The writes are guidance's pages: reversed by name, which imports nothing from guidance.
        for name in ("labs:result_history", "guidance:correct_result", "guidance:mark_entered_in_error")
    ]


# The patient page's two views of the results, results over time (the cumulative view) and the panels a
# page at a time, were half of its time for a patient with years of results (about 35 ms of 100 to
# build their queries and rows and render them), and change only when what they show does. They are
# kept in the cache as HTML under a key made of all of it (_sections_key).
CUMULATIVE_TEMPLATE = "labs/includes/cumulative_table.html"
RESULTS_TEMPLATE = "labs/includes/patient_results.html"
# Bump when those templates (or an include of them, or the tags and code that fill them) change, so cached
# sections of the old look are not served: as labs.trends' TREND_SECTION_VERSION.
RESULTS_SECTIONS_VERSION = 2


@dataclass(frozen=True)
class ResultsSections:
    cumulative: str  # HTML
    results: str  # HTML
    cumulative_refused: bool  # the cumulative page asked for does not exist (the page answers 404)


def results_sections(patient, analytes, *, cumulative_page, results_page, can_change) -> ResultsSections:
    """The cumulative view's page `cumulative_page` and the panels' page `results_page` (as asked for in
    the query string), as HTML; `analytes` are labs.trends.patient_analytes(patient) and `can_change`
    whether the user may correct results (their links).

    Queries: the specimen conditions, the cache read; on a cache miss, those of the two views
    (patient_panels_page, cumulative_table) and the cache write.
    """
    key = _sections_key(patient, analytes, cumulative_page, results_page, can_change)
    cached = cache.get(key)
    if cached is None:
        table = cumulative_table(patient, cumulative_page)
        page = patient_panels_page(patient, results_page)
        cached = (
            render_to_string(CUMULATIVE_TEMPLATE, {"cumulative": table, "page_links": True}),
            render_to_string(RESULTS_TEMPLATE, {"page": page, "patient": patient, "can_change_results": can_change}),
            bool(table.error),
        )
        cache.set(key, cached, timeout=CHART_CACHE_SECONDS)
    return ResultsSections(*cached)


def _sections_key(patient, analytes, cumulative_page, results_page, can_change):
    """Changes whenever either view would: a result added, corrected or withdrawn (each analyte's newest
    `updated_at`, which every save sets, and newest id; a new panel has new results, as record_results
    refuses an empty one, and panels are not edited), anything of an analyte or its active delta rule, a
    specimen condition's name, the patient's being active (and sex and birth date), the user's right to
    correct, the pages asked for, the time zone, or RESULTS_SECTIONS_VERSION."""
    made_of = repr(
        (
            RESULTS_SECTIONS_VERSION,
            timezone.get_current_timezone_name(),
            (patient.pk, patient.is_active, patient.sex, patient.date_of_birth),
            can_change,
            cumulative_page,
            results_page,
            analytes_version(analytes),
            list(SpecimenCondition.objects.values_list("pk", "name")),
        )
    )
    return f"results-sections:{patient.pk}:{hashlib.sha256(made_of.encode()).hexdigest()}"


def analytes_version(analytes):
    """What a version of the patient's results is made of, for a cache key: each analyte of
    labs.trends.patient_analytes(patient) as the catalogue has it, its results' newest `updated_at` and
    newest id, and its active delta rule."""
    return [
        (
            *(getattr(analyte, field.attname) for field in Analyte._meta.concrete_fields),
            analyte.last_change,
            analyte.last_id,
            *(getattr(analyte.delta_rule, name, None) for name in RULE_FIELDS),
        )
        for analyte in analytes
    ]
