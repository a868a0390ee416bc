"""Journey: a clinician takes a critical result from the worklist to a closed follow-up, reading the
explanation on the way. Results are recorded through guidance.services (the entry form's wiring to it is
the lead's); everything after that is done in the browser."""

import datetime
from decimal import Decimal

from django.utils import timezone
from playwright.sync_api import expect

from guidance import services
from guidance.models import FollowUpPlan
from labs.models import Analyte
from labs.services import Entry

from .conftest import check_page, log_in


def test_clinician_reviews_a_critical_finding_and_closes_the_follow_up(page, clinician, patient_factory):
    patient = patient_factory(mrn="MRN-00451", given_name="Edith", family_name="Marlow", created_by=clinician)
    potassium = Analyte.objects.get(code="k")
    services.record_results(
        patient=patient,
        collected_at=timezone.now() - datetime.timedelta(hours=3),
        entries=[Entry(analyte=potassium, value=Decimal("2.5"), unit=potassium.units.get(unit="mmol/L"))],
        by=clinician,
    )

    page.goto("/login/")
    log_in(page, "alice")
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    critical = page.get_by_role("region", name="Critical results awaiting acknowledgement")
    expect(critical.get_by_role("link", name="Marlow, Edith")).to_be_visible()
    expect(critical.get_by_text("Critically low")).to_be_visible()
    check_page(page, "worklist")

    critical.get_by_role("link", name="Review").click()
    expect(page.get_by_role("heading", name="Potassium", level=1)).to_be_visible()
    check_page(page, "finding")

    # The explanation opens from the finding.
    page.get_by_role("link", name="Read the explanation").click()
    expect(page.get_by_role("heading", name="When to escalate")).to_be_visible()
    expect(page.get_by_role("heading", name="Sources")).to_be_visible()
    check_page(page, "explanation")
    page.go_back()

    page.get_by_label("Comment").fill("Phoned the patient; same-day ECG and repeat arranged")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Finding acknowledged.")).to_be_visible()

    page.get_by_role("link", name="Plan a follow-up").click()
    expect(page.get_by_label("Action")).to_have_value("repeat-test")
    page.get_by_label("Details").fill("Repeat potassium with magnesium")
    check_page(page, "plan-form")
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_text("Follow-up planned.")).to_be_visible()

    page.get_by_role("link", name="Mark as done").click()
    page.get_by_label("Outcome note").fill("Repeat potassium 4.0 mmol/L")
    page.get_by_role("button", name="Mark as done").click()
    expect(page.get_by_text("Plan marked as done.")).to_be_visible()
    assert FollowUpPlan.objects.get().status == FollowUpPlan.Status.DONE

    page.get_by_role("link", name="Worklist").first.click()
    expect(
        page.get_by_role("region", name="Critical results awaiting acknowledgement").get_by_text("None.")
    ).to_be_visible()
