"""Generate realistic synthetic patients, lab results, findings and follow-up plans for load tests.

    manage.py generate_data --patients 50000 --results-per-patient 40 --seed 1 --force

Patients have plausible ages (mostly adults 18–95, a few children, who have no reference range), sexes
and contributing factors; panels are spread over several years; values follow per-analyte
distributions (log-normal for CK and vitamin D) with about one result in eight abnormal and a few
critical, more often where a contributing factor explains it (diuretics → low potassium and magnesium,
statins → raised CK…). Every result is interpreted by labs.services.interpret_result on the reference
ranges (loaded once), and every finding is the one guidance.rules.match_rules() calls for, built by
guidance.findings.build_finding: the functions the services use, so a change to the rules changes the
generated data too. The findings are then reviewed as far as a clinic would have got by now.

The same seed gives the same rows. Each chunk of patients is written in one transaction, with COPY on
PostgreSQL and bulk_create elsewhere, so a stopped run leaves whole patients. Bulk writes skip
django-simple-history: synthetic rows have no change history, only who and when.
"""

import datetime
import io
import math
import random
import time
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from guidance.findings import build_finding
from guidance.models import ActionType, Finding, FollowUpPlan, Rule
from guidance.rules import match_rules
from labs.interpretation import to_canonical
from labs.models import Analyte, Panel, Result
from labs.services import interpret_result
from patients.models import ContributingFactor, Patient

CHUNK_PATIENTS = 500
BATCH_SIZE = 2000
YEARS_OF_HISTORY = 5

GIVEN_NAMES = (  # noqa: SIM905 - a dozen names a line reads better than one a line
    "Ada Alan Amara Anna Ben Carla Chen Dan Dmitri Elena Emma Farah Femi Grace Hana Hugo Ines Isaac "
    "Jamal Jana Joan John Kai Kemal Lara Leon Lucia Maja Marco Maria Mei Nadia Nils Noor Olga Omar Pablo "
    "Petra Priya Rahul Rosa Ruth Sam Sara Sean Sofia Tariq Thomas Uma Vera Wei Yara Yusuf Zoe"
).split()
FAMILY_NAMES = (  # noqa: SIM905 - a dozen names a line reads better than one a line
    "Abbott Adeyemi Bauer Brennan Castillo Chowdhury Cohen Dubois Duarte Eriksen Evans Fischer Fontaine "
    "Garcia Gupta Hale Hansen Horvat Ibrahim Ivanova Jansen Jones Kaur Keller Kowalski Larsen Lopez "
    "Mahmoud Martin Moreau Murphy Nakamura Nguyen Novak Okafor Olsen Patel Petrov Quinn Rahman Ricci "
    "Rossi Santos Schmidt Silva Singh Smith Sousa Tanaka Taylor Varga Walsh Weber Williams Wong Yilmaz "
    "Zhang Zielinski"
).split()
SEXES = [(Patient.Sex.FEMALE, 52), (Patient.Sex.MALE, 46), (Patient.Sex.OTHER, 1), (Patient.Sex.UNKNOWN, 1)]

# Panels as clinics order them, with how often each is ordered.
PANELS = [
    (("vitd25", "mg", "ca", "k", "ck", "alb"), 40),  # muscle symptoms screen
    (("mg", "ca", "k", "alb"), 25),  # electrolytes
    (("ck",), 10),  # CK recheck
    (("carn_free", "carn_total"), 10),
    (("vitd25", "vite"), 10),
    (("vitd25", "mg", "ca", "k", "ck", "carn_free", "carn_total", "alb", "vite"), 5),  # full myopathy work-up
]
LABS = ["Northgate Pathology", "St Brigid's Hospital Laboratory", "Riverside Clinical Labs"]

# Share of patients with each contributing factor (older age: of patients 65 and over).
FACTOR_SHARE = {
    "limited-sun": 0.20,
    "diuretic": 0.15,
    "statin": 0.25,
    "malabsorption": 0.04,
    "ckd": 0.08,
    "heavy-sweating": 0.06,
}
OLDER_AGE = 65


@dataclass(frozen=True)
class ValueModel:
    """How one analyte's values (canonical unit) are drawn. `typical` is ("normal", mean, sd) or
    ("lognormal", median, sigma) and lets a few values stray just outside the range, as real ones do;
    the low and high tails are clearly abnormal values (uniform between two limits) drawn at their share;
    critical values (below/above the critical limits) at `critical_share`, split low:high as given."""

    typical: tuple
    low: tuple[float, float, float]  # share, from, to
    high: tuple[float, float, float]
    critical_share: float = 0.0
    critical_low: tuple[float, float] | None = None
    critical_high: tuple[float, float] | None = None


VALUE_MODELS = {
    "vitd25": ValueModel(("lognormal", 30, 0.35), low=(0.08, 5, 19.9), high=(0.01, 81, 140)),
    "mg": ValueModel(
        ("normal", 2.1, 0.17),
        low=(0.07, 1.05, 1.69),
        high=(0.01, 2.61, 3.5),
        critical_share=0.004,
        critical_low=(0.6, 0.99),
        critical_high=(5.0, 7.0),
    ),
    "ca": ValueModel(
        ("normal", 9.35, 0.35),
        low=(0.04, 7.0, 8.5),
        high=(0.02, 10.3, 12.0),
        critical_share=0.003,
        critical_low=(5.0, 6.5),
        critical_high=(13.0, 15.0),
    ),
    "k": ValueModel(
        ("normal", 4.3, 0.33),
        low=(0.06, 2.9, 3.45),
        high=(0.03, 5.3, 6.1),
        critical_share=0.004,
        critical_low=(2.0, 2.7),
        critical_high=(6.3, 7.5),
    ),
    "ck": ValueModel(("lognormal", 110, 0.35), low=(0.005, 10, 25), high=(0.06, 320, 20000)),
    "carn_free": ValueModel(("normal", 39, 6), low=(0.06, 10, 24), high=(0.005, 55, 70)),
    "carn_total": ValueModel(("normal", 55, 9), low=(0.06, 15, 33), high=(0.005, 79, 95)),
    "alb": ValueModel(("normal", 4.25, 0.28), low=(0.05, 2.3, 3.45), high=(0.005, 5.05, 5.4)),
    "vite": ValueModel(("normal", 11, 2.4), low=(0.03, 2.5, 5.4), high=(0.02, 17.5, 30)),
}
MALE_CK_MEDIAN = 140
# A contributing factor makes some abnormal tails more likely: (factor, analyte, side) → multiplier.
FACTOR_EFFECTS = {
    ("limited-sun", "vitd25", "low"): 2.5,
    ("malabsorption", "vitd25", "low"): 3,
    ("malabsorption", "vite", "low"): 4,
    ("diuretic", "k", "low"): 3,
    ("diuretic", "mg", "low"): 3,
    ("statin", "ck", "high"): 3,
    ("ckd", "k", "high"): 4,
    ("ckd", "carn_free", "low"): 3,
    ("ckd", "carn_total", "low"): 3,
    ("heavy-sweating", "mg", "low"): 2,
    ("heavy-sweating", "k", "low"): 2,
    ("older-age", "vitd25", "low"): 1.5,
}
# Most results arrive in the canonical unit; some labs report in another accepted unit.
OTHER_UNIT_SHARE = 0.1
CORRECTED_SHARE = 0.005
ENTERED_IN_ERROR_SHARE = 0.002


class Command(BaseCommand):
    help = "Add synthetic patients with lab results (deterministic for a seed). Never on a real clinic's database."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, required=True, help="How many patients to add.")
        parser.add_argument("--results-per-patient", type=int, default=40, help="Results per patient (default 40).")
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same data (default 1).")
        parser.add_argument(
            "--long-history",
            type=int,
            default=0,
            metavar="N",
            help="Also add one patient with N results over ten years (MRN S<seed>-LONG), as benchmarks need.",
        )
        parser.add_argument(
            "--end-date",
            type=datetime.date.fromisoformat,
            default=None,
            help="The day the data ends (YYYY-MM-DD, default today): nothing is dated later. Fix it to get the "
            "same dates on another day.",
        )
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (benchmark databases only).")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "generate_data adds made-up patients: it runs with DEBUG on, or with --force on a database "
                "that holds no real patients."
            )
        if options["patients"] < 0 or options["results_per_patient"] < 1 or options["long_history"] < 0:
            raise CommandError("--patients and --long-history must be 0 or more, --results-per-patient 1 or more.")
        seed = options["seed"]
        if Patient.objects.filter(mrn__istartswith=f"S{seed}-").exists():
            raise CommandError(
                f"Synthetic patients with seed {seed} already exist (MRN S{seed}-…); use another --seed."
            )

        generator = Generator(seed=seed, end=options["end_date"] or timezone.localdate())
        started, rows = time.monotonic(), 0
        total = options["patients"]
        for first in range(0, total, CHUNK_PATIENTS):
            numbers = range(first, min(first + CHUNK_PATIENTS, total))
            plans = [generator.patient(f"S{seed}-{n:06d}", options["results_per_patient"]) for n in numbers]
            rows += write(plans)
            self.progress(first + len(numbers), total, rows, started)
        if options["long_history"]:
            rows += write([generator.patient(f"S{seed}-LONG", options["long_history"], years=10, adult=True)])
            self.progress(total, total, rows, started)
        if connection.vendor == "postgresql":
            # VACUUM also sets the visibility map (index-only scans); it cannot run inside a transaction.
            statement = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
            self.stdout.write(f"Updating the query planner's statistics ({statement})…")
            with connection.cursor() as cursor:
                cursor.execute(statement)
        seconds = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {rows:,} rows in {seconds:.1f} s ({rows / max(seconds, 0.001):,.0f} rows/second)."
            )
        )

    def progress(self, done, total, rows, started):
        seconds = time.monotonic() - started
        self.stdout.write(
            f"{done:,}/{total:,} patients, {rows:,} rows, {seconds:.0f} s, {rows / max(seconds, 0.001):,.0f} rows/s"
        )


@dataclass
class Review:
    """A finding as guidance.services would have opened it (its results not saved yet), and its plan if any."""

    finding: Finding
    plan: FollowUpPlan | None


@dataclass
class PanelPlan:
    panel: Panel
    results: list[Result]
    reviews: list[Review]


@dataclass
class PatientPlan:
    """One patient and everything recorded for them, before it is written."""

    patient: Patient
    factors: list[ContributingFactor]
    panels: list[PanelPlan]


class Generator:
    def __init__(self, *, seed: int, end: datetime.date):
        self.random = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
        self.end = end
        # Nothing is dated after the day before `end`: the last samples are collected five days before,
        # entered within three days and reviewed within a day, so no row is in the future.
        self.last_collection = end - datetime.timedelta(days=5)
        self.cutoff = timezone.make_aware(
            datetime.datetime.combine(end - datetime.timedelta(days=1), datetime.time(18))
        )
        self.by = synthetic_user()
        self.factors = {factor.code: factor for factor in ContributingFactor.objects.all()}
        # The catalogue and every range version, loaded once; interpret_result() reads the prefetched ranges.
        self.analytes = {a.code: a for a in Analyte.objects.prefetch_related("ranges", "units")}
        self.units = {
            code: (
                next(u for u in analyte.units.all() if u.unit == analyte.canonical_unit),
                [u for u in analyte.units.all() if u.unit != analyte.canonical_unit and u.active],
            )
            for code, analyte in self.analytes.items()
        }
        self.rules = list(Rule.objects.filter(active=True).select_related("topic").prefetch_related("relevant_factors"))
        self.panel_number = 0

    def patient(self, mrn: str, results: int, *, years: int = YEARS_OF_HISTORY, adult: bool = False) -> PatientPlan:
        rnd = self.random
        if adult:  # an adult for every one of the `years` of results (a child's results have no range)
            age = rnd.randint(19 + years, 95)
        else:
            age = rnd.randint(18, 95) if rnd.random() > 0.03 else rnd.randint(2, 17)
        if age > 40 and rnd.random() < 0.3:  # clinics for muscle symptoms see more older patients
            age = rnd.randint(60, 95)
        born = self.end - datetime.timedelta(days=age * 365 + rnd.randint(0, 364))
        sex = rnd.choices([s for s, _ in SEXES], weights=[w for _, w in SEXES])[0]
        codes = [code for code, share in FACTOR_SHARE.items() if rnd.random() < share and code in self.factors]
        if age >= OLDER_AGE and rnd.random() < 0.7 and "older-age" in self.factors:
            codes.append("older-age")
        days = sorted(rnd.randint(0, years * 365) for _ in range(max(1, math.ceil(results / 4))))
        patient = Patient(
            mrn=mrn,
            given_name=rnd.choice(GIVEN_NAMES),
            family_name=rnd.choice(FAMILY_NAMES),
            date_of_birth=born,
            sex=sex,
            created_by=self.by,
            updated_by=self.by,
        )
        panels, left = [], results
        for day in days:
            if left == 0:
                break
            collected = self.last_collection - datetime.timedelta(days=years * 365 - day)
            analytes = rnd.choices([p for p, _ in PANELS], weights=[w for _, w in PANELS])[0][:left]
            panels.append(self.panel(patient, codes, collected, analytes))
            left -= len(analytes)
        while left:  # short of results: top up with CK rechecks on the last day
            panels.append(self.panel(patient, codes, self.last_collection, ("ck",)))
            left -= 1
        first_collected = panels[0].panel.collected_at
        patient.created_at = patient.updated_at = first_collected - datetime.timedelta(days=rnd.randint(0, 60))
        patient.last_activity_at = max(plan.panel.entered_at for plan in panels)
        return PatientPlan(patient, [self.factors[c] for c in codes], panels)

    def panel(self, patient, factor_codes, day, codes) -> PanelPlan:
        rnd = self.random
        naive = datetime.datetime.combine(day, datetime.time(rnd.randint(8, 16), rnd.randint(0, 59)))
        collected = timezone.make_aware(naive)
        entered = collected + datetime.timedelta(minutes=rnd.randint(60, 3 * 24 * 60))
        imported = rnd.random() < 0.6
        self.panel_number += 1
        panel = Panel(
            patient=patient,
            collected_at=collected,
            source=Panel.Source.IMPORT if imported else Panel.Source.MANUAL,
            lab_name=rnd.choice(LABS),
            accession_number=f"{patient.mrn}-{self.panel_number:08d}" if imported else "",
            entered_at=entered,
            entered_by=self.by,
        )
        results = [self.result(patient, factor_codes, collected, entered, code) for code in codes]
        return PanelPlan(panel, results, self.reviews(panel, results, factor_codes))

    def reviews(self, panel, results, factor_codes) -> list[Review]:
        """The findings guidance.services would open for the panel, each reviewed as far as a clinic
        would have got by now: recent ones mostly open, older ones decided, planned or resolved."""
        factor_names = {self.factors[code].pk: self.factors[code].name for code in factor_codes}
        valid = [result for result in results if result.status != Result.Status.ENTERED_IN_ERROR]
        reviews = []
        for match in match_rules(valid, self.rules):
            finding = build_finding(match, factor_names=factor_names, opened_at=panel.entered_at, panel_results=valid)
            reviews.append(Review(finding, self.review(finding, match, panel)))
        return reviews

    def review(self, finding, match, panel) -> FollowUpPlan | None:
        rnd, Status = self.random, Finding.Status
        age_days = (self.end - timezone.localdate(panel.collected_at)).days
        seen = panel.entered_at + datetime.timedelta(hours=rnd.randint(1, 24))
        chance = rnd.random()
        if (age_days <= 14 and chance < 0.7) or (age_days <= 90 and chance < 0.1):
            return None  # still awaiting review
        finding.status = Status.ACKNOWLEDGED
        finding.acknowledged_at, finding.acknowledged_by_id = seen, self.by.pk
        if finding.critical:
            finding.acknowledgement_comment = "Patient telephoned and advised; urgent repeat arranged."
        if age_days <= 14 or (age_days <= 90 and chance < 0.25):
            return None
        finding.decided_at, finding.decided_by_id = seen, self.by.pk
        if chance < (0.5 if age_days <= 90 else 0.3):
            finding.status = Status.NO_ACTION
            finding.no_action_reason = "Known and stable; already being managed."
            return None
        if age_days > 90 and chance < 0.4:
            finding.status = Status.RESOLVED
            finding.resolved_at, finding.resolved_by_id = seen, self.by.pk
            finding.resolution_note = "Repeat result back within the reference range."
            return None
        finding.status = Status.FOLLOW_UP_PLANNED
        rule = match.rule
        action = rule.action_type if rule else ActionType.REPEAT_TEST
        days = rule.retest_days if rule and rule.retest_days is not None else 28
        plan = FollowUpPlan(
            action_type=action,
            analyte_id=match.result.analyte_id if action == ActionType.REPEAT_TEST else None,
            details="Discussed with the patient.",
            due_date=timezone.localdate(panel.collected_at) + datetime.timedelta(days=days),
            owner_id=self.by.pk,
            created_at=seen,
            created_by_id=self.by.pk,
            updated_at=seen,
            updated_by_id=self.by.pk,
        )
        if age_days > 90 and rnd.random() < 0.9:
            plan.status = FollowUpPlan.Status.DONE
            plan.outcome_note = "Done; see the later results."
            plan.closed_at = plan.updated_at = min(seen + datetime.timedelta(days=days), self.cutoff)
            plan.closed_by_id = self.by.pk
        return plan

    def result(self, patient, factor_codes, collected, entered, code) -> Result:
        rnd = self.random
        analyte = self.analytes[code]
        canonical_unit, other_units = self.units[code]
        unit = rnd.choice(other_units) if other_units and rnd.random() < OTHER_UNIT_SHARE else canonical_unit
        value_entered = self.draw(code, patient.sex, factor_codes) / unit.factor
        value_entered = value_entered.quantize(Decimal(1).scaleb(-unit.decimal_places))
        status, reason = Result.Status.FINAL, ""
        chance = rnd.random()
        if chance < ENTERED_IN_ERROR_SHARE:
            status, reason = Result.Status.ENTERED_IN_ERROR, "Haemolysed sample reported by the lab; result withdrawn."
        elif chance < ENTERED_IN_ERROR_SHARE + CORRECTED_SHARE:
            status, reason = Result.Status.CORRECTED, "Transcription error corrected against the lab report."
        # The user by id: building millions of instances through the descriptors costs minutes.
        result = Result(
            collected_at=collected,
            analyte=analyte,
            value_entered=value_entered,
            unit_entered=unit.unit,
            value=to_canonical(value_entered, unit.factor),
            status=status,
            status_reason=reason,
            updated_at=entered,
            updated_by_id=self.by.pk,
        )
        interpret_result(result, patient)
        return result

    def draw(self, code, sex, factor_codes) -> Decimal:
        """A value in the canonical unit, as a Decimal with the canonical precision."""
        rnd, model = self.random, VALUE_MODELS[code]
        boost = {side: 1.0 for side in ("low", "high")}
        for (factor, analyte, side), multiplier in FACTOR_EFFECTS.items():
            if analyte == code and factor in factor_codes:
                boost[side] *= multiplier
        chance = rnd.random()
        low_share, high_share = model.low[0] * boost["low"], model.high[0] * boost["high"]
        if chance < model.critical_share:
            sides = [s for s in (model.critical_low, model.critical_high) if s]
            value = rnd.uniform(*rnd.choices(sides, weights=[3, 1][: len(sides)])[0])
        elif chance < model.critical_share + low_share:
            value = rnd.uniform(*model.low[1:])
        elif chance < model.critical_share + low_share + high_share:
            value = (
                math.exp(rnd.uniform(math.log(model.high[1]), math.log(model.high[2])))
                if code == "ck"  # CK rises over orders of magnitude: uniform on a log scale
                else rnd.uniform(*model.high[1:])
            )
        else:
            kind, centre, spread = model.typical
            if code == "ck" and sex == Patient.Sex.MALE:
                centre = MALE_CK_MEDIAN
            value = rnd.gauss(centre, spread) if kind == "normal" else rnd.lognormvariate(math.log(centre), spread)
        analyte = self.analytes[code]
        value = min(max(value, float(analyte.plausible_low)), float(analyte.plausible_high))
        return Decimal(f"{value:.4f}")


def synthetic_user() -> User:
    """The account synthetic rows are recorded by: it cannot log in."""
    user, created = User.objects.get_or_create(
        username="synthetic-data", defaults={"first_name": "Synthetic", "last_name": "Data", "is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def write(plans: list[PatientPlan]) -> int:
    """Insert the patients, their factors, panels and results; return how many rows were written."""
    Patient.objects.bulk_create([plan.patient for plan in plans], batch_size=BATCH_SIZE)
    Through = Patient.contributing_factors.through
    links = [
        Through(patient_id=plan.patient.pk, contributingfactor_id=factor.pk)
        for plan in plans
        for factor in plan.factors
    ]
    Through.objects.bulk_create(links, batch_size=BATCH_SIZE)
    panels = [panel_plan for plan in plans for panel_plan in plan.panels]
    for plan in plans:
        for panel_plan in plan.panels:
            panel_plan.panel.patient_id = plan.patient.pk
    insert(Panel, [panel_plan.panel for panel_plan in panels])
    results = []
    for panel_plan in panels:
        for result in panel_plan.results:
            result.panel_id, result.patient_id = panel_plan.panel.pk, panel_plan.panel.patient_id
            results.append(result)
    insert(Result, results)
    reviews = [review for panel_plan in panels for review in panel_plan.reviews]
    for review in reviews:  # the findings were built before their results had ids
        finding = review.finding
        finding.patient_id, finding.result_id = finding.result.patient_id, finding.result.pk
        finding.panel_id = finding.result.panel_id
        finding.partner_result_id = finding.partner_result.pk if finding.partner_result else None
    insert(Finding, [review.finding for review in reviews])
    follow_ups = [review for review in reviews if review.plan]
    for review in follow_ups:
        review.plan.finding_id, review.plan.patient_id = review.finding.pk, review.finding.patient_id
    insert(FollowUpPlan, [review.plan for review in follow_ups])
    return len(plans) + len(links) + len(panels) + len(results) + len(reviews) + len(follow_ups)


def insert(model, objects) -> None:
    """bulk_create; on PostgreSQL, COPY, which is several times faster for millions of rows because it
    skips building SQL: the primary keys are taken from the table's sequence first."""
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects, batch_size=BATCH_SIZE)
        return
    table = model._meta.db_table
    fields = model._meta.concrete_fields
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(objects)]
        )
        for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
            obj.pk = pk
        rows = io.StringIO()
        for obj in objects:
            rows.write("\t".join(copy_text(getattr(obj, field.attname)) for field in fields))
            rows.write("\n")
        rows.seek(0)
        columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
        cursor.copy_expert(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN", rows)


def copy_text(value) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if not isinstance(value, str):
        return str(value)
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
