from django.db import migrations

# Saving a panel updates its patient's last_activity_at, an indexed column, so every save adds entries
# to all of the patient table's indexes, the trigram ones included. GIN indexes collect new entries in a
# "pending list" until the next vacuum, and every search reads that list through: after a benchmark run
# had saved 4,000 panels (5,800 pending entries), PostgreSQL judged the indexes dearer than reading all
# 50,000 patients and searched by a 17 ms scan instead of a 3 ms index lookup. Without the pending list
# each update writes its entries into the index at once (a fraction of a millisecond per save) and
# searches stay on the index.
SEARCH_INDEXES = [f"patient_search_{column}_trgm_idx" for column in ("mrn", "given_name", "family_name")]


def fastupdate_off(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for index in SEARCH_INDEXES:
        schema_editor.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        # Move what is already pending into the index proper.
        schema_editor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])


def fastupdate_on(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for index in SEARCH_INDEXES:
        schema_editor.execute(f"ALTER INDEX {index} RESET (fastupdate)")


class Migration(migrations.Migration):
    dependencies = [("patients", "0004_patient_list_indexes")]

    operations = [migrations.RunPython(fastupdate_off, fastupdate_on, elidable=False)]
