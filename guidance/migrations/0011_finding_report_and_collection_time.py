import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_from_results(apps, schema_editor):
    """Each finding's report and collection time are its result's."""
    Finding = apps.get_model("guidance", "Finding")
    Result = apps.get_model("labs", "Result")
    of_result = Result.objects.filter(pk=OuterRef("result_id"))
    Finding.objects.update(
        panel_id=Subquery(of_result.values("panel_id")[:1]),
        collected_at=Subquery(of_result.values("collected_at")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("guidance", "0010_delta_findings"),
        ("labs", "0009_delta_rules"),
    ]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="panel",
            field=models.ForeignKey(
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="findings",
                to="labs.panel",
            ),
        ),
        migrations.AddField(
            model_name="finding",
            name="collected_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.RunPython(copy_from_results, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="finding",
            name="panel",
            field=models.ForeignKey(
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="findings",
                to="labs.panel",
            ),
        ),
        migrations.AlterField(
            model_name="finding",
            name="collected_at",
            field=models.DateTimeField(editable=False),
        ),
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(
                condition=models.Q(("status__in", ["open", "acknowledged"])),
                fields=["collected_at", "panel"],
                name="finding_worklist_reports_idx",
            ),
        ),
    ]
