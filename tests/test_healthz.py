"""/healthz: what a load balancer sees. No login, no patient data, 503 naming what failed."""

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

OK = {"status": "ok", "database": "ok", "migrations": "applied"}


def test_ok_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == OK
    assert "no-cache" in response["Cache-Control"]


def test_logged_in_users_get_the_same_answer(clinician_client):
    assert clinician_client.get("/healthz").json() == OK


def test_says_nothing_about_patients(client, patient):
    response = client.get("/healthz")
    assert response.json() == OK
    assert patient.family_name.encode() not in response.content
    assert patient.mrn.encode() not in response.content


@pytest.fixture
def fresh_process(monkeypatch):
    """As in a newly started server: the migrations have not been checked yet."""
    monkeypatch.setattr("config.views._migrations_applied", False)


def test_unapplied_migrations_give_503_until_applied(client, fresh_process):
    pending = [(mock.Mock(), False)]
    with mock.patch("config.views.MigrationExecutor.migration_plan", return_value=pending):
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "error", "database": "ok", "migrations": "unapplied"}
    # Once migrate has run, the next check passes (and later ones skip reading the migrations).
    assert client.get("/healthz").json() == OK
    with mock.patch("config.views.MigrationExecutor.migration_plan", return_value=pending) as plan:
        assert client.get("/healthz").status_code == 200
    plan.assert_not_called()


def test_unreachable_database_gives_503(client, fresh_process):
    with mock.patch("config.views.connection.cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable", "migrations": "unknown"}


def test_only_get_and_head(client):
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200


@override_settings(SECURE_SSL_REDIRECT=True)
def test_not_redirected_to_https_when_other_pages_are(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/login/").status_code == 301


def test_unknown_host_is_refused(client):
    assert client.get("/healthz", HTTP_HOST="attacker.example").status_code == 400


# --- a database outage: 503 with Retry-After everywhere, never a 500 ---------------------------------

DATABASE_DOWN = OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


@pytest.fixture
def browser(clinician):
    """A signed-in browser whose requests end in a page even when the server fails, as a browser sees it
    (the test client would otherwise raise the server's exception in the test)."""
    browser = Client(raise_request_exception=False)
    browser.force_login(clinician)
    return browser


def database_down(error=DATABASE_DOWN):
    """Every query fails from here on, as when PostgreSQL stops: even the session's and the user's."""
    return mock.patch("django.db.backends.base.base.BaseDatabaseWrapper.cursor", side_effect=error)


@pytest.mark.parametrize("error", [DATABASE_DOWN, InterfaceError("connection already closed")])
def test_a_signed_in_page_says_try_again_with_503_when_the_database_is_down(browser, error):
    with database_down(error):
        response = browser.get("/patients/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "Myolab is temporarily unavailable" in page
    assert "Nothing you entered was saved" in page


def test_a_save_during_the_outage_gets_the_same_page(browser, patient):
    with database_down():
        response = browser.post(f"/patients/{patient.pk}/edit/", {"family_name": "Changed"})
    assert response.status_code == 503
    assert "Nothing you entered was saved" in response.content.decode()


def test_the_health_check_is_503_during_the_outage_with_or_without_a_session(client, browser):
    # A poller that kept a session cookie used to get 500: the session is read before the view runs.
    with database_down():
        assert client.get("/healthz").status_code == 503
        assert browser.get("/healthz").status_code == 503
    assert browser.get("/healthz").status_code == 200


def test_the_health_check_asks_the_database_every_time(client, django_assert_num_queries):
    client.get("/healthz")  # the migrations checked once
    for _ in range(3):
        with django_assert_num_queries(1):  # SELECT 1
            assert client.get("/healthz").status_code == 200


def test_other_errors_are_still_a_500(browser):
    with mock.patch("patients.views.render", side_effect=ValueError("a bug")):
        response = browser.get("/patients/")
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert "Something went wrong" in response.content.decode()
