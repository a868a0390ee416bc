# Takes over the export log from the patients app (patients 0006 renamed its table): the model enters this
# app's state without touching the database, and its content type moves with it, so the permissions that
# roles hold (view_patientexport, export_cohort) keep their rows.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, *, source, target):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    if not ContentType.objects.filter(app_label=target, model='patientexport').exists():
        ContentType.objects.filter(app_label=source, model='patientexport').update(app_label=target)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('patients', '0006_move_patientexport_to_exports'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='PatientExport',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('format', models.CharField(choices=[('summary', 'Summary (print view)'), ('summary-pdf', 'Summary (PDF)'), ('results-csv', 'Results (CSV)'), ('fhir', 'FHIR R4 bundle (JSON)'), ('cohort-csv', 'Cohort results (CSV)')], max_length=20)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ('detail', models.CharField(blank=True, help_text="What was exported, e.g. a cohort's date range.", max_length=200)),
                        ('patient', models.ForeignKey(blank=True, help_text='Empty for a cohort export, which spans patients.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='exports', to='patients.patient')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'ordering': ['-created_at', '-id'],
                        'permissions': [('export_cohort', "Can export a cohort CSV of all patients' results")],
                        'indexes': [models.Index(fields=['-created_at'], name='patient_export_created_idx')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('patient__isnull', False), ('format', 'cohort-csv'), _connector='OR'), name='patient_export_names_patient', violation_error_message='Only a cohort export may leave the patient empty.')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(
            lambda apps, schema_editor: move_content_type(apps, schema_editor, source='patients', target='exports'),
            lambda apps, schema_editor: move_content_type(apps, schema_editor, source='exports', target='patients'),
        ),
    ]
