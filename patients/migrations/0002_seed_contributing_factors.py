"""Seed the contributing factors named in the clinical background (DOMAIN.md). Reference data,
not demo data: every installation needs them."""

from django.db import migrations

FACTORS = [
    ("limited-sun", "Limited sun exposure", "Little time outdoors, covered skin or high latitude: lowers vitamin D."),
    ("diuretic", "Diuretic use", "Loop or thiazide diuretics waste magnesium and potassium."),
    ("statin", "Statin or fibrate use", "Statins (and fibrates) can cause muscle symptoms and raise CK."),
    ("malabsorption", "Malabsorption disorder", "Fat malabsorption (pancreatic, intestinal disease) lowers vitamins D and E."),
    ("ckd", "Chronic kidney disease", "Alters calcium, magnesium and potassium; dialysis lowers carnitine."),
    ("older-age", "Older age", "Intake of magnesium and vitamin D synthesis fall with age."),
    ("heavy-sweating", "Heavy sweating or dehydration", "Electrolyte losses through sweat or poor intake."),
]


def seed(apps, schema_editor):
    ContributingFactor = apps.get_model("patients", "ContributingFactor")
    for order, (code, name, description) in enumerate(FACTORS):
        ContributingFactor.objects.update_or_create(
            code=code, defaults={"name": name, "description": description, "sort_order": order * 10}
        )


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
