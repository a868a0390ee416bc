"""An administrator issues an API client credential in the admin, a system reads with its token, and
the administrator revokes it: the token no longer works, and the browser's own session never did."""

import re

from playwright.sync_api import expect

from patients.models import AccessLogEntry

from .conftest import check_page


def test_administrator_issues_and_revokes_an_api_client(admin_page, patient):
    page = admin_page
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("rowheader", name="API clients").get_by_role("link").click()
    page.get_by_role("link", name="Add API client").click()
    page.get_by_label("Name").fill("Ward EHR")
    check_page(page, "admin-api-client-add")
    page.get_by_role("button", name="Save", exact=True).click()

    shown = page.get_by_text(re.compile(r"The token of Ward EHR is myo_"))
    expect(shown).to_be_visible()
    token = re.search(r"myo_[A-Za-z0-9_-]{43}", shown.inner_text())[0]
    check_page(page, "admin-api-client-issued")

    # The browser's session does not open the API; the token does.
    assert page.request.get(f"/fhir/Patient/{patient.pk}").status == 401
    answer = page.request.get(f"/fhir/Patient/{patient.pk}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200
    assert answer.json()["identifier"][0]["value"] == patient.mrn
    assert AccessLogEntry.objects.get(what="fhir-api").api_client == "Ward EHR"

    # The token is not shown again; revoking ends it.
    page.reload()
    expect(page.get_by_text(token)).to_have_count(0)
    page.get_by_role("row", name=re.compile("Ward EHR")).get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option(label="Revoke selected API clients")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text("Revoked 1 API client(s); their tokens no longer work.")).to_be_visible()
    refused = page.request.get(f"/fhir/Patient/{patient.pk}", headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 401
    assert refused.json()["issue"][0]["diagnostics"] == "The token of API client 'Ward EHR' was revoked."
