import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from guidance.services import record_results
from labs.models import Analyte
from labs.services import Entry
from patients.models import ContributingFactor, Patient
from patients.services import register_patient

# Demo results for the demo patients of `seed_demo`, placed relative to today so they stay "last year".
# mrn: [(days ago, {analyte code: (value, unit)})]
# What a new user sees on the worklist (README, "The worklist"), tested in tests/test_guidance_demo.py:
# - superseded findings: DEMO-0001's magnesium and potassium of 180 days ago, replaced by those of 30 days
#   ago (and DEMO-0003's vitamin D and E), so only the newer report waits;
# - pattern-led items: DEMO-0001's newest report, low magnesium with low potassium (and with low
#   calcium), and the low calcium that the low albumin explains (corrected calcium normal: routine);
# - a critical potassium awaiting its call: DEMO-0004's 6.6 mmol/L, first on the worklist, to be
#   acknowledged with who was told, how, when and the read-back.
DEMO_PANELS = {
    # Older woman on a diuretic: magnesium and potassium falling together; low albumin flatters calcium.
    "DEMO-0001": [
        (330, {"mg": ("1.90", "mg/dL"), "k": ("3.9", "mmol/L"), "ca": ("9.2", "mg/dL"), "vitd25": ("28.0", "ng/mL")}),
        (180, {"mg": ("1.50", "mg/dL"), "k": ("3.2", "mmol/L"), "ca": ("8.9", "mg/dL"), "alb": ("3.9", "g/dL")}),
        (30, {"mg": ("0.62", "mmol/L"), "k": ("3.3", "meq/L"), "ca": ("2.15", "mmol/L"), "alb": ("34", "g/L")}),
    ],
    # Man on a statin: CK above 10 × the upper limit (308 U/L) with muscle pain.
    "DEMO-0002": [
        (300, {"ck": ("180", "U/L"), "k": ("4.2", "mmol/L"), "vitd25": ("32.0", "ng/mL")}),
        (60, {"ck": ("3400", "U/L"), "k": ("4.6", "mmol/L"), "ca": ("9.4", "mg/dL")}),
    ],
    # Malabsorption and little sun: low vitamin D and low vitamin E.
    "DEMO-0003": [
        (200, {"vitd25": ("22.0", "nmol/L"), "vite": ("4.1", "mg/L"), "alb": ("3.6", "g/dL"), "ca": ("8.7", "mg/dL")}),
        (
            20,
            {
                "vitd25": ("11.0", "ng/mL"),
                "vite": ("9.0", "umol/L"),
                "carn_free": ("30.0", "umol/L"),
                "carn_total": ("42.0", "umol/L"),
            },
        ),
    ],
    # Chronic kidney disease: potassium rising to a critical value; low carnitine.
    "DEMO-0004": [
        (
            250,
            {
                "k": ("5.4", "mmol/L"),
                "mg": ("2.70", "mg/dL"),
                "carn_free": ("20.0", "umol/L"),
                "carn_total": ("31.0", "umol/L"),
            },
        ),
        (15, {"k": ("6.6", "mmol/L"), "ca": ("8.7", "mg/dL"), "ck": ("250", "U/L")}),
    ],
    # Heavy sweating: normal, then low magnesium and potassium with a raised CK.
    "DEMO-0005": [
        (90, {"mg": ("1.80", "mg/dL"), "k": ("3.6", "mmol/L"), "ca": ("9.5", "mg/dL"), "vitd25": ("45.0", "ng/mL")}),
        (5, {"mg": ("1.60", "mg/dL"), "k": ("3.4", "mmol/L"), "ck": ("410", "U/L")}),
    ],
    # A child: no default reference ranges, so every result says so instead of "normal".
    "DEMO-0006": [
        (40, {"vitd25": ("18.0", "ng/mL"), "k": ("4.1", "mmol/L"), "ca": ("9.8", "mg/dL"), "ck": ("200", "U/L")}),
    ],
}


def _year_of_monthly_panels():
    """DEMO-0007: a year of monthly panels. Severe vitamin D deficiency (9 ng/mL) answering
    supplementation month by month; calcium, magnesium and potassium steady, except a potassium of 5.1
    two days after a 3.6 — both within range, but a change beyond the potassium delta rule, so a delta
    finding (a haemolysed sample is the likeliest story: the next month reads 4.0 again)."""
    vitamin_d = ["9.0", "13.5", "18.0", "22.5", "26.0", "29.5", "32.0", "34.5", "36.0", "37.5", "38.5", "39.0"]
    potassium = ["4.1", "4.3", "4.0", "4.2", "4.4", "4.1", "3.9", "4.2", "4.0", "3.6", "4.2", "4.0"]
    calcium = ["9.1", "9.2", "9.0", "9.3", "9.2", "9.1", "9.3", "9.2", "9.4", "9.2", "9.3", "9.2"]
    magnesium = ["1.90", "1.95", "1.88", "1.92", "2.00", "1.96", "1.90", "1.94", "1.98", "1.93", "1.95", "1.97"]
    panels = [
        (
            365 - 30 * month,
            {
                "vitd25": (vitamin_d[month], "ng/mL"),
                "k": (potassium[month], "mmol/L"),
                "ca": (calcium[month], "mg/dL"),
                "mg": (magnesium[month], "mg/dL"),
            },
        )
        for month in range(12)
    ]
    # Two days after the tenth panel (95 days ago, potassium 3.6).
    panels.insert(10, (93, {"k": ("5.1", "mmol/L")}))
    return panels


# Registered here (seed_demo registers DEMO-0001 to 0006) because only this command gives it meaning.
YEAR_PATIENT = {
    "mrn": "DEMO-0007",
    "given_name": "Ingrid",
    "family_name": "Larsen",
    "date_of_birth": datetime.date(1962, 11, 3),
    "sex": "female",
}
YEAR_PATIENT_FACTORS = ["limited-sun"]
DEMO_PANELS[YEAR_PATIENT["mrn"]] = _year_of_monthly_panels()
DEMO_LAB = "Myolab demo lab"


class Command(BaseCommand):
    help = "Give the demo patients a year of lab results (idempotent; refuses with DEBUG off; run seed_demo first)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo_results writes made-up clinical data: it only runs with DEBUG on.")
        clinician = User.objects.filter(username="clinician").first()
        if clinician is None:
            raise CommandError("No demo clinician: run `manage.py seed_demo` first.")
        analytes = {a.code: a for a in Analyte.objects.prefetch_related("units")}
        created = skipped = 0
        now = timezone.localtime()
        with transaction.atomic():
            if not Patient.objects.filter(mrn__iexact=YEAR_PATIENT["mrn"]).exists():
                register_patient(
                    by=clinician,
                    contributing_factors=ContributingFactor.objects.filter(code__in=YEAR_PATIENT_FACTORS),
                    **YEAR_PATIENT,
                )
            for mrn, panels in DEMO_PANELS.items():
                patient = Patient.objects.filter(mrn__iexact=mrn).first()
                if patient is None or patient.panels.exists():
                    skipped += 1
                    continue
                for number, (days_ago, values) in enumerate(panels, start=1):
                    collected = (now - datetime.timedelta(days=days_ago)).replace(hour=9, minute=15, second=0)
                    record_results(
                        patient=patient,
                        collected_at=collected,
                        entries=[
                            Entry(
                                analyte=analytes[code],
                                value=Decimal(value),
                                unit=next(u for u in analytes[code].units.all() if u.unit == unit),
                            )
                            for code, (value, unit) in values.items()
                        ],
                        by=clinician,
                        lab_name=DEMO_LAB,
                        accession_number=f"{mrn}-{number}",
                    )
                created += 1
        self.stdout.write(
            f"Demo results: {created} patients given results, {skipped} skipped (already there or missing)."
        )
