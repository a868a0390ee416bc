"""API client credentials: issued and revoked in the admin, the token shown once and stored hashed;
401 without a valid token (a browser's session counts for nothing), 403 without the import scope, 429
over the rate limit; each refusal an OperationOutcome."""

import hashlib
import re

import pytest
from django.utils import timezone

from api.models import ApiClient
from api.services import revoke_client
from patients.models import AccessLogEntry

from .api_helpers import bearer, issue, validate

pytestmark = pytest.mark.django_db


def outcome(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    validate(body)
    (found,) = body["issue"]
    return found["code"], found["diagnostics"]


def test_no_token_unknown_token_and_wrong_scheme_are_401(client, patient):
    url = f"/fhir/Patient/{patient.pk}"
    assert outcome(client.get(url), 401) == (
        "login",
        "Authorization is missing: send 'Authorization: Bearer <token>' with an API client's token.",
    )
    assert outcome(client.get(url, HTTP_AUTHORIZATION="Bearer myo_not-issued"), 401) == (
        "login",
        "The bearer token is not one Myolab issued.",
    )
    assert outcome(client.get(url, HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz"), 401)[0] == "login"
    assert client.get(url)["WWW-Authenticate"] == 'Bearer realm="myolab"'
    assert not AccessLogEntry.objects.exists()


def test_a_browsers_session_does_not_open_the_api(clinician_client, patient):
    response = clinician_client.get(f"/fhir/Patient/{patient.pk}")
    assert outcome(response, 401)[0] == "login"
    # Nor does it open the import, and no CSRF token is asked for (it is not a session's form).
    response = clinician_client.post("/fhir/Bundle", b"{}", content_type="application/fhir+json")
    assert outcome(response, 401)[0] == "login"


def test_a_revoked_token_is_refused_at_its_next_request(client, administrator, patient):
    api_client, token = issue(administrator, name="Old EHR")
    assert client.get(f"/fhir/Patient/{patient.pk}", **bearer(token)).status_code == 200
    revoke_client(api_client, by=administrator)
    assert outcome(client.get(f"/fhir/Patient/{patient.pk}", **bearer(token)), 401) == (
        "login",
        "The token of API client 'Old EHR' was revoked.",
    )
    api_client.refresh_from_db()
    assert (api_client.revoked_by, api_client.is_active) == (administrator, False)


def test_importing_needs_the_write_scope(client, administrator):
    _, token = issue(administrator, name="Reader")
    response = client.post("/fhir/Bundle", b"{}", content_type="application/fhir+json", **bearer(token))
    assert outcome(response, 403) == (
        "forbidden",
        "API client 'Reader' may only read: importing needs a client that may import.",
    )


def test_a_get_of_the_import_is_405(client, administrator):
    _, token = issue(administrator, name="Lab", can_import=True)
    response = client.get("/fhir/Bundle", **bearer(token))
    assert outcome(response, 405) == ("not-supported", "GET is not served here (allowed: POST).")
    assert response["Allow"] == "POST"


def test_the_rate_limit_answers_429_with_retry_after(client, administrator, patient, settings):
    settings.API_REQUESTS_PER_MINUTE = 3
    _, token = issue(administrator, name="Busy EHR")
    _, other = issue(administrator, name="Quiet EHR")
    statuses = [client.get(f"/fhir/Patient/{patient.pk}", **bearer(token)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = client.get(f"/fhir/Patient/{patient.pk}", **bearer(token))
    code, text = outcome(response, 429)
    assert code == "throttled"
    assert re.fullmatch(
        r"API client 'Busy EHR' has made 3 requests this minute, its limit; try again in \d+ seconds\.", text
    )
    assert 1 <= int(response["Retry-After"]) <= 60
    # Per client: another client is not held back.
    assert client.get(f"/fhir/Patient/{patient.pk}", **bearer(other)).status_code == 200
    # A new minute starts a new count.
    ApiClient.objects.filter(name="Busy EHR").update(rate_minute=0)
    assert client.get(f"/fhir/Patient/{patient.pk}", **bearer(token)).status_code == 200


def test_the_admin_issues_a_client_and_shows_its_token_once(admin_client_, administrator):
    response = admin_client_.post("/admin/api/apiclient/add/", {"name": "Ward EHR", "can_import": "on"}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    token = re.search(r"The token of Ward EHR is (myo_[A-Za-z0-9_-]{43})", page)[1]
    api_client = ApiClient.objects.get()
    assert (api_client.name, api_client.can_import, api_client.created_by) == ("Ward EHR", True, administrator)
    assert api_client.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in ApiClient.objects.values_list("token_hash", "token_prefix").get()
    assert api_client.token_prefix == token[:12]
    # Its service account cannot sign in, and names the client.
    assert (api_client.user.is_active, api_client.user.has_usable_password()) == (False, False)
    assert api_client.user.get_full_name() == "API client Ward EHR"
    # The change page shows it again, without the token.
    again = admin_client_.get(f"/admin/api/apiclient/{api_client.pk}/change/").content.decode()
    assert "Ward EHR" in again and token not in again


def test_the_admin_refuses_a_second_client_of_the_same_name(admin_client_, administrator):
    issue(administrator, name="Ward EHR")
    response = admin_client_.post("/admin/api/apiclient/add/", {"name": "Ward EHR"})
    assert response.status_code == 200
    assert "API client with this Name already exists." in response.content.decode()
    assert ApiClient.objects.count() == 1


def test_the_admin_revokes_selected_clients(admin_client_, administrator, client, patient):
    api_client, token = issue(administrator, name="Ward EHR")
    response = admin_client_.post(
        "/admin/api/apiclient/",
        {"action": "revoke", "_selected_action": [api_client.pk]},
        follow=True,
    )
    assert "Revoked 1 API client(s); their tokens no longer work." in response.content.decode()
    api_client.refresh_from_db()
    assert api_client.revoked_by == administrator
    assert api_client.revoked_at <= timezone.now()
    assert client.get(f"/fhir/Patient/{patient.pk}", **bearer(token)).status_code == 401


def test_a_clinician_cannot_reach_the_clients_admin(clinician_client):
    assert clinician_client.get("/admin/api/apiclient/").status_code in (302, 403)
