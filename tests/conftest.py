"""Shared fixtures: the three people every view test covers (healthchecks' alice, bob and charlie):
`clinician`, `administrator` and the anonymous `client`; plus factories as fixtures."""

import datetime
import io
import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from guidance.services import record_results
from labs.models import Analyte
from labs.services import Entry, record_panel
from patients.roles import ADMINISTRATOR, CLINICIAN

from .factories import PatientFactory, UserFactory


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
    """record(patient, {"k": ("3.1", "mmol/L")}, collected_at=...) saves a panel through the labs service."""

    def record_(patient, values, *, collected_at=None, by=None, **panel_fields):
        entries = [
            Entry(
                analyte=analytes[code],
                value=Decimal(value),
                unit=analytes[code].units.get(unit=unit),
            )
            for code, (value, unit) in values.items()
        ]
        return record_panel(
            patient=patient,
            collected_at=collected_at or timezone.now() - datetime.timedelta(hours=1),
            entries=entries,
            by=by or clinician,
            **panel_fields,
        )

    return record_


@pytest.fixture
def save(analytes, clinician):
    """save(patient, {"k": "3.1"}) records values in each analyte's canonical unit through guidance's
    record_results, so findings are opened as they are when a clinician saves results."""

    def save_(patient, values, *, collected_at=None, by=None):
        entries = [
            Entry(
                analyte=analytes[code],
                value=Decimal(value),
                unit=analytes[code].units.get(unit=analytes[code].canonical_unit),
            )
            for code, value in values.items()
        ]
        return record_results(
            patient=patient,
            collected_at=collected_at or timezone.now() - datetime.timedelta(days=1),
            entries=entries,
            by=by or clinician,
        )

    return save_
