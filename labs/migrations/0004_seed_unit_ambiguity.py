"""Seed the two unit ambiguities from shared/DOMAIN.md: the entry form asks the clinician to confirm the unit.

Magnesium 1.0–1.2 reads as well in mg/dL as in mmol/L; a 25(OH)D above 150 "ng/mL" may really be nmol/L
(ng/mL is entered with one decimal, so 150.1 is the first value above 150).
"""

from decimal import Decimal as D

from django.db import migrations

# analyte code, unit, ambiguous from, up to (None: open), may really be
RULES = [
    ("mg", "mg/dL", "1.0", "1.2", "mmol/L"),
    ("mg", "mmol/L", "1.0", "1.2", "mg/dL"),
    ("vitd25", "ng/mL", "150.1", None, "nmol/L"),
]


def seed(apps, schema_editor):
    AnalyteUnit = apps.get_model("labs", "AnalyteUnit")
    for code, unit, low, high, other in RULES:
        AnalyteUnit.objects.filter(analyte__code=code, unit=unit).update(
            ambiguous_low=D(low), ambiguous_high=None if high is None else D(high), ambiguous_with=other
        )


class Migration(migrations.Migration):
    dependencies = [("labs", "0003_unit_ambiguity")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
