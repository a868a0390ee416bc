"""Import the NHANES 2017–2018 biochemistry profile as a cohort through the CSV import, and print the
share of each flag it produces (a documented script, not a pass/fail test).

    .venv/bin/python benchmarks/nhanes_cohort.py [path/to/NHANES_2017-2018_BIOPRO_J.XPT]

It uses a throwaway SQLite database unless DATABASE_URL names an EMPTY database of yours. The file
(shared/samples/nhanes/, read with pandas, a development requirement) holds total calcium (LBXSCA,
mg/dL), potassium (LBXSKSI, mmol/L) and creatine kinase (LBXSCK, U/L) for each participant (SEQN), but
not their age or sex (those are in NHANES' DEMO_J file). So every participant is registered as born
1 Jan 1970 (47 or 48 on the collection date, the adult 18–59 band), and the cohort is imported twice,
once with everyone female and once male, because creatine kinase's reference range depends on sex;
calcium's and potassium's do not. The collection time is 1 Jan 2018, 09:00 UTC for everyone.

Each run writes the values as rows of Myolab's own results CSV (exports.csv_export.HEADER) and imports
them with interfaces.csv_import, the code behind the upload page: one panel per participant, recorded
through guidance.services.record_results, so findings open as for typed results.
"""

import collections
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
if "DATABASE_URL" not in os.environ:
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='myolab-nhanes-')}/nhanes.sqlite3"

import django  # noqa: E402

django.setup()

import pandas  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

from core.spreadsheet import csv_lines  # noqa: E402
from exports.csv_export import FLAG_LABELS, HEADER  # noqa: E402
from interfaces.csv_import import import_csv, plan_csv  # noqa: E402
from labs.models import Result  # noqa: E402
from patients.models import Patient  # noqa: E402

DEFAULT_FILE = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "nhanes" / "NHANES_2017-2018_BIOPRO_J.XPT"
)
COLLECTED_AT = "2018-01-01T09:00:00+00:00"
BORN = datetime.date(1970, 1, 1)
# NHANES column, Myolab analyte name, LOINC, unit as entered
COLUMNS = [
    ("LBXSCA", "Calcium, total", "17861-6", "mg/dL"),
    ("LBXSKSI", "Potassium", "2823-3", "mmol/L"),
    ("LBXSCK", "Creatine kinase", "2157-6", "U/L"),
]


def cohort_csv(frame, prefix: str) -> str:
    rows = []
    for record in frame.itertuples(index=False):
        seqn = int(record.SEQN)
        for column, analyte, loinc, unit in COLUMNS:
            value = getattr(record, column)
            if pandas.isna(value):
                continue
            cells = dict.fromkeys(HEADER, "")
            cells.update(
                {
                    "patient MRN": f"{prefix}-{seqn}",
                    "collected at": COLLECTED_AT,
                    "analyte": analyte,
                    "LOINC": loinc,
                    "value as entered": f"{value:g}",
                    "unit as entered": unit,
                    "status": "Final",
                    "lab": "NHANES 2017-2018",
                    "accession number": f"{prefix}-{seqn}",
                }
            )
            rows.append([cells[name] for name in HEADER])
    return "".join(csv_lines(HEADER, rows))


def main(path: Path) -> None:
    call_command("migrate", verbosity=0)
    by = User.objects.create(username="nhanes-import")
    frame = pandas.read_sas(path, format="xport")
    print(f"{path.name}: {len(frame)} participants")
    for sex in (Patient.Sex.FEMALE, Patient.Sex.MALE):
        prefix = f"NH{sex[0].upper()}"
        Patient.objects.bulk_create(
            Patient(
                mrn=f"{prefix}-{int(seqn)}",
                given_name="NHANES",
                family_name=str(int(seqn)),
                date_of_birth=BORN,
                sex=sex,
                created_by=by,
                updated_by=by,
            )
            for seqn in frame.SEQN
        )
        started = time.perf_counter()
        plan = plan_csv(cohort_csv(frame, prefix))
        panels, results, refused = import_csv(plan, by=by)
        seconds = time.perf_counter() - started
        print(
            f"\nEveryone {sex}: {results} results in {panels} panels in {seconds:.0f} s "
            f"({results / seconds:.0f} results/s); {len(plan.errors)} rows in error, {len(refused)} panels refused"
        )
        for row in plan.errors[:5]:
            print(f"  line {row.number}: {row.error}")
        imported = Result.objects.filter(patient__mrn__startswith=f"{prefix}-")
        for _column, analyte, _loinc, _unit in COLUMNS:
            flags = collections.Counter(imported.filter(analyte__name=analyte).values_list("flag", flat=True))
            total = sum(flags.values())
            shares = ", ".join(
                f"{FLAG_LABELS[flag].lower()} {count / total:.1%} ({count})" for flag, count in flags.most_common()
            )
            print(f"  {analyte} (n={total}): {shares}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FILE)
