"""Shared fixtures: the three people every view test covers (healthchecks' alice, bob and charlie):
`clinician`, `administrator` and the anonymous `client`; plus factories as fixtures."""

import io
import time

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from guidance.models import Finding
from labs.models import Analyte
from patients.roles import ADMINISTRATOR, CLINICIAN

from . import recording
from .factories import PatientFactory, UserFactory


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database as an installation has it after `make run`: migrated, then the shipped guidance
    content loaded (guidance/content/), once per session; each test's transaction rolls back its changes."""
    with django_db_blocker.unblock():
        call_command("load_guidance_content", stdout=io.StringIO())
        # The browser tests' transactional database is emptied after each test and restored from a
        # snapshot Django took right after migrating (TransactionTestCase's serialized rollback): take it
        # again, so it holds the content too.
        for connection in connections.all():
            if getattr(connection, "_test_serialized_contents", None) is not None:
                connection._test_serialized_contents = connection.creation.serialize_db_to_string()


@pytest.fixture
def roles(db):
    call_command("setup_roles", stdout=io.StringIO())
    return {group.name: group for group in Group.objects.all()}


class SignedInClient(Client):
    """A test client whose force_login signs in with both factors: when the user has an authenticator app,
    the session is marked verified with it, as the code page does (tests/test_two_factor.py tests that page)."""

    def force_login(self, user, backend=None):
        super().force_login(user, backend)
        app = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if app is not None:
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = app.persistent_id
            session.save()


@pytest.fixture
def client():
    return SignedInClient()


def enrol_authenticator_app(user):
    """Give the user a confirmed authenticator app with a random key (django_otp.oath.totp computes its codes)."""
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def app_code(device):
    """The code the user's authenticator app shows now; or, if now's code was used already (each is
    accepted once), the next 30 seconds' code, which the server accepts too."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    first_unused = device.t0 + (device.last_t + 1 - device.drift) * device.step
    totp.time = max(time.time(), first_unused)
    return f"{totp.token():06d}"


@pytest.fixture
def clinician(roles):
    user = UserFactory(username="alice", first_name="Alice", last_name="Clinician")
    user.groups.add(roles[CLINICIAN])
    return user


@pytest.fixture
def other_clinician(roles):
    user = UserFactory(username="carol", first_name="Carol", last_name="Clinician")
    user.groups.add(roles[CLINICIAN])
    return user


@pytest.fixture
def administrator(roles):
    """Bob, staff and in the Administrator role, with the authenticator app every administrator must have."""
    user = UserFactory(username="bob", first_name="Bob", last_name="Admin", is_staff=True)
    user.groups.add(roles[ADMINISTRATOR])
    enrol_authenticator_app(user)
    return user


@pytest.fixture
def clinician_client(client, clinician):
    client.force_login(clinician)
    return client


@pytest.fixture
def admin_client_(client, administrator):
    """A client logged in as a member of the Administrator role (not a superuser)."""
    client.force_login(administrator)
    return client


@pytest.fixture
def patient(clinician):
    return PatientFactory(created_by=clinician)


@pytest.fixture
def patient_factory(db):
    return PatientFactory


@pytest.fixture
def analytes(db):
    """The seeded catalogue (migration labs 0002), by code: analytes["k"] is potassium."""
    return {analyte.code: analyte for analyte in Analyte.objects.prefetch_related("units")}


@pytest.fixture
def record(analytes, clinician):
    """record(patient, {"k": "3.1"} or {"k": ("3.1", "mmol/L")}, at=..., by=...): tests.recording.record,
    by the clinician unless `by` says otherwise."""

    def record_(patient, values, *, by=None, **kwargs):
        return recording.record(patient, values, by=by or clinician, **kwargs)

    return record_


@pytest.fixture
def low_potassium(record, patient):
    """The patient's low potassium finding (3.1 mmol/L)."""
    record(patient, {"k": "3.1"})
    return Finding.objects.get(rule__code="potassium-low")


def page_section(client, path, *, starts_at, ends_at):
    """The text of the page at `path` from `starts_at` to the next `ends_at`, its whitespace squeezed
    to single spaces, after checking the page answered 200."""
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index(starts_at)
    return " ".join(html[start : html.index(ends_at, start)].split())
