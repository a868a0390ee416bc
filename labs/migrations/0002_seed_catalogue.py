"""Seed the analyte catalogue, accepted units and default adult reference ranges.

Figures from the project's clinical background (shared/DOMAIN.md), which gathers them from Mayo Clinic
Laboratories, LOINC and the critical-limit survey of Kost (1990). They are defaults: administrators
change them in the admin, and a change to a range that has been used creates a new version.
No default ranges exist for patients under 18: their results say "no reference range".
"""

import datetime
from decimal import Decimal as D

from django.db import migrations

# code, name, LOINC, canonical unit, display decimals, plausible low, high, [(unit, factor, entry decimals)]
ANALYTES = [
    ("vitd25", "25-hydroxyvitamin D", "62292-8", "ng/mL", 1, "1", "500",
     [("ng/mL", "1", 1), ("nmol/L", "0.4006", 1)]),
    ("mg", "Magnesium", "19123-9", "mg/dL", 2, "0.2", "20",
     [("mg/dL", "1", 2), ("mmol/L", "2.431", 2), ("meq/L", "1.2153", 2)]),
    ("ca", "Calcium, total", "17861-6", "mg/dL", 1, "3", "20",
     [("mg/dL", "1", 2), ("mmol/L", "4.008", 2), ("meq/L", "2.004", 2)]),
    ("k", "Potassium", "2823-3", "mmol/L", 1, "1.0", "10",
     [("mmol/L", "1", 2), ("meq/L", "1", 2)]),
    ("ck", "Creatine kinase", "2157-6", "U/L", 0, "1", "1000000",
     [("U/L", "1", 0), ("ukat/L", "60", 2)]),
    ("carn_free", "Carnitine, free", "14286-9", "umol/L", 0, "1", "300",
     [("umol/L", "1", 1), ("nmol/mL", "1", 1)]),
    ("carn_total", "Carnitine, total", "14288-5", "umol/L", 0, "2", "400",
     [("umol/L", "1", 1), ("nmol/mL", "1", 1)]),
    ("alb", "Albumin", "1751-7", "g/dL", 1, "1", "6.5",
     [("g/dL", "1", 1), ("g/L", "0.1", 0)]),
    ("vite", "Vitamin E (alpha-tocopherol)", "1823-4", "mg/L", 1, "0.5", "100",
     [("mg/L", "1", 1), ("umol/L", "0.4307", 1)]),
]

MAYO = "Mayo Clinic Laboratories adult reference interval"
KOST = "critical limits: Kost 1990 survey means"
# code, sex ("" any), age min, age max, normal low, high, critical low, high, source
RANGES = [
    ("vitd25", "", 18, None, "20", "80", None, None,
     "Mayo Clinic Laboratories decision values; IOM 2011 (≥ 20 ng/mL sufficient). No standard critical limit."),
    ("mg", "", 18, None, "1.70", "2.60", "1.0", "4.9", f"{MAYO}; {KOST}"),
    ("ca", "", 18, 60, "8.6", "10.0", "6.6", "12.9", f"{MAYO} (age 18–59); {KOST}"),
    ("ca", "", 60, None, "8.8", "10.2", "6.6", "12.9", f"{MAYO} (age 60 and over); {KOST}"),
    ("k", "", 18, None, "3.5", "5.2", "2.8", "6.2", f"Serum 3.5–5.2 (Mayo plasma 3.6–5.2; Australasian harmonised); {KOST}"),
    ("ck", "male", 18, None, "39", "308", None, None, f"{MAYO}, male. No standard critical limit."),
    ("ck", "female", 18, None, "26", "192", None, None, f"{MAYO}, female. No standard critical limit."),
    ("carn_free", "", 18, None, "25", "54", None, None, f"{MAYO} (≥ 18 y)"),
    ("carn_total", "", 18, None, "34", "78", None, None, f"{MAYO} (≥ 18 y)"),
    ("alb", "", 18, None, "3.5", "5.0", None, None, "Common adult interval; verify against the local lab"),
    ("vite", "", 18, None, "5.5", "17.0", None, None, f"{MAYO} (≥ 18 y); deficiency < 5 mg/L (Quest)"),
]

EFFECTIVE_FROM = datetime.date(2000, 1, 1)


def dec(value):
    return None if value is None else D(value)


def seed(apps, schema_editor):
    Analyte = apps.get_model("labs", "Analyte")
    AnalyteUnit = apps.get_model("labs", "AnalyteUnit")
    ReferenceRange = apps.get_model("labs", "ReferenceRange")
    analytes = {}
    for order, (code, name, loinc, unit, places, low, high, units) in enumerate(ANALYTES):
        analytes[code], _ = Analyte.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "loinc": loinc,
                "canonical_unit": unit,
                "display_decimal_places": places,
                "plausible_low": D(low),
                "plausible_high": D(high),
                "sort_order": order * 10,
            },
        )
        for accepted, factor, entry_places in units:
            AnalyteUnit.objects.update_or_create(
                analyte=analytes[code], unit=accepted, defaults={"factor": D(factor), "decimal_places": entry_places}
            )
    for code, sex, age_min, age_max, low, high, crit_low, crit_high, source in RANGES:
        ReferenceRange.objects.update_or_create(
            analyte=analytes[code],
            sex=sex,
            age_min_years=age_min,
            age_max_years=age_max,
            effective_from=EFFECTIVE_FROM,
            defaults={
                "normal_low": dec(low),
                "normal_high": dec(high),
                "critical_low": dec(crit_low),
                "critical_high": dec(crit_high),
                "source": source,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("labs", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
