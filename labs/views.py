"""Lab pages that read only lab data: a result's history and a trend chart image.

The pages that write results (enter, correct, entered in error) are guidance's: saving a result opens or
resolves its findings in the same transaction (guidance.services).
"""

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.cache import get_conditional_response, patch_cache_control

from patients.access import get_patient_for, patient_header_context
from patients.models import AccessLogEntry
from patients.services import log_access

from .access import get_result_for
from .trends import UnknownSpan, parse_span, trend_chart_svg


def result_history(request, pk):
    result = get_result_for(request.user, pk, perm="labs.view_result")
    log_access(request, result.patient, AccessLogEntry.What.RESULT_HISTORY)
    versions = result.history.select_related("updated_by").order_by("-history_date", "-history_id")
    return render(
        request,
        "labs/result_history.html",
        {"result": result, "versions": versions, **patient_header_context(result.patient)},
    )


def trend_chart(request, pk, code):
    """One analyte's trend chart for the patient, as SVG, for whoever may view the patient.

    The page links it with the chart's version in the URL (?v=…): while that version is current the
    browser may keep the image for a year without asking again, since a changed result makes a new URL.
    An old or missing version gets the current chart, which the browser must check (ETag) before reuse.
    "private": a chart shows one patient's results, so no shared cache may keep it.
    """
    patient = get_patient_for(request.user, pk)
    try:
        span = parse_span(request.GET.get("span"))
    except UnknownSpan as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    chart = trend_chart_svg(patient, code, span)
    if chart is None:
        raise Http404("This patient has no results of that test to chart.")
    log_access(request, patient, AccessLogEntry.What.TREND_CHART)
    image, version = chart
    etag = f'"{version}"'
    response = get_conditional_response(request, etag=etag) or HttpResponse(image, content_type="image/svg+xml")
    response["ETag"] = etag
    if request.GET.get("v") == version:
        patch_cache_control(response, private=True, max_age=365 * 24 * 3600, immutable=True)
    else:
        patch_cache_control(response, private=True, no_cache=True)
    return response
