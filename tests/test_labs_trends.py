import datetime
from decimal import Decimal

import pytest

from guidance import services as guidance_services
from labs import trends as charts
from labs.models import Analyte, AnalyteUnit, Result

from .exports_support import BASE, record_series, result_of
from .recording import record


@pytest.fixture
def draws(monkeypatch):
    """Counts the charts drawn, by analyte code, and the number of points each got."""
    calls = []
    real = charts.draw_trend

    def counting(analyte, results, *, image_format):
        calls.append((analyte.code, len(results), image_format))
        return real(analyte, results, image_format=image_format)

    monkeypatch.setattr(charts, "draw_trend", counting)
    return calls


def test_a_trend_per_analyte_in_catalogue_order_with_the_latest_values(clinician, patient, draws):
    record_series(patient, clinician, "k", ["3.0", "4.0", "5.5"], "mmol/L")
    record(patient, {"vitd25": ("15", "ng/mL")}, by=clinician, at=BASE)

    trends = charts.trends_for(patient)

    assert [trend.analyte.code for trend in trends] == ["vitd25", "k"]
    potassium = trends[1]
    assert potassium.count == 3
    assert [(r.value, r.flag) for r in potassium.latest] == [
        (Decimal("5.5000"), "H"),
        (Decimal("4.0000"), "N"),
        (Decimal("3.0000"), "L"),
    ]
    assert potassium.first_at == BASE
    newest_change = int(Result.objects.filter(analyte__code="k").latest("updated_at").updated_at.timestamp() * 1e6)
    newest_id = Result.objects.filter(analyte__code="k").latest("id").pk
    assert potassium.chart.startswith(f"/patients/{patient.pk}/charts/k.svg?v=6-{newest_change}-{newest_id}-3-")
    assert potassium.description == (
        "Trend of Potassium: 3 of 3 results plotted against the normal range; latest 5.5 mmol/L (High) on 15 Mar 2026."
    )
    assert draws == [], "the page links its charts: each is drawn when the browser asks for it"


def test_charts_come_from_the_cache_until_a_result_changes(clinician, patient, draws):
    record_series(patient, clinician, "k", ["3.0", "4.0"], "mmol/L")
    record(patient, {"mg": ("2.0", "mg/dL")}, by=clinician, at=BASE)
    first = [charts.trend_chart_svg(patient, "k"), charts.trend_chart_svg(patient, "mg")]
    assert len(draws) == 2
    urls = {trend.analyte.code: trend.chart for trend in charts.trends_for(patient)}

    again = [charts.trend_chart_svg(patient, "k"), charts.trend_chart_svg(patient, "mg")]
    assert len(draws) == 2, "nothing changed: both charts come from the cache"
    assert again == first
    assert {trend.analyte.code: trend.chart for trend in charts.trends_for(patient)} == urls

    guidance_services.correct_result(
        result_of(patient, "k"),
        value=Decimal("3.8"),
        unit=AnalyteUnit.objects.get(analyte__code="k", unit="mmol/L"),
        reason="Re-run",
        by=clinician,
    )
    corrected = {trend.analyte.code: trend.chart for trend in charts.trends_for(patient)}
    assert corrected["k"] != urls["k"], "the corrected analyte's chart has a new URL"
    assert corrected["mg"] == urls["mg"]
    assert charts.trend_chart_svg(patient, "k")[1] != first[0][1]
    charts.trend_chart_svg(patient, "mg")
    assert draws[2:] == [("k", 2, "svg")], "only the corrected analyte is drawn again"

    guidance_services.mark_entered_in_error(result_of(patient, "k"), reason="Wrong patient", by=clinician)
    [_, potassium] = charts.trends_for(patient)
    charts.trend_chart_svg(patient, "k")
    assert draws[3:] == [("k", 1, "svg")]
    assert potassium.count == 1

    charts.trends_for(patient, image_format="jpeg")
    assert sorted(draws[4:]) == [("k", 1, "jpeg"), ("mg", 1, "jpeg")], "the PDF's images are cached apart"


def test_an_analyte_whose_only_result_was_withdrawn_has_no_trend(clinician, patient):
    record(patient, {"k": ("3.0", "mmol/L")}, by=clinician, at=BASE)
    guidance_services.mark_entered_in_error(Result.objects.get(patient=patient), reason="Wrong patient", by=clinician)

    assert charts.trends_for(patient) == []


def test_a_chart_draws_at_most_the_latest_chart_points(clinician, patient, draws, monkeypatch):
    monkeypatch.setattr(charts, "CHART_POINTS", 3)
    monkeypatch.setattr(charts, "TABLE_ROWS", 2)
    record_series(patient, clinician, "k", ["3.0", "3.1", "3.2", "3.3", "3.4"], "mmol/L")

    [trend] = charts.trends_for(patient)
    charts.trend_chart_svg(patient, "k")

    assert draws == [("k", 3, "svg")]
    assert trend.count == 5
    assert trend.charted == 3
    assert [r.value for r in trend.latest] == [Decimal("3.4000"), Decimal("3.3000")]


def make_result(value, flag, day, low="3.5", high="5.2"):
    return Result(
        collected_at=BASE + datetime.timedelta(days=day),
        value=Decimal(value),
        flag=flag,
        range_low=Decimal(low) if low else None,
        range_high=Decimal(high) if high else None,
    )


def test_each_flag_has_its_own_marker_shape_and_legend_entry(db):
    potassium = Analyte.objects.get(code="k")
    results = [
        make_result("2.5", "LL", 0),
        make_result("3.2", "L", 10),
        make_result("4.0", "N", 20),
        make_result("5.5", "H", 30),
        make_result("6.5", "HH", 40),
        make_result("4.0", "NR", 50, low=None, high=None),
    ]

    figure = charts.trend_figure(potassium, results)

    lines, labels = figure.axes[0].get_legend_handles_labels()
    assert labels == [
        "Normal range",
        "Normal (circle)",
        "Low (triangle down)",
        "High (triangle up)",
        "Critically low (cross)",
        "Critically high (plus)",
        "No reference range (square)",
    ]
    markers = [line.get_marker() for line in lines[1:]]
    assert markers == ["o", "v", "^", "X", "P", "s"]
    assert figure.axes[0].get_title(loc="left") == "Potassium (mmol/L), Mar 2026 to Apr 2026"


def test_a_result_without_a_range_draws_no_band(db):
    figure = charts.trend_figure(Analyte.objects.get(code="k"), [make_result("4.0", "NR", 0, low=None, high=None)])

    _, labels = figure.axes[0].get_legend_handles_labels()
    assert labels == ["No reference range (square)"]
    assert figure.axes[0].get_title(loc="left") == "Potassium (mmol/L), 01 Mar 2026"


@pytest.mark.parametrize("image_format", ["svg", "jpeg"])
def test_draw_trend_writes_the_format(db, image_format):
    image = charts.draw_trend(Analyte.objects.get(code="k"), [make_result("4.0", "N", 0)], image_format=image_format)

    assert image.startswith(b"<?xml" if image_format == "svg" else b"\xff\xd8\xff")


@pytest.mark.parametrize("count", [2, 40])
def test_trends_query_count_does_not_grow_with_results(clinician, patient, count, django_assert_num_queries):
    record_series(patient, clinician, "k", ["4.0"] * count, "mmol/L")
    record_series(patient, clinician, "mg", ["2.0"] * count, "mg/dL")
    charts.trends_for(patient, image_format="jpeg")

    # The analytes with result counts and newest change, their delta rules; the latest results per analyte.
    with django_assert_num_queries(3):
        trends = charts.trends_for(patient)
    # The PDF's: the same, and the cache read between them.
    with django_assert_num_queries(4):
        charts.trends_for(patient, image_format="jpeg")

    assert [trend.count for trend in trends] == [count, count]


@pytest.mark.parametrize("count", [2, 40])
def test_a_chart_image_query_count_does_not_grow_with_results(clinician, patient, count, django_assert_num_queries):
    record_series(patient, clinician, "k", ["4.0"] * count, "mmol/L")
    record_series(patient, clinician, "mg", ["2.0"] * count, "mg/dL")
    charts.trend_chart_svg(patient, "k")

    # The analyte with its result count and newest change, its delta rule; the cache read.
    with django_assert_num_queries(3):
        image, _ = charts.trend_chart_svg(patient, "k")

    assert image.startswith(b"<?xml")


def test_no_chart_image_for_a_test_without_results_that_count(clinician, patient):
    record(patient, {"k": ("3.0", "mmol/L")}, by=clinician, at=BASE)
    guidance_services.mark_entered_in_error(Result.objects.get(patient=patient), reason="Wrong patient", by=clinician)

    assert charts.trend_chart_svg(patient, "k") is None
    assert charts.trend_chart_svg(patient, "mg") is None
    assert charts.trend_chart_svg(patient, "no-such-test") is None


def test_the_trend_section_renders_charts_tables_and_legend_for_the_patient_page(clinician, patient):
    record_series(patient, clinician, "k", ["3.0", "4.0"], "mmol/L")

    html = charts.trend_section(patient)

    assert '<h2 class="h4" id="trends-heading">Trends</h2>' in html
    assert (
        'alt="Trend of Potassium: 2 of 2 results plotted against the normal range; latest 4.0 mmol/L (Normal)' in html
    )
    assert '<caption class="small">Latest 2 of 2 values (mmol/L)</caption>' in html
    assert ">Low</span>" in html and ">Normal</span>" in html
    assert "Marker shapes show the flag: circle normal, triangle down low, triangle up high" in html


def test_the_trend_section_comes_from_the_cache_until_something_it_shows_changes(
    clinician, patient, django_assert_num_queries
):
    record_series(patient, clinician, "k", ["3.0", "4.0"], "mmol/L")
    first = charts.trend_section(patient)
    assert '<caption class="small">Latest 2 of 2 values (mmol/L)</caption>' in first

    # The analytes with result counts and newest change, their delta rules; the cache read. No results
    # read, nothing rendered.
    with django_assert_num_queries(3):
        assert charts.trend_section(patient) == first

    guidance_services.correct_result(
        result_of(patient, "k"),
        value=Decimal("3.8"),
        unit=AnalyteUnit.objects.get(analyte__code="k", unit="mmol/L"),
        reason="Re-run",
        by=clinician,
    )
    corrected = charts.trend_section(patient)
    assert '<td class="text-end">3.8</td>' in corrected
    assert '<td class="text-end">3.0</td>' not in corrected

    guidance_services.mark_entered_in_error(result_of(patient, "k"), reason="Wrong patient", by=clinician)
    withdrawn = charts.trend_section(patient)
    assert '<caption class="small">Latest 1 of 1 value (mmol/L)</caption>' in withdrawn

    record(patient, {"k": ("5.5", "mmol/L")}, by=clinician, at=BASE + datetime.timedelta(days=30))
    added = charts.trend_section(patient)
    assert '<caption class="small">Latest 2 of 2 values (mmol/L)</caption>' in added
    assert '<td class="text-end">5.5</td>' in added

    Analyte.objects.filter(code="k").update(name="Serum potassium", display_decimal_places=2)
    renamed = charts.trend_section(patient)
    assert 'id="trend-k">Serum potassium' in renamed
    assert '<td class="text-end">5.50</td>' in renamed
    assert "3.50–5.20 mmol/L" in renamed


def test_the_trend_section_of_another_patient_is_its_own(clinician, patient, patient_factory):
    other = patient_factory()
    record_series(patient, clinician, "k", ["3.0"], "mmol/L")
    record_series(other, clinician, "k", ["6.0"], "mmol/L")

    assert '<td class="text-end">3.0</td>' in charts.trend_section(patient)
    assert '<td class="text-end">6.0</td>' in charts.trend_section(other)
    assert '<td class="text-end">3.0</td>' not in charts.trend_section(other)


def test_the_trend_section_from_given_trends_reads_only_the_cache(clinician, patient, django_assert_num_queries):
    record_series(patient, clinician, "k", ["3.0", "4.0"], "mmol/L")
    trends = charts.trends_for(patient)
    first = charts.trend_section(patient, trends)

    # The cache read.
    with django_assert_num_queries(1):
        assert charts.trend_section(patient, trends) == first
    assert charts.trend_section(patient) == first, "the summary's and the patient page's sections are one"


def test_the_trend_section_says_when_there_is_nothing_to_chart(patient):
    assert "No results to chart yet." in charts.trend_section(patient)


def test_the_patient_page_and_the_summary_show_the_trend_section_as_html(clinician_client, clinician, patient):
    record_series(patient, clinician, "k", ["3.0", "4.0"], "mmol/L")

    for visit in (1, 2):  # rendered, then from the cache
        for url in (f"/patients/{patient.pk}/", f"/patients/{patient.pk}/summary/"):
            page = clinician_client.get(url).content.decode()
            assert '<h2 class="h4" id="trends-heading">Trends</h2>' in page, (url, visit)
            assert '<caption class="small">Latest 2 of 2 values (mmol/L)</caption>' in page, (url, visit)


def test_a_chart_follows_a_result_saved_by_any_writer_without_setting_updated_at(clinician, patient, draws):
    """The chart's key reads Result.updated_at, which Django sets on every save(): a writer that changes a
    value and saves it, knowing nothing of the cache, still gets a new chart."""
    record_series(patient, clinician, "k", ["3.0", "4.0"], "mmol/L")
    before, version = charts.trend_chart_svg(patient, "k")

    result = result_of(patient, "k")
    result.value = Decimal("6.0000")
    result.save()

    after, new_version = charts.trend_chart_svg(patient, "k")
    assert new_version != version
    assert after != before
    assert len(draws) == 2


@pytest.mark.parametrize(
    "field, value",
    [("name", "Potassium (serum)"), ("canonical_unit", "mEq/L")],
)
def test_a_chart_follows_the_analyte_name_and_unit_it_shows(clinician, patient, field, value):
    """The title shows the analyte's name and unit, the axis the unit."""
    record_series(patient, clinician, "k", ["3.0", "4.0"], "mmol/L")
    before, version = charts.trend_chart_svg(patient, "k")
    section = charts.trend_section(patient)

    Analyte.objects.filter(code="k").update(**{field: value})

    after, new_version = charts.trend_chart_svg(patient, "k")
    assert new_version != version
    assert value.encode() in after and value.encode() not in before
    assert value in charts.trend_section(patient) and value not in section


def test_the_table_beside_a_chart_follows_the_analyte_precision(clinician, patient):
    record_series(patient, clinician, "k", ["3.0", "4.27"], "mmol/L")
    assert ">4.3</td>" in charts.trend_section(patient)

    Analyte.objects.filter(code="k").update(display_decimal_places=2)

    assert ">4.27</td>" in charts.trend_section(patient)
