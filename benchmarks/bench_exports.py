"""Time every export of a patient with 1,000 results, and print the figures (not a pass/fail test).

    .venv/bin/python benchmarks/bench_exports.py              # a throwaway SQLite file
    DATABASE_URL=postgres://… .venv/bin/python benchmarks/bench_exports.py   # an EMPTY database of yours

It migrates the database, records 1,000 results for one patient through the same services the app
uses (so findings open as they would), then requests each export through Django's test client and
prints the median and slowest of several runs, and the number of queries. "Cold" means the trend
charts are drawn (nothing cached); "warm" means they come from the cache, as on every request after
the first since the patient's results last changed.
"""

import datetime
import io
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
if "DATABASE_URL" not in os.environ:
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='myolab-bench-')}/bench.sqlite3"

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.signals import request_finished, request_started  # noqa: E402
from django.db import close_old_connections, connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from guidance.services import record_results  # noqa: E402
from labs.models import Analyte  # noqa: E402
from labs.services import Entry  # noqa: E402
from labs.trends import trends_for  # noqa: E402
from patients.roles import ADMINISTRATOR, CLINICIAN  # noqa: E402
from patients.services import register_patient  # noqa: E402

RESULTS = 1000
RUNS = 7
# Eight analytes a panel, 125 panels a fortnight apart: 1,000 results over about 4.8 years.
# Values cycle through low, normal and high so every marker shape is drawn.
SERIES = {
    "vitd25": ("ng/mL", ["12", "25", "45", "85"]),
    "mg": ("mg/dL", ["1.5", "1.9", "2.2", "2.8"]),
    "ca": ("mg/dL", ["8.2", "9.1", "9.6", "10.6"]),
    "k": ("mmol/L", ["3.1", "3.9", "4.6", "5.6"]),
    "ck": ("U/L", ["120", "250", "900", "150"]),
    "carn_free": ("umol/L", ["20", "30", "40", "60"]),
    "alb": ("g/dL", ["3.2", "3.9", "4.4", "4.8"]),
    "vite": ("mg/L", ["4.5", "8", "12", "18"]),
}


def build():
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    call_command("setup_roles", verbosity=0)
    call_command("load_guidance_content", stdout=io.StringIO())
    clinician = User.objects.create_user("bench-clinician", first_name="Bench", last_name="Clinician")
    clinician.groups.add(Group.objects.get(name=CLINICIAN))
    admin = User.objects.create_user("bench-admin", is_staff=True)
    admin.groups.add(Group.objects.get(name=ADMINISTRATOR))
    patient = register_patient(
        by=clinician,
        mrn="BENCH-1",
        given_name="Bench",
        family_name="Patient",
        date_of_birth=datetime.date(1960, 5, 1),
        sex="female",
    )
    analytes = {a.code: a for a in Analyte.objects.prefetch_related("units").filter(code__in=SERIES)}
    start = timezone.now() - datetime.timedelta(days=14 * RESULTS // len(SERIES))
    for panel in range(RESULTS // len(SERIES)):
        entries = []
        for code, (unit, values) in SERIES.items():
            analyte = analytes[code]
            unit_row = next(u for u in analyte.units.all() if u.unit == unit)
            entries.append(Entry(analyte=analyte, value=Decimal(values[panel % len(values)]), unit=unit_row))
        record_results(
            patient=patient, collected_at=start + datetime.timedelta(days=14 * panel), entries=entries, by=clinician
        )
    return clinician, admin, patient


def counting_into(queries):
    """A database execute wrapper that notes each query in `queries`."""

    def wrapper(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    return wrapper


def measure(action, runs=RUNS):
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings), max(timings)


def main():
    setup_test_environment()
    # Keep one connection across requests, as Django's TestCase does, so every query is counted on it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    print(f"Database: {connection.vendor} ({os.environ['DATABASE_URL'].split('@')[-1]})")
    began = time.perf_counter()
    clinician, admin, patient = build()
    print(f"Recorded {patient.results.count()} results in {time.perf_counter() - began:.1f} s\n")
    client = Client()
    client.force_login(clinician)
    admin_client = Client()
    admin_client.force_login(admin)
    base = f"/patients/{patient.pk}"
    first, today = patient.results.earliest("collected_at").collected_at, timezone.localdate()

    def get(path, who=client):
        def fetch():
            response = who.get(path)
            assert response.status_code == 200, (path, response.status_code)
            if response.streaming:
                return b"".join(response.streaming_content)
            return response.content

        return fetch

    def cold(action):
        def run():
            cache.clear()
            action()

        return run

    cases = [
        ("trend charts, cold (draw 8 charts, SVG)", cold(lambda: trends_for(patient))),
        ("trend charts, warm (patient page part)", lambda: trends_for(patient)),
        ("summary print view, cold", cold(get(f"{base}/summary/"))),
        ("summary print view, warm", get(f"{base}/summary/")),
        ("summary PDF, cold", cold(get(f"{base}/summary.pdf"))),
        ("summary PDF, warm", get(f"{base}/summary.pdf")),
        ("results CSV (1,000 rows)", get(f"{base}/results.csv")),
        ("FHIR bundle (1,000 Observations)", get(f"{base}/fhir/")),
        (
            "cohort CSV (1,000 rows, streamed)",
            get(f"/exports/cohort.csv?from={first:%Y-%m-%d}&to={today}", admin_client),
        ),
    ]
    print(f"{'export':<42} {'median ms':>10} {'max ms':>8} {'queries':>8} {'bytes':>10}")
    for name, action in cases:
        action()  # once to warm imports, fonts and the cache
        queries = []
        with connection.execute_wrapper(counting_into(queries)):
            body = action()
        median, slowest = measure(action)
        size = len(body) if isinstance(body, bytes | str) else 0
        print(f"{name:<42} {median:>10.0f} {slowest:>8.0f} {len(queries):>8} {size:>10}")


if __name__ == "__main__":
    main()
