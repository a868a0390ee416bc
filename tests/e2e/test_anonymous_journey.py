"""Journey 3: someone not logged in reaches only the login page, and guessing passwords locks the account."""

import datetime
import re
from urllib.parse import quote

from django.conf import settings
from playwright.sync_api import expect

from guidance import services
from guidance.models import ActionType, Finding

from .conftest import PASSWORD, check_page, log_in

# Every main page, by path ("/" is the worklist).
MAIN_PAGES = [
    "/",
    "/patients/",
    "/patients/new/",
    "/patients/{patient}/",
    "/patients/{patient}/edit/",
    "/patients/{patient}/results/new/",
    "/results/{result}/correct/",
    "/results/{result}/entered-in-error/",
    "/results/{result}/history/",
    "/guidance/",
    "/guidance/potassium-imbalance/",
    "/guidance/findings/{finding}/",
    "/guidance/findings/{finding}/plans/new/",
    "/guidance/plans/{plan}/edit/",
    "/guidance/plans/{plan}/complete/",
    "/patients/{patient}/summary/",
    "/patients/{patient}/summary.pdf",
    "/patients/{patient}/results.csv",
    "/patients/{patient}/fhir/",
    "/exports/cohort/",
    "/admin/",
    "/admin/auth/user/",
    "/admin/patients/patient/{patient}/history/",
]


def test_every_main_page_sends_an_anonymous_visitor_to_log_in(page, patient, record, clinician):
    # A low potassium with its finding and a follow-up plan, so their pages exist.
    [result] = record(patient, {"k": "3.1"}).results.all()
    finding = Finding.objects.get(result=result)
    plan = services.create_plan(
        finding,
        action_type=ActionType.REPEAT_TEST,
        analyte=result.analyte,
        due_date=datetime.date(2030, 1, 7),
        owner=clinician,
        by=clinician,
    )
    ids = {"patient": patient.pk, "result": result.pk, "finding": finding.pk, "plan": plan.pk}
    for template in MAIN_PAGES:
        path = template.format(**ids)
        response = page.goto(path)
        assert response.status == 200, path  # the login page, after the redirect
        # The app's pages go to /login/, the admin's to /admin/login/; both come back to where they started.
        expect(page, f"{path} did not redirect to a login page").to_have_url(
            re.compile(r"/login/\?next=" + re.escape(quote(path)) + "$")
        )
        expect(page.get_by_label("Password")).to_be_visible()
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
        # Whole words and the record number: a short family name such as "Li" is part of "Clinic".
        expect(page.get_by_text(re.compile(rf"\b{re.escape(patient.family_name)}\b"))).to_have_count(0)
        expect(page.get_by_text(patient.mrn)).to_have_count(0)


def test_repeated_wrong_passwords_lock_the_account_with_a_clear_message(page, clinician):
    assert settings.AXES_FAILURE_LIMIT == 5
    page.goto("/login/")
    for _ in range(4):
        log_in(page, "alice", "not-the-password")
        expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
    check_page(page, "login-with-error")

    log_in(page, "alice", "not-the-password")
    expect(page.get_by_role("heading", name="Account temporarily locked")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(
        "Too many failed login attempts for this account. For your patients' safety, logging in is blocked for 0:15:00"
    )
    check_page(page, "locked-out")

    # While locked, even the right password is refused.
    page.get_by_role("link", name="Back to the login page").click()
    log_in(page, "alice", PASSWORD)
    expect(page.get_by_role("heading", name="Account temporarily locked")).to_be_visible()
    page.goto("/patients/")
    expect(page.get_by_role("heading", name="Log in to Myolab")).to_be_visible()
