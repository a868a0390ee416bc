"""Idle session expiry (config/sessions.py): the expiry moves on at most once a minute, and a session
idle for SESSION_IDLE_MINUTES ends."""

import datetime

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

pytestmark = pytest.mark.django_db

IDLE = datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE)


def stored_session(client):
    return Session.objects.get(session_key=client.session.session_key)


def set_expiry(client, expire_date):
    Session.objects.filter(session_key=client.session.session_key).update(expire_date=expire_date)


def test_a_request_soon_after_the_last_write_leaves_the_session_row_alone(clinician_client):
    expiry_at_login = stored_session(clinician_client).expire_date
    assert clinician_client.get("/patients/").status_code == 200
    assert stored_session(clinician_client).expire_date == expiry_at_login


def test_a_request_more_than_a_minute_after_the_last_write_moves_the_expiry_on(clinician_client):
    # As if the session was last written 90 seconds ago.
    set_expiry(clinician_client, timezone.now() + IDLE - datetime.timedelta(seconds=90))
    before = timezone.now()
    assert clinician_client.get("/patients/").status_code == 200
    new_expiry = stored_session(clinician_client).expire_date
    assert before + IDLE <= new_expiry <= timezone.now() + IDLE


def test_a_session_idle_for_the_whole_period_has_ended(clinician_client):
    set_expiry(clinician_client, timezone.now() - datetime.timedelta(seconds=1))
    response = clinician_client.get("/patients/")
    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_an_anonymous_visit_writes_no_session(client):
    assert client.get("/login/").status_code == 200
    assert Session.objects.count() == 0
