"""Shared fixtures: the three people every view test covers (healthchecks' alice, bob and charlie):
`clinician`, `administrator` and the anonymous `client`; plus factories as fixtures."""

import datetime
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from guidance.services import record_results
from labs.models import Analyte
from labs.services import Entry, record_panel
from patients.roles import ADMINISTRATOR, CLINICIAN

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
    user = UserFactory(username="bob", first_name="Bob", last_name="Admin", is_staff=True)
    user.groups.add(roles[ADMINISTRATOR])
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
