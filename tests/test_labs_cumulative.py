"""The cumulative view at the top of the patient page (labs.cumulative, labs/includes/cumulative_table.html):
tests as rows, collection times as columns newest first, each value with its unit and flag, Δ where a
delta rule fires; paged back through history in a fixed number of queries; a page that does not exist is
refused with a message."""

import datetime
import io
import re

import pytest
from django.utils import timezone
from pypdf import PdfReader

from guidance.services import mark_entered_in_error
from labs.cumulative import COLUMNS_PER_PAGE, cumulative_table
from labs.templatetags.labs_format import cumulative_cell

from .factories import UserFactory

pytestmark = pytest.mark.django_db

NINE = {
    "vitd25": "30.0",
    "mg": "1.9",
    "ca": "9.0",
    "k": "4.0",
    "ck": "100",
    "carn_free": "30",
    "carn_total": "40",
    "alb": "4.0",
    "vite": "9.0",
}


def at(day, hour=9):
    return timezone.make_aware(datetime.datetime(2026, 3, day, hour))


def cells_text(html):
    return re.sub(r"<[^>]+>", " ", html)


def squash(text):
    return " ".join(text.split())


def test_tests_are_rows_and_collection_times_columns_newest_first(record, patient):
    record(patient, {"k": "3.6", "mg": "1.5"}, at=at(1))
    record(patient, {"k": "5.1"}, at=at(3))

    table = cumulative_table(patient, None)

    assert table.columns == [at(3), at(1)]
    assert [row.analyte.code for row in table.rows] == ["mg", "k"]  # catalogue order
    magnesium, potassium = table.rows
    assert magnesium.cells[0] is None
    assert (magnesium.cells[1].result.display_value, magnesium.cells[1].result.flag) == ("1.50", "L")
    assert magnesium.range_text == "1.70–2.60 mg/dL"
    newest, oldest = potassium.cells
    assert (newest.result.display_value, oldest.result.display_value) == ("5.1", "3.6")
    # 3.6 → 5.1 in two days exceeds the potassium delta rule; the first result has nothing before it.
    assert (newest.delta.change, newest.delta.previous_at) == (pytest.approx(1.5), at(1))
    assert oldest.delta is None
    assert (table.page, table.pages, table.older_page, table.newer_page, table.error) == (1, 1, None, None, "")


def test_the_page_shows_value_unit_and_flag_together_and_the_change(clinician_client, record, patient):
    record(patient, {"k": "3.6", "mg": "1.5"}, at=at(1))
    record(patient, {"k": "5.1"}, at=at(3))

    html = clinician_client.get(patient.get_absolute_url()).content.decode()
    table = html.split('id="cumulative-heading"')[1].split("</section>")[0]

    assert '<span class="text-nowrap"><strong>1.50</strong> <small>mg/dL</small> <span title="Low">' in table
    assert "Δ +1.5 mmol/L (+41.7 %) from 3.6 on 1 Mar 2026" in table
    assert squash(cells_text(table)).count("Potassium 3.5–5.2 mmol/L") == 1
    # It leads the page: before the findings, the trends and the panels.
    assert html.index('id="cumulative-heading"') < html.index('id="findings-heading"')
    assert html.index('id="findings-heading"') < html.index('id="trends-heading"') < html.index('id="results-heading"')


def test_a_result_entered_in_error_is_struck_through_and_not_compared(record, patient, clinician):
    record(patient, {"k": "4.0"}, at=at(1))
    wrong = record(patient, {"k": "6.0"}, at=at(2)).results.get()
    record(patient, {"k": "4.1"}, at=at(3))
    mark_entered_in_error(wrong, reason="wrong patient", by=clinician)

    potassium = cumulative_table(patient, "1").rows[0]

    assert [cell.result.is_entered_in_error for cell in potassium.cells] == [False, True, False]
    assert [cell.delta for cell in potassium.cells] == [None, None, None]  # 4.1 compares with 4.0: +2.5 %
    assert "<s>6.0 mmol/L</s> <small>entered in error</small>" in cumulative_cell(potassium.cells[1])


def panels(record, patient, count, *, values=NINE, start=None):
    start = start or timezone.now() - datetime.timedelta(days=count + 1)
    for day in range(count):
        record(patient, values, at=start + datetime.timedelta(days=day))


def test_pages_go_back_through_history_and_every_test_keeps_its_latest_value(record, patient):
    record(patient, {"vitd25": "12.0"}, at=at(1, 8))  # measured once, long before the rest
    for day in range(2, 2 + 2 * COLUMNS_PER_PAGE):
        record(patient, {"k": "4.0"}, at=at(day))

    first, second, third = (cumulative_table(patient, page) for page in ("1", "2", "3"))

    assert (first.pages, first.older_page, second.newer_page, second.older_page) == (3, 2, 1, 3)
    assert first.columns[0] == at(1 + 2 * COLUMNS_PER_PAGE) and len(first.columns) == COLUMNS_PER_PAGE
    assert second.columns[0] == at(1 + COLUMNS_PER_PAGE)
    assert third.columns == [at(1, 8)]
    vitamin_d = first.rows[0]
    assert vitamin_d.analyte.code == "vitd25" and all(cell is None for cell in vitamin_d.cells)
    assert vitamin_d.latest_elsewhere == "latest 12.0 ng/mL (L), 1 Mar 2026"
    assert vitamin_d.range_text == "20.0–80.0 ng/mL"
    assert third.rows[0].latest_elsewhere == ""  # shown in its column there


@pytest.mark.parametrize("page", ["4", "0", "-1", "two", "1e3"])
def test_a_page_that_does_not_exist_is_refused_with_a_message(clinician_client, record, patient, page):
    panels(record, patient, 2 * COLUMNS_PER_PAGE + 1, values={"k": "4.0"})

    response = clinician_client.get(patient.get_absolute_url(), {"cumulative": page})

    assert response.status_code == 404
    assert (
        f"There is no page {page} of results over time: this patient&#x27;s results fill 3 pages (1 is the newest). "
        "Showing none; choose a page from 1 to 3." in response.content.decode()
    )


def test_a_patient_without_results_has_one_empty_page(clinician_client, patient):
    response = clinician_client.get(patient.get_absolute_url())
    assert response.status_code == 200
    assert cumulative_table(patient, None).rows == []
    assert "No results recorded yet." in response.content.decode().split('id="cumulative-heading"')[1]


# Queries: 1 how many collection times there are, 2 the page's collection times, 3 their results with
# each one's previous valid result of its test, 4 the patient's tests with each one's latest result, 5 the
# delta rules.
CUMULATIVE_QUERIES = 5


@pytest.mark.parametrize("panel_count", [3, 111])  # 27 results; 999 + 1 = 1,000 results
def test_the_query_count_does_not_grow_with_history_or_pages(
    record, patient, clinician_client, django_assert_num_queries, panel_count
):
    panels(record, patient, panel_count)
    if panel_count == 111:
        record(patient, {"k": "4.1"})
        assert patient.results.count() == 1000
    for page in ("1", "2", "3") if panel_count == 111 else ("1",):
        with django_assert_num_queries(CUMULATIVE_QUERIES):
            table = cumulative_table(patient, page)
        assert len(table.rows) == 9
    # The whole patient page, two pages back: as tests/test_labs_views.py counts it, with the findings
    # summary and the trend section already in the cache (39 queries less their 6 and 6); then read from
    # the cache (14).
    clinician_client.get(patient.get_absolute_url())
    page = {"cumulative": "3" if panel_count == 111 else "1"}
    for queries in (27, 14):
        with django_assert_num_queries(queries):
            response = clinician_client.get(patient.get_absolute_url(), page)
        assert response.status_code == 200


def test_who_may_see_it(client, administrator, record, patient):
    record(patient, {"k": "4.0"})
    url = patient.get_absolute_url()
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(UserFactory(username="norole"))
    assert client.get(url).status_code == 403
    client.force_login(administrator)
    assert 'id="cumulative-heading"' in client.get(url).content.decode()


def test_the_summary_pdf_carries_the_same_table_with_the_change(clinician_client, record, patient):
    record(patient, {"k": "3.6", "mg": "1.5"}, at=at(1))
    record(patient, {"k": "5.1"}, at=at(3))

    response = clinician_client.get(f"/patients/{patient.pk}/summary.pdf")

    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages).split())
    over_time = text.split("Results over time")[1].split("Open findings")[0]
    assert "03 Mar 2026 09:00 01 Mar 2026 09:00" in over_time
    assert "Magnesium 1.70–2.60 mg/dL 1.50 mg/dL L" in over_time
    assert "5.1 mmol/L Δ +1.5 mmol/L (+41.7 %) from 3.6 on 1 Mar 2026 3.6 mmol/L" in over_time
