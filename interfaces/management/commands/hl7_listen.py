"""manage.py hl7_listen: the MLLP listener for laboratories' HL7 v2 results (README, "Results from the
laboratory"). Runs until stopped (Ctrl-C or SIGTERM from the process manager)."""

import asyncio
import os
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from interfaces.mllp import Listener


class Command(BaseCommand):
    help = "Listen for HL7 v2 ORU^R01 messages over MLLP and acknowledge each one."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HL7_LISTEN_HOST, help="Address to listen on.")
        parser.add_argument("--port", type=int, default=settings.HL7_LISTEN_PORT, help="TCP port (default 2575).")
        parser.add_argument(
            "--workers", type=int, default=4, help="Messages processed at once (each uses a database connection)."
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help=(
                "Listening processes sharing the port (Linux SO_REUSEPORT), each with --workers threads: a "
                "message's processing is mostly Python, which one process runs on one core at a time."
            ),
        )

    def handle(self, *args, host, port, workers, processes, **options):
        if connection.vendor == "sqlite" and (workers > 1 or processes > 1):
            if processes > 1:
                raise CommandError("--processes needs PostgreSQL: SQLite takes one writer at a time.")
            # SQLite takes one writer at a time: parallel workers would wait on its lock and time out.
            self.stdout.write("SQLite: processing one message at a time (use PostgreSQL for --workers).")
            workers = 1
        if processes < 1 or workers < 1:
            raise CommandError("--processes and --workers must be at least 1.")
        if processes == 1:
            asyncio.run(self.serve(host, port, workers))
            return
        connections.close_all()  # each process opens its own database connections
        children = []
        for _ in range(processes - 1):
            pid = os.fork()
            if pid == 0:  # a child: serve until stopped, then leave without running the parent's clean-up
                try:
                    asyncio.run(self.serve(host, port, workers, reuse_port=True))
                finally:
                    os._exit(0)
            children.append(pid)
        try:
            asyncio.run(self.serve(host, port, workers, reuse_port=True))
        finally:
            for pid in children:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)

    async def serve(self, host, port, workers, reuse_port=False):
        listener = Listener(host=host, port=port, workers=workers, reuse_port=reuse_port)
        listened = await listener.start()
        self.stdout.write(f"Listening for HL7 v2 over MLLP on {host}:{listened} (Ctrl-C stops it)", ending="\n")
        self.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await listener.stop()
        self.stdout.write("MLLP listener stopped.")
