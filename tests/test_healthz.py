"""/healthz: what a load balancer sees. No login, no patient data, 503 naming what failed."""

from unittest import mock

import pytest
from django.db import OperationalError
from django.test import override_settings

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
