"""Results over time (issue 14): a delta finding from entry to review, the cumulative view paging back,
and the patient page at 1366 × 768 (every test's latest value on the first screen) and at 390 px (each
value with its unit and flag on one line)."""

import datetime

from django.utils import timezone
from playwright.sync_api import expect

from guidance.models import Finding

from ..test_labs_cumulative import NINE as EVERY_TEST
from .conftest import check_page

DELTA_TITLE = "Potassium: large change since the previous result (delta check)"
# Every test in the catalogue, with a low magnesium and vitamin D so some cells carry a flag.
NINE = {**EVERY_TEST, "mg": "1.50", "vitd25": "12.0"}


def local(moment):
    return timezone.localtime(moment)


def test_a_delta_finding_from_entry_to_review(clinician_page, patient, record):
    page = clinician_page
    before = local(timezone.now() - datetime.timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    record(patient, {"k": "3.6"}, at=before)

    # The new potassium, 5.1 mmol/L: within range, like the 3.6 two days ago.
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("link", name="Enter results").click()
    now = local(timezone.now() - datetime.timedelta(minutes=5))
    page.get_by_label("Collected at").fill(f"{now:%Y-%m-%dT%H:%M}")
    page.get_by_label("Potassium", exact=True).fill("5.1")
    page.get_by_role("button", name="Save results").click()
    expect(page.get_by_role("alert")).to_contain_text("Saved 1 result collected")

    change = f"Δ +1.5 mmol/L (+41.7 %) from 3.6 on {before.day} {before:%b %Y}"
    over_time = page.get_by_role("region", name="Results over time")
    expect(over_time.get_by_role("row").filter(has_text="Potassium")).to_contain_text(change)
    findings = page.get_by_role("region", name="Findings")
    delta = findings.get_by_role("listitem").filter(has_text=DELTA_TITLE)
    expect(delta).to_contain_text("Awaiting review")
    expect(delta).to_contain_text(change)
    check_page(page, "patient-page-delta-finding")

    # The worklist's report says it too; its finding page explains it.
    page.get_by_role("link", name="Worklist").click()
    report = page.get_by_role("listitem").filter(has_text=DELTA_TITLE).filter(has_text="Review this report")
    expect(report).to_contain_text(change)
    page.goto(f"/guidance/findings/{Finding.objects.get(delta_rule__isnull=False).pk}/")
    expect(page.get_by_role("heading", name=DELTA_TITLE)).to_be_visible()
    expect(page.get_by_text("rule: change > 14.9 % (reference change value) within 7 days")).to_be_visible()
    check_page(page, "delta-finding")

    # The explanation names the usual causes.
    page.get_by_role(
        "link", name="Read the explanation: A large change since the previous result (delta check)"
    ).click()
    expect(page.get_by_text("Haemolysis: red cells release potassium")).to_be_visible()
    page.go_back()

    page.get_by_label("Reason no action is needed").fill("Haemolysed sample: repeat tomorrow read 4.0")
    page.get_by_role("button", name="Record: no action needed").click()
    expect(page.get_by_role("alert")).to_have_text("Recorded: no action needed.")
    assert Finding.objects.get(delta_rule__isnull=False).status == Finding.Status.NO_ACTION


def test_the_cumulative_view_pages_back_and_refuses_a_page_past_the_end(clinician_page, patient, record):
    page = clinician_page
    start = local(timezone.now() - datetime.timedelta(days=200)).replace(hour=9, minute=0, second=0, microsecond=0)
    for week in range(13):  # 13 collection times: pages of 6, 6 and 1
        # 3.6, 3.7 … 4.8 mmol/L, a week apart: changes too small for the delta rule.
        record(patient, {"k": f"{3.6 + week / 10:.1f}"}, at=start + datetime.timedelta(weeks=week))
    page.goto(f"/patients/{patient.pk}/")
    over_time = page.get_by_role("region", name="Results over time")
    expect(over_time).to_contain_text("dates page 1 of 3 (page 1 is the newest)")
    expect(over_time.get_by_role("columnheader")).to_have_count(2 + 6)
    expect(over_time.get_by_role("row").filter(has_text="Potassium")).to_contain_text("4.8 mmol/L")

    over_time.get_by_role("link", name="Older →").click()
    over_time = page.get_by_role("region", name="Results over time")
    expect(over_time).to_contain_text("dates page 2 of 3")
    expect(over_time.get_by_role("row").filter(has_text="Potassium")).to_contain_text("4.2 mmol/L")
    over_time.get_by_role("link", name="Older →").click()
    over_time = page.get_by_role("region", name="Results over time")
    expect(over_time).to_contain_text("dates page 3 of 3")
    expect(over_time.get_by_role("columnheader")).to_have_count(2 + 1)
    expect(over_time.get_by_role("link", name="Older →")).to_have_count(0)
    check_page(page, "cumulative-view-page-3")
    over_time.get_by_role("link", name="← Newer").click()
    expect(page.get_by_role("region", name="Results over time")).to_contain_text("dates page 2 of 3")

    page.goto(f"/patients/{patient.pk}/?cumulative=4")
    expect(page.get_by_role("alert")).to_contain_text(
        "There is no page 4 of results over time: this patient's results fill 3 pages (1 is the newest)."
    )
    page.get_by_role("link", name="Show the newest results").click()
    expect(page.get_by_role("region", name="Results over time")).to_contain_text("dates page 1 of 3")


def nine_tests_over_time(record, patient):
    start = timezone.now() - datetime.timedelta(days=400)
    for month in range(8):
        record(patient, NINE, at=start + datetime.timedelta(days=30 * month))


def test_every_latest_value_shows_without_scrolling_at_1366_by_768(clinician_page, patient, record):
    page = clinician_page
    nine_tests_over_time(record, patient)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"/patients/{patient.pk}/")

    table = page.get_by_role("region", name="Results over time").get_by_role("table")
    rows = table.get_by_role("row")
    expect(rows).to_have_count(1 + 9)
    newest = [rows.nth(index).get_by_role("cell").nth(1) for index in range(1, 10)]  # after the range
    for cell in newest:
        box = cell.bounding_box()
        assert box["y"] + box["height"] <= 768, cell.inner_text()
        assert box["x"] + box["width"] <= 1366, cell.inner_text()
    # Nor sideways: the whole table fits the window's width.
    widths = table.evaluate("t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert widths[0] <= widths[1], widths
    page.screenshot(path="test-artefacts/screenshots/patient-page-1366x768-first-screen.png")
    check_page(page, "patient-page-1366")


def test_value_unit_and_flag_stay_together_at_390_px(clinician_page, patient, record):
    page = clinician_page
    nine_tests_over_time(record, patient)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/patients/{patient.pk}/")

    magnesium = page.get_by_role("region", name="Results over time").get_by_role("row").filter(has_text="Magnesium")
    # The range column is hidden on a phone (it sits under the name), so the first cell is the newest value.
    value = magnesium.get_by_role("cell").first.locator("span.text-nowrap")
    expect(value).to_have_text("1.50 mg/dL L")
    box = value.bounding_box()
    assert box["height"] < 30, "value, unit and flag wrapped onto more than one line"
    assert box["x"] + box["width"] <= 390
    # Nothing widens the page itself: only the tables scroll sideways. The flags' legend wraps to the
    # screen instead of scrolling with the dates (as the table's caption it ran off the right edge).
    assert page.evaluate("() => document.documentElement.scrollWidth") == 390
    legend = page.locator("#cumulative-legend")
    expect(legend).to_contain_text("Flags: L low, H high")
    legend_box = legend.bounding_box()
    assert legend_box["x"] + legend_box["width"] <= 390
    page.screenshot(path="test-artefacts/screenshots/patient-page-390-first-screen.png")
    check_page(page, "patient-page-390")
