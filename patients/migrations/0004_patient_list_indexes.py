from django.conf import settings
from django.db import migrations, models

# PatientQuerySet.search filters with icontains, which PostgreSQL runs as UPPER(column) LIKE '%WORD%':
# a b-tree cannot serve a leading wildcard, so every search scanned all patients (27 ms at 50,000).
# Trigram (pg_trgm) GIN indexes on the same UPPER() expressions serve it (3 ms). PostgreSQL only:
# SQLite has no pg_trgm, and its searches stay scans.
SEARCH_COLUMNS = ["mrn", "given_name", "family_name"]


def create_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it without being
    # a superuser. See the README's production notes.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in SEARCH_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS patient_search_{column}_trgm_idx "
            f"ON patients_patient USING gin (UPPER({column}) gin_trgm_ops)"
        )


def drop_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCH_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS patient_search_{column}_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0003_patientexport"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="patient",
            name="patient_name_idx",
        ),
        # The patient list by name (active patients only): see Patient.Meta.indexes.
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                condition=models.Q(("is_active", True)),
                fields=["family_name", "given_name", "id"],
                name="patient_list_by_name_idx",
            ),
        ),
        migrations.RunPython(create_search_indexes, drop_search_indexes, elidable=False),
    ]
