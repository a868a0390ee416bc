"""Time what the access log adds to a request: one patients.services.log_access call (not a pass/fail test).

    .venv/bin/python benchmarks/bench_access_log.py              # a throwaway SQLite file
    DATABASE_URL=postgres://… .venv/bin/python benchmarks/bench_access_log.py   # an EMPTY database of yours

It migrates the database, fills the log with ACCESS_LOG_ROWS earlier entries (so its indexes have the
depth of a log in use), then calls log_access CALLS times as a view does, outside any transaction (each
INSERT commits on its own, as in a request), and prints the median, 95th percentile and mean in ms.
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
if "DATABASE_URL" not in os.environ:
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='myolab-bench-')}/bench.sqlite3"

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from patients.models import AccessLogEntry  # noqa: E402
from patients.services import log_access, register_patient  # noqa: E402

ACCESS_LOG_ROWS = int(os.environ.get("ACCESS_LOG_ROWS", "200000"))
PATIENTS = 1000
CALLS = 2000


def main():
    call_command("migrate", verbosity=0)
    if AccessLogEntry.objects.exists():
        sys.exit("The database already has an access log: give this script an empty database.")
    user = User.objects.create_user("bench-access-log")
    patients = [
        register_patient(
            by=user, mrn=f"BENCH-{n}", given_name="Bench", family_name=f"P{n}", date_of_birth="1970-01-01", sex="female"
        )
        for n in range(PATIENTS)
    ]
    AccessLogEntry.objects.bulk_create(
        (
            AccessLogEntry(
                user=user,
                patient=patients[n % PATIENTS],
                what=AccessLogEntry.What.PATIENT_PAGE,
                path=f"/patients/{patients[n % PATIENTS].pk}/",
                client_ip="192.0.2.10",
            )
            for n in range(ACCESS_LOG_ROWS)
        ),
        batch_size=5000,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE patients_accesslogentry")

    factory = RequestFactory()
    timings = []
    for n in range(CALLS):
        patient = patients[n % PATIENTS]
        request = factory.get(f"/patients/{patient.pk}/", REMOTE_ADDR="192.0.2.10")
        request.user = user
        started = time.perf_counter()
        log_access(request, patient, AccessLogEntry.What.PATIENT_PAGE)
        timings.append((time.perf_counter() - started) * 1000)

    timings.sort()
    print(
        f"{connection.vendor} {connection.pg_version if connection.vendor == 'postgresql' else ''}".strip()
        + f": log_access over {ACCESS_LOG_ROWS:,} earlier entries, {CALLS:,} calls: "
        f"median {statistics.median(timings):.3f} ms, p95 {timings[int(CALLS * 0.95)]:.3f} ms, "
        f"mean {statistics.fmean(timings):.3f} ms"
    )


if __name__ == "__main__":
    main()
