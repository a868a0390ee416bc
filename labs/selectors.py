"""Reads for the lab pages. The patient chart's context is built here so that later apps can add to it."""

from django.core.paginator import Paginator
from django.db.models import Prefetch

from .derived import derived_for_panel
from .models import Panel, Result

PANELS_PER_PAGE = 10


def patient_chart_context(patient, page_number) -> dict:
    """Panels newest first, ten a page, each with its results and derived values.

    Queries: the panel count, the page of panels, and their results with analytes (one prefetch),
    whatever the number of results.
    """
    results = Result.objects.select_related("analyte").order_by("analyte__sort_order", "analyte__name")
    panels = (
        Panel.objects.filter(patient=patient)
        .select_related("entered_by")
        .prefetch_related(Prefetch("results", queryset=results))
        .order_by("-collected_at", "-id")
    )
    page = Paginator(panels, PANELS_PER_PAGE).get_page(page_number)
    for panel in page:
        panel.derived = derived_for_panel(panel.results.all())
    return {"patient": patient, "factors": patient.contributing_factors.all(), "page": page}
