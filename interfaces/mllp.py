"""The MLLP listener: HL7 v2 messages over TCP, framed 0x0B … 0x1C 0x0D, each answered with its ACK.

One asyncio task per connection reads frames as they come (a slow sender holds up only itself) and
answers them in order, as HL7's original acknowledgement mode expects. The database work of each
message runs in a thread pool (Django's ORM is synchronous): `interfaces.services.receive` stores the
raw message, then imports it in one transaction, and only after that commits is the ACK written back.
So a message acknowledged AA is in the database, and one whose ACK never left is sent again by the
laboratory and answered from the database (the same control ID imports once).

Nothing a sender does stops the listener: bytes outside a frame are logged and dropped, a frame without
its start byte is answered AR, a connection dropped mid-message stores nothing (the sender resends),
an oversized message is answered AR and its connection closed, and a silent connection is closed after
IDLE_TIMEOUT.
"""

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from . import ack as acks
from .models import InboundMessage
from .oru import Header, Refused, normalise, read_header
from .services import decode, receive

logger = logging.getLogger(__name__)

START, END = b"\x0b", b"\x1c\x0d"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
IDLE_TIMEOUT = 300.0  # seconds without a byte before a connection is closed
READ_SIZE = 65536


def frame(ack: str) -> bytes:
    return START + ack.encode() + END


def answer(raw: bytes) -> bytes:
    """Store and import one message; its framed ACK. Runs in a worker thread, with its own connection.

    If even storing it fails (the database unreachable or busy), the sender is answered AE so that it
    sends the message again: nothing of it was kept."""
    close_old_connections()
    try:
        receipt = receive(raw, channel=InboundMessage.Channel.MLLP)
        message = receipt.message
        logger.info("Message %s %s: %s", message.sending_facility, message.control_id, message.get_status_display())
        return frame(receipt.ack)
    except Exception:
        logger.exception("A message could not be stored")
        reason = "Myolab could not store this message (its database did not answer); send it again."
        return refuse_frame(raw, reason, code="AE", error="207")
    finally:
        close_old_connections()


def refuse_frame(block: bytes, reason: str, *, code: str = "AR", error: str = "100") -> bytes:
    """An ACK (AR unless told) for bytes that were not stored, naming the message if it can."""
    try:
        header = read_header(normalise(decode(block)))
    except Refused:
        header = Header()
    return frame(acks.build(header, code, reason, [(error, reason)]))


class Listener:
    def __init__(
        self, *, host: str, port: int, workers: int = 4, idle_timeout: float = IDLE_TIMEOUT, reuse_port: bool = False
    ):
        self.host, self.port, self.idle_timeout = host, port, idle_timeout
        # Several processes listening on one port (hl7_listen --processes): the kernel shares the connections.
        self.reuse_port = reuse_port
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hl7")
        self.server = None
        self.connections: set[asyncio.Task] = set()

    async def start(self) -> int:
        """Start listening; the port listened on (useful when asked for port 0)."""
        self.server = await asyncio.start_server(self.connection, self.host, self.port, reuse_port=self.reuse_port)
        self.port = self.server.sockets[0].getsockname()[1]
        logger.info("MLLP listener on %s:%s", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        # Open connections end here; a message being processed finishes in its thread (and commits).
        for task in self.connections:
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()
        self.executor.shutdown(wait=True)

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        logger.info("Connection from %s", peer)
        task = asyncio.current_task()
        self.connections.add(task)
        task.add_done_callback(self.connections.discard)
        buffer = bytearray()
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(READ_SIZE), self.idle_timeout)
                except TimeoutError:
                    logger.info("Closing %s: silent for %s s", peer, self.idle_timeout)
                    break
                if not chunk:
                    if buffer.strip():
                        logger.warning("%s closed mid-message (%d bytes): nothing stored", peer, len(buffer))
                    break
                buffer += chunk
                while (end := buffer.find(END)) != -1:
                    block = bytes(buffer[:end])
                    del buffer[: end + len(END)]
                    writer.write(await self.handle(block, peer))
                    await writer.drain()
                if len(buffer) > MAX_MESSAGE_BYTES:
                    reason = f"MLLP message larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MB: not taken."
                    logger.warning("%s: %s", peer, reason)
                    writer.write(refuse_frame(bytes(buffer[:4096]), reason))
                    await writer.drain()
                    break
        except (ConnectionError, OSError) as error:
            logger.warning("Connection from %s lost: %s", peer, error)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def handle(self, block: bytes, peer) -> bytes:
        start = block.rfind(START)  # after an abandoned partial frame, the last start byte begins the message
        if start == -1:
            reason = "MLLP framing error: the message did not begin with the start byte 0x0B."
            logger.warning("%s: %s", peer, reason)
            return refuse_frame(block, reason)
        if block[:start].strip():
            logger.warning("%s: %d bytes outside a frame dropped", peer, start)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, answer, block[start + 1 :])
