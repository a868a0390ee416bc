"""Trend charts that show the change (issue 14, point 3): the value axis fitted to the values and the
band, a single value drawn in the middle of a month, the time span (1 year, 5 years, all) validated and
part of every cache key, and Δ marks where a delta rule fires."""

import datetime
from decimal import Decimal

import matplotlib.dates as mdates
import pytest
from django.utils import timezone

from labs import trends as charts
from labs.models import Analyte, DeltaRule, Result

from .exports_support import record_series


def point(value, day, low="1.7", high="2.6", pk=None):
    return Result(
        pk=pk,
        collected_at=datetime.datetime(2026, 3, 1, 9, tzinfo=datetime.UTC) + datetime.timedelta(days=day),
        value=Decimal(value),
        flag="N",
        range_low=Decimal(low) if low else None,
        range_high=Decimal(high) if high else None,
    )


@pytest.mark.parametrize(
    "values, low, high, axis",
    [
        # magnesium 1.5 against 1.70–2.60: from 1.39, not from 0
        (["1.5", "1.8"], "1.7", "2.6", (1.39, 2.71)),
        # a value far above the band stretches the axis, the band still shows
        (["2.0", "6.0"], "1.7", "2.6", (1.27, 6.43)),
        # a one-sided range (≥ 20): the limit counts, the open side follows the values
        (["12", "38"], "20", None, (9.4, 40.6)),
        # a single value without a range: ±10 % of itself
        (["10"], None, None, (9.0, 11.0)),
        # never below 0
        (["0.1", "9"], None, None, (0.0, 9.89)),
    ],
)
def test_the_value_axis_fits_the_values_and_the_band(values, low, high, axis):
    results = [point(value, day, low, high) for day, value in enumerate(values)]
    bottom, top = charts.value_axis([float(value) for value in values], results)
    assert (round(bottom, 2), round(top, 2)) == axis


@pytest.mark.django_db
def test_a_chart_starts_its_axis_at_the_fitted_bottom():
    figure = charts.trend_figure(Analyte.objects.get(code="mg"), [point("1.5", 0), point("1.8", 30)])
    assert tuple(round(limit, 2) for limit in figure.axes[0].get_ylim()) == (1.39, 2.71)


@pytest.mark.django_db
def test_a_single_value_sits_in_the_middle_of_a_month_with_its_date_alone():
    figure = charts.trend_figure(Analyte.objects.get(code="mg"), [point("1.5", 0)])
    axes = figure.axes[0]
    start, end = (mdates.num2date(limit).replace(tzinfo=None) for limit in axes.get_xlim())
    assert (start, end) == (datetime.datetime(2026, 2, 14, 9), datetime.datetime(2026, 3, 16, 9))
    assert [label.get_text() for label in axes.get_xticklabels()] == ["01 Mar 2026"]


@pytest.mark.django_db
def test_changes_beyond_the_delta_rule_are_marked():
    potassium = Analyte.objects.get(code="k")
    potassium.delta_rule = DeltaRule.objects.get(analyte=potassium)
    results = [point("3.6", 0, pk=1), point("5.1", 2, pk=2), point("5.2", 4, pk=3), point("4.0", 30, pk=4)]

    # 3.6 → 5.1 in two days fires; 5.1 → 5.2 does not; 5.2 → 4.0 is a month later, outside the window.
    assert charts._fired_deltas(potassium.delta_rule, results) == {2}
    figure = charts.trend_figure(potassium, results)
    assert [text.get_text() for text in figure.axes[0].texts] == ["Δ"]
    assert "Delta check fired (Δ)" in figure.axes[0].get_legend_handles_labels()[1]


@pytest.mark.parametrize("text, span", [(None, "all"), ("", "all"), ("1y", "1y"), ("5y", "5y"), ("all", "all")])
def test_the_spans_offered(text, span):
    assert charts.parse_span(text) == span


@pytest.mark.parametrize("text", ["10y", "1Y", "year", "0"])
def test_a_span_not_offered_is_refused_naming_those_that_are(text):
    with pytest.raises(charts.UnknownSpan) as refused:
        charts.parse_span(text)
    assert str(refused.value) == (
        f"The trend charts have no time span '{text}': choose 1y (1 year), 5y (5 years), all (all). Showing all results."
    )


@pytest.fixture
def two_years(clinician, patient):
    """Potassium every 90 days for about two years, up to a week ago."""
    start = timezone.now() - datetime.timedelta(days=7 + 90 * 8)
    record_series(patient, clinician, "k", ["4.0"] * 9, "mmol/L", start=start, step_days=90)
    return patient


def test_one_year_charts_only_the_last_year_and_keys_its_cache_apart(two_years):
    everything = charts.trends_for(two_years)
    last_year = charts.trends_for(two_years, span="1y")

    assert [trend.count for trend in everything] == [9]
    assert [trend.count for trend in last_year] == [4]  # 7, 97, 187 and 277 days ago; 367 is out
    assert "&span=1y" in last_year[0].chart and "span=" not in everything[0].chart
    assert last_year[0].chart != everything[0].chart
    assert charts.trend_section(two_years, span="1y") != charts.trend_section(two_years)


def test_the_patient_page_offers_the_spans_and_refuses_an_unknown_one(clinician_client, two_years):
    url = two_years.get_absolute_url()
    page = clinician_client.get(url, {"span": "1y"})
    assert page.status_code == 200
    html = page.content.decode()
    assert '<strong aria-current="true">1 year</strong>' in html and 'href="?span=5y#trends-heading"' in html

    refused = clinician_client.get(url, {"span": "10y"})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "The trend charts have no time span &#x27;10y&#x27;: choose 1y (1 year), 5y (5 years), all (all)." in html
    assert 'id="cumulative-heading"' in html  # the rest of the page as usual


def test_the_chart_image_refuses_an_unknown_span(clinician_client, two_years):
    response = clinician_client.get(f"/patients/{two_years.pk}/charts/k.svg", {"span": "10y"})
    assert response.status_code == 400
    assert response.content.decode().startswith("The trend charts have no time span '10y'")
    assert clinician_client.get(f"/patients/{two_years.pk}/charts/k.svg", {"span": "1y"}).status_code == 200


def test_a_changed_delta_rule_changes_the_chart(clinician, patient):
    record_series(patient, clinician, "k", ["3.6", "5.1"], "mmol/L", step_days=2)
    before = charts.trends_for(patient)[0].chart
    DeltaRule.objects.filter(analyte__code="k").update(window_days=1)
    assert charts.trends_for(patient)[0].chart != before
