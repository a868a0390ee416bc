"""Lab pages that read only lab data: a result's history and a trend chart image.

The pages that write results (enter, correct, entered in error) are guidance's: saving a result opens or
resolves its findings in the same transaction (guidance.services).
"""

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.cache import get_conditional_response

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

    Like every page, it is sent with Cache-Control: no-store (config.security.NoStoreMiddleware): a chart
    kept in a shared workstation's browser cache could be shown to the next person without a login. The
    URL's ?v=… is the chart's version, which the ETag repeats for a conditional request.
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
    return response
