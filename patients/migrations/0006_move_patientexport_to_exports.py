# The export log moved to the exports app. Its table is renamed, not re-created, so every logged export
# is kept; the exports app's 0001 takes the model over in the migration state.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0005_search_indexes_without_pending_list'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.AlterModelTable('PatientExport', 'exports_patientexport')],
            state_operations=[migrations.DeleteModel('PatientExport')],
        ),
    ]
