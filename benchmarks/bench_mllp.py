"""MLLP throughput: 4 senders, each sending messages of 6 results one after another on its own connection
and waiting for each ACK, as laboratories do. Prints messages and results a second and the ACK times.

    DATABASE_URL=postgres://…/an_empty_database .venv/bin/python benchmarks/bench_mllp.py [messages]

It migrates that database, registers one patient per message, starts the listener in this process
(4 workers) and sends the messages over loopback. Not a pass/fail test; use a database of your own.
"""

import asyncio
import datetime
import os
import statistics
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

from interfaces.mllp import END, START, Listener  # noqa: E402
from labs.models import Result  # noqa: E402
from patients.models import Patient  # noqa: E402

SENDERS = 4
# Six results a message, each a test Myolab tracks, in its canonical unit.
OBX = [
    ("2823-3", "4.1", "mmol/L"),
    ("17861-6", "9.4", "mg/dL"),
    ("19123-9", "2.0", "mg/dL"),
    ("2157-6", "120", "U/L"),
    ("62292-8", "31", "ng/mL"),
    ("1751-7", "4.2", "g/dL"),
]


def message(n: int) -> bytes:
    segments = [
        f"MSH|^~\\&|LIS|BENCH|MYOLAB|CLINIC|202401151000||ORU^R01|B-{n}|P|2.5.1",
        f"PID|1||BENCH-{n}^^^CLINIC^MR||Bench^Patient||19600501|F",
        f"OBR|1||ACC-{n}^BENCH|CHEM|||202401150830",
        *(f"OBX|{i}|NM|{code}^Test^LN||{value}|{unit}|||||F" for i, (code, value, unit) in enumerate(OBX, 1)),
    ]
    return START + "\r".join(segments).encode() + END


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


async def run(count: int) -> None:
    listener = Listener(host="127.0.0.1", port=0, workers=SENDERS)
    port = await listener.start()
    times: list[float] = []
    share = count // SENDERS
    started = time.perf_counter()
    await asyncio.gather(*(sender(port, range(i * share, (i + 1) * share), times) for i in range(SENDERS)))
    seconds = time.perf_counter() - started
    await listener.stop()
    sent = share * SENDERS
    times.sort()
    print(
        f"{sent} messages ({sent * len(OBX)} results) from {SENDERS} senders in {seconds:.1f} s: "
        f"{sent / seconds:.0f} messages/s, {sent * len(OBX) / seconds:.0f} results/s; ACK median "
        f"{statistics.median(times) * 1000:.0f} ms, p95 {times[int(len(times) * 0.95)] * 1000:.0f} ms"
    )


def main(count: int) -> None:
    call_command("migrate", verbosity=0)
    by, _ = User.objects.get_or_create(username="mllp-bench")
    Patient.objects.bulk_create(
        Patient(
            mrn=f"BENCH-{n}",
            given_name="Patient",
            family_name="Bench",
            date_of_birth=datetime.date(1960, 5, 1),
            sex="female",
            created_by=by,
            updated_by=by,
        )
        for n in range(count)
    )
    asyncio.run(run(count))
    print(f"Results in the database: {Result.objects.count()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
