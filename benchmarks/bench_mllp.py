"""Import throughput: over MLLP, 4 senders, each sending messages of 6 results one after another on its
own connection and waiting for each ACK, as laboratories do; then an uploaded file of the same kind of
messages imported by the background task (interfaces.jobs.run_import_job, in this process); then
PostgreSQL's own COPY of the rows the run created into a copy of the results table. Prints messages and
results a second, the ACK times and the COPY's rows a second.

    DATABASE_URL=postgres://…/a_database_of_your_own .venv/bin/python benchmarks/bench_mllp.py [messages] [file messages]

It migrates that database, registers one patient per message (MRNs, control IDs and accession numbers
carry this run's tag, so runs against the same data do not meet), starts the listener in this process
(4 workers) and sends the messages over loopback. Not a pass/fail test; never a production database.
"""

import asyncio
import datetime
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
if "DATABASE_URL" not in os.environ:
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='myolab-mllp-')}/mllp.sqlite3"

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from interfaces.jobs import create_job, run_import_job  # noqa: E402
from interfaces.mllp import END, START, Listener  # noqa: E402
from interfaces.models import ImportJob  # noqa: E402
from labs.models import Result  # noqa: E402
from patients.models import Patient  # noqa: E402

SENDERS = 4
# BENCH_LISTENER_PROCESSES=2: the listener as `manage.py hl7_listen --processes 2` beside this process,
# instead of in it (one process runs its Python on one core at a time).
PROCESSES = int(os.environ.get("BENCH_LISTENER_PROCESSES", "1"))
# Six results a message, each a test Myolab tracks, in its canonical unit.
OBX = [
    ("2823-3", "4.1", "mmol/L"),
    ("17861-6", "9.4", "mg/dL"),
    ("19123-9", "2.0", "mg/dL"),
    ("2157-6", "120", "U/L"),
    ("62292-8", "31", "ng/mL"),
    ("1751-7", "4.2", "g/dL"),
]


TAG = f"{time.time():.0f}"


def text(n: int) -> str:
    segments = [
        f"MSH|^~\\&|LIS|BENCH|MYOLAB|CLINIC|202401151000||ORU^R01|B-{TAG}-{n}|P|2.5.1",
        f"PID|1||BENCH-{TAG}-{n}^^^CLINIC^MR||Bench^Patient||19600501|F",
        f"OBR|1||ACC-{TAG}-{n}^BENCH|CHEM|||202401150830",
        *(f"OBX|{i}|NM|{code}^Test^LN||{value}|{unit}|||||F" for i, (code, value, unit) in enumerate(OBX, 1)),
    ]
    return "\r".join(segments)


def message(n: int) -> bytes:
    return START + text(n).encode() + END


async def sender(port: int, numbers: range, times: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for n in numbers:
        started = time.perf_counter()
        writer.write(message(n))
        await writer.drain()
        ack = await reader.readuntil(END)
        times.append(time.perf_counter() - started)
        assert b"MSA|AA|" in ack, ack
    writer.close()
    await writer.wait_closed()


def listener_processes() -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "manage.py", "hl7_listen", "--port", str(port), "--processes", str(PROCESSES)]
    command += ["--workers", str(max(1, SENDERS // PROCESSES))]
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True)
    for _ in range(PROCESSES):
        while "Listening" not in process.stdout.readline():
            pass
    return process, port


async def run(count: int) -> None:
    if PROCESSES > 1:
        process, port = listener_processes()
    else:
        listener = Listener(host="127.0.0.1", port=0, workers=SENDERS)
        port = await listener.start()
    times: list[float] = []
    share = count // SENDERS
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(sender(port, range(i * share, (i + 1) * share), times) for i in range(SENDERS)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if PROCESSES > 1:
        process.terminate()
        process.wait()
    else:
        await listener.stop()
    sent = share * SENDERS
    times.sort()
    print(
        f"{sent} messages ({sent * len(OBX)} results) from {SENDERS} senders to {PROCESSES} listener process(es) "
        f"in {seconds:.1f} s: "
        f"{sent / seconds:.0f} messages/s, {sent * len(OBX) / seconds:.0f} results/s; ACK median "
        f"{statistics.median(times) * 1000:.0f} ms, p95 {times[int(len(times) * 0.95)] * 1000:.0f} ms"
        + (f"; this process's CPU {cpu / sent * 1000:.1f} ms a message" if PROCESSES == 1 else "")
    )


def register(numbers: range, by) -> None:
    Patient.objects.bulk_create(
        Patient(
            mrn=f"BENCH-{TAG}-{n}",
            given_name="Patient",
            family_name="Bench",
            date_of_birth=datetime.date(1960, 5, 1),
            sex="female",
            created_by=by,
            updated_by=by,
        )
        for n in numbers
    )


def import_file(numbers: range, by) -> None:
    """An uploaded file of these messages, confirmed, imported by the background task in this process."""
    job = create_job([text(n) for n in numbers], file_name="bench.hl7", by=by)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    started, cpu = time.perf_counter(), time.process_time()
    outcome = run_import_job.call(job.pk)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert outcome["imported"] == len(numbers), outcome
    print(
        f"File of {len(numbers)} messages ({outcome['results_created']} results) imported by the task in "
        f"{seconds:.1f} s: {len(numbers) / seconds:.0f} messages/s, {outcome['results_created'] / seconds:.0f} results/s; "
        f"CPU {cpu / len(numbers) * 1000:.1f} ms a message"
    )


def copy_the_rows() -> None:
    """PostgreSQL's own COPY of this run's result rows into an empty copy of the results table."""
    if connection.vendor != "postgresql":
        print("COPY: PostgreSQL only")
        return
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_copy (LIKE labs_result INCLUDING DEFAULTS)")
        out = io.StringIO()
        select = cursor.mogrify(
            "SELECT r.* FROM labs_result r JOIN patients_patient p ON p.id = r.patient_id WHERE p.mrn LIKE %s",
            [f"BENCH-{TAG}-%"],
        ).decode()
        cursor.copy_expert(f"COPY ({select}) TO STDOUT", out)
        rows = out.getvalue().count("\n")
        out.seek(0)
        started = time.perf_counter()
        cursor.copy_expert("COPY bench_copy FROM STDIN", out)
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy")
    print(f"PostgreSQL COPY of the same {rows} result rows: {seconds * 1000:.0f} ms, {rows / seconds:,.0f} rows/s")


def main(count: int, file_count: int) -> None:
    call_command("migrate", verbosity=0)
    by, _ = User.objects.get_or_create(username="mllp-bench")
    register(range(count + file_count), by)
    print(f"Results in the database before: {Result.objects.count():,}")
    asyncio.run(run(count))
    if file_count:
        import_file(range(count, count + file_count), by)
    copy_the_rows()
    print(f"Results in the database after: {Result.objects.count():,}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
