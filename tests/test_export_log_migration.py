"""Moving the export log from patients to exports (patients 0006, exports 0001) keeps every logged export
and the permissions roles hold on it: an installation's audit log is never lost or re-created empty."""

import datetime

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("patients", "0005_search_indexes_without_pending_list"), ("exports", None)]
AFTER = [("patients", "0006_move_patientexport_to_exports"), ("exports", "0001_initial")]


def migrate(targets, *, state_at):
    """Migrate to `targets`; the models as they are at the migration `state_at`."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(state_at).apps


@pytest.fixture
def latest_schema_after():
    """Stepping back to patients 0005 also unapplies the migrations of apps that depend on a later one
    (interfaces): migrate everything forward again afterwards, as the tests that follow expect."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_export_log_and_its_permissions_survive_the_move(django_db_serialized_rollback, latest_schema_after):
    old = migrate(BEFORE, state_at=BEFORE[0])
    Patient = old.get_model("patients", "Patient")
    OldExport = old.get_model("patients", "PatientExport")

    user = old.get_model("auth", "User").objects.create(username="auditor")
    patient = Patient.objects.create(
        mrn="M-1",
        given_name="Ada",
        family_name="Byron",
        date_of_birth=datetime.date(1970, 1, 1),
        sex="female",
        created_by=user,
        updated_by=user,
    )
    at = datetime.datetime(2026, 5, 1, 9, tzinfo=datetime.UTC)
    OldExport.objects.create(patient=patient, user=user, format="fhir", created_at=at, detail="")
    OldExport.objects.create(patient=None, user=user, format="cohort-csv", created_at=at, detail="2026")
    # Unapplying exports 0001 gave the content type (and its permissions) back to patients.
    permission = Permission.objects.get(content_type__app_label="patients", codename="export_cohort")
    Group.objects.create(name="Auditors").permissions.add(permission)

    new = migrate(AFTER, state_at=AFTER[1])

    NewExport = new.get_model("exports", "PatientExport")
    rows = NewExport.objects.order_by("id").values_list(
        "patient__mrn", "user__username", "format", "created_at", "detail"
    )
    assert list(rows) == [("M-1", "auditor", "fhir", at, ""), (None, "auditor", "cohort-csv", at, "2026")]
    moved = Group.objects.get(name="Auditors").permissions.get()
    assert (moved.codename, moved.content_type.app_label, moved.content_type.model) == (
        "export_cohort",
        "exports",
        "patientexport",
    )
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    assert "exports_patientexport" in tables and "patients_patientexport" not in tables
