"""manage.py hl7_listen: the MLLP listener for laboratories' HL7 v2 results (README, "Results from the
laboratory"). Runs until stopped (Ctrl-C or SIGTERM from the process manager)."""

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from interfaces.mllp import Listener


class Command(BaseCommand):
    help = "Listen for HL7 v2 ORU^R01 messages over MLLP and acknowledge each one."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HL7_LISTEN_HOST, help="Address to listen on.")
        parser.add_argument("--port", type=int, default=settings.HL7_LISTEN_PORT, help="TCP port (default 2575).")
        parser.add_argument(
            "--workers", type=int, default=4, help="Messages processed at once (each uses a database connection)."
        )

    def handle(self, *args, host, port, workers, **options):
        if connection.vendor == "sqlite" and workers > 1:
            # SQLite takes one writer at a time: parallel workers would wait on its lock and time out.
            self.stdout.write("SQLite: processing one message at a time (use PostgreSQL for --workers).")
            workers = 1
        asyncio.run(self.serve(host, port, workers))

    async def serve(self, host, port, workers):
        listener = Listener(host=host, port=port, workers=workers)
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
