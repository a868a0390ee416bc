"""The worklist (home page) while laboratory messages are imported: its time alone, then while
benchmarks/bench_mllp.py sends messages over MLLP from another process (issue 15, point 9).

    DATABASE_URL=postgres://…/a_database_of_your_own ALLOWED_HOSTS=localhost \\
        .venv/bin/python benchmarks/worklist_during_import.py [seconds] [messages]

Requests through Django's test client in this process, as a clinician of its own; the data is whatever
the database holds (manage.py generate_data). Not a pass/fail test; never a production database.
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from patients.roles import CLINICIAN  # noqa: E402


def measure(client: Client, seconds: float) -> str:
    times, end = [], time.time() + seconds
    while time.time() < end:
        started = time.perf_counter()
        assert client.get("/").status_code == 200
        times.append(time.perf_counter() - started)
    times.sort()
    median, p95 = statistics.median(times) * 1000, times[int(len(times) * 0.95)] * 1000
    return f"median {median:.0f} ms, p95 {p95:.0f} ms ({len(times)} requests)"


def main(seconds: float, messages: int) -> None:
    call_command("setup_roles", verbosity=0)
    user, _ = User.objects.get_or_create(username="worklist-bench", defaults={"first_name": "Worklist"})
    user.groups.add(Group.objects.get(name=CLINICIAN))
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    print(f"Worklist alone: {measure(client, seconds)}")
    sender = subprocess.Popen(
        [sys.executable, "benchmarks/bench_mllp.py", str(messages)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    time.sleep(6)  # its patients registered and its listener started
    print(f"Worklist during the MLLP import: {measure(client, seconds)}")
    print(*(line for line in sender.communicate()[0].splitlines() if "messages/s" in line))


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 15, int(sys.argv[2]) if len(sys.argv) > 2 else 600)
