"""Journey 2: an administrator opens the admin, the users and a patient's history.

Then they change a reference range and see that only results entered afterwards use it.
"""

import datetime

from django.utils import timezone
from playwright.sync_api import expect

from .conftest import check_page, log_in, log_out


def test_administrator_opens_users_and_a_patients_history(page, administrator, clinician, patient_factory):
    patient_factory(mrn="MRN-00314", given_name="Ruth", family_name="Ashdown", created_by=clinician)

    page.goto("/login/")
    log_in(page, "bob")
    expect(page.get_by_text("Signed in as Bob Admin (Administrator)")).to_be_visible()

    page.get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    expect(page.get_by_role("link", name="Myolab administration")).to_be_visible()
    check_page(page, "admin")

    # Users: the clinician is there, with a link to change their account and roles.
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Select user to change")).to_be_visible()
    users = page.get_by_role("table")
    expect(users.get_by_role("link", name="alice")).to_be_visible()
    expect(users.get_by_role("link", name="bob")).to_be_visible()
    check_page(page, "admin-users")

    # A patient in the admin, and the history of every change to it.
    page.get_by_role("link", name="Home").click()
    # The model's row header, not the app's caption link of the same name.
    page.get_by_role("rowheader", name="Patients").get_by_role("link").click()
    page.get_by_role("link", name="MRN-00314").click()
    expect(page.get_by_role("heading", name="Change patient")).to_be_visible()
    expect(page.get_by_label("Family name")).to_have_value("Ashdown")
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="Change history: Ashdown, Ruth (MRN-00314)")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Created")).to_contain_text("Ashdown, Ruth (MRN-00314)")
    check_page(page, "admin-patient-history")


def test_administrator_changes_a_range_and_only_new_results_use_it(admin_page, clinician, patient, record):
    page = admin_page
    # An earlier potassium of 5.0 mmol/L: normal against the seeded 3.5–5.2 mmol/L.
    collected = timezone.make_aware(datetime.datetime(2025, 6, 2, 8, 15))
    record(patient, {"k": ("5.0", "mmol/L")}, at=collected)

    # The administrator lowers the upper limit to 4.8 mmol/L from today.
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("rowheader", name="Reference ranges").get_by_role("link").click()
    page.get_by_role("table").get_by_role("link", name="Potassium").click()
    expect(page.get_by_role("heading", name="Change reference range")).to_be_visible()
    page.get_by_label("Normal high").fill("4.8")
    page.get_by_role("link", name="Today").click()
    check_page(page, "admin-range-editor")
    page.get_by_role("button", name="Save", exact=True).click()
    today = timezone.localdate()
    expect(page.get_by_text("saved as a new version effective from")).to_contain_text(
        f"{today:%d %b %Y}. The earlier version and its results are unchanged."
    )

    # A clinician enters a new potassium of 5.0 mmol/L, collected now.
    page.goto("/")
    log_out(page)
    log_in(page, "alice")
    page.goto(f"/patients/{patient.pk}/results/new/")
    page.get_by_label("Collected at").fill(f"{timezone.localtime():%Y-%m-%dT%H:%M}")
    page.get_by_label("Potassium", exact=True).fill("5.0")
    page.get_by_role("button", name="Save results").click()

    # Same value, two flags: each result keeps the range version it was read against.
    earlier = page.get_by_role("article", name="Collected 2 Jun 2025, 08:15").get_by_role("row").nth(1)
    expect(earlier.get_by_role("cell").nth(2)).to_have_text("3.5–5.2 mmol/L")
    expect(earlier.get_by_role("cell").nth(3)).to_have_text("Normal")
    newer = page.get_by_role("region", name="Lab results").get_by_role("article").first.get_by_role("row").nth(1)
    expect(newer.get_by_role("rowheader")).to_have_text("Potassium")
    expect(newer.get_by_role("cell").nth(2)).to_have_text("3.5–4.8 mmol/L")
    expect(newer.get_by_role("cell").nth(3)).to_have_text("High")
