"""The worklist by report, as a clinician uses it: a report with several findings reviewed in one go, the
older report's findings superseded and off the worklist, a critical result communicated and read back,
and the worklist on a 390 px phone screen, a change beyond the delta rule wrapping there too."""

import datetime

from django.utils import timezone
from playwright.sync_api import expect

from guidance.models import CriticalCall, Finding

from .conftest import check_page, screenshot

JUNE = timezone.make_aware(datetime.datetime(2026, 6, 1, 9))
NOVEMBER = timezone.make_aware(datetime.datetime(2026, 11, 20, 9))


def test_review_a_report_in_one_go(clinician_page, patient, record):
    page = clinician_page
    record(patient, {"k": "3.1", "mg": "1.5"}, at=JUNE)
    # November's report: a critical potassium with a low magnesium (a pattern explaining both) and a low
    # vitamin D. It supersedes June's potassium and magnesium findings, which nobody had decided.
    record(patient, {"k": "2.5", "mg": "1.5", "vitd25": "15"}, at=NOVEMBER)

    page.goto("/")
    reports = page.get_by_role("region", name="Reports awaiting review")
    expect(reports).to_contain_text("1 report with 4 findings awaiting a decision")
    expect(reports.get_by_text("⚠ Critical result awaiting acknowledgement")).to_be_visible()
    expect(reports).to_contain_text("Collected 20 Nov 2026 09:00")
    expect(reports).not_to_contain_text("1 Jun 2026")  # June's report: superseded, not on the worklist
    expect(reports).to_contain_text("— explains magnesium deficiency (hypomagnesaemia), potassium imbalance")
    check_page(page, "worklist-by-report")

    reports.get_by_role("link", name="Review this report").click()
    expect(page.get_by_role("heading", name="Report collected 20 Nov 2026 09:00")).to_be_visible()
    check_page(page, "report-review")

    # --- Acknowledge: a critical result needs a comment and the record of who was told, and how. ---
    acknowledge = page.get_by_role("region", name="1. Acknowledge the report’s results")
    acknowledge.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("This is a critical result: write a comment")).to_be_visible()
    expect(page.get_by_text("A critical result: say who was told it (name and role).")).to_be_visible()
    expect(page.get_by_text("A critical result: say how they were told (phone, in person or message).")).to_be_visible()
    assert set(Finding.objects.filter(result__collected_at=NOVEMBER).values_list("status", flat=True)) == {"open"}

    acknowledge = page.get_by_role("region", name="1. Acknowledge the report’s results")
    acknowledge.get_by_label("Comment").fill("Repeat potassium today, ECG")
    acknowledge.get_by_label("Who was told").fill("Dr A. Patel, on-call GP")
    acknowledge.get_by_label("Phone").check()
    acknowledge.get_by_label("Value read back").check()
    acknowledge.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("alert")).to_have_text("Acknowledged 4 findings of this report.")
    call = CriticalCall.objects.get()
    assert (call.told, call.method, call.read_back, call.finding.result.analyte.code) == (
        "Dr A. Patel, on-call GP",
        "phone",
        True,
        "k",
    )

    # --- One decision for both items: the pattern carries the findings it explains. ---
    decide = page.get_by_role("region", name="Decide")
    for box in decide.get_by_role("checkbox").all():
        box.check()
    decide.get_by_label("No action needed").check()
    decide.get_by_label("Reason no action is needed").fill("Known; treated by the renal team")
    decide.get_by_role("button", name="Record the decision for the ticked findings").click()
    expect(page.get_by_role("alert")).to_have_text("Decided 4 findings: no action needed.")
    expect(page.get_by_text("Nothing in this report awaits a decision.")).to_be_visible()

    page.goto("/")
    expect(page.get_by_role("region", name="Reports awaiting review")).to_contain_text("None.")

    # June's potassium says what replaced it, and the critical one who was told.
    june = Finding.objects.get(result__collected_at=JUNE, rule__code="potassium-low")
    page.goto(june.get_absolute_url())
    expect(page.get_by_text("Superseded by a newer result", exact=True)).to_be_visible()
    expect(page.get_by_text("Superseded on")).to_contain_text("Potassium 2.5 mmol/L")
    page.goto(call.finding.get_absolute_url())
    expect(page.get_by_text("Critical result communicated")).to_contain_text("told Dr A. Patel, on-call GP (phone) on")


def test_the_worklist_at_390_px_keeps_each_value_with_its_unit_and_flag(clinician_page, patient, record):
    page = clinician_page
    record(patient, {"mg": "1.50", "k": "3.1", "ca": "8.0", "alb": "3.0", "vite": "3.9", "carn_free": "20.0"})
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    values = page.locator(".report-list .value-flag")
    expect(values).to_have_count(6)
    # Each value, unit and flag on one line (one line box), inside the screen.
    layout = values.evaluate_all(
        "els => els.map(el => ({text: el.innerText, lines: el.getClientRects().length,"
        " right: el.getBoundingClientRect().right}))"
    )
    for value in layout:
        assert value["lines"] == 1, value
        assert value["right"] <= 390, value
    assert "1.50 mg/dL Low" in [value["text"] for value in layout]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "worklist-390px")
    # The report's own page too: its long "Record the decision for the ticked findings" button wraps.
    page.get_by_role("link", name="Review this report").first.click()
    expect(page.get_by_role("button", name="Record the decision for the ticked findings")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "report-390px")


def test_a_change_beyond_the_delta_rule_fits_the_390_px_worklist(clinician_page, patient, record):
    # A low potassium, then a high one two days later: the worklist's row shows the change, its longest
    # line ("Δ +1.9 mmol/L (+55.9 %) from 3.4 on 26 Nov 2026"), which must wrap rather than widen the page.
    page = clinician_page
    november = timezone.make_aware(datetime.datetime(2026, 11, 26, 9))
    record(patient, {"k": "3.4"}, at=november)
    record(patient, {"k": "5.3"}, at=november + datetime.timedelta(days=2))
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    change = page.locator(".report-list .delta")
    expect(change).to_have_text("Δ +1.9 mmol/L (+55.9 %) from 3.4 on 26 Nov 2026")
    assert change.evaluate("el => el.getBoundingClientRect().right") <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "worklist-delta-390px")
