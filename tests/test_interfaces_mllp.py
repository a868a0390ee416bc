"""The MLLP listener, started in this process on a free port and sent real bytes over loopback."""

import asyncio
import datetime
import socket
import threading
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from interfaces.mllp import END, START, Listener
from interfaces.models import CodeMapping, InboundMessage
from labs.models import Result
from patients.models import Patient

SAMPLES = Path(__file__).parent / "data" / "hl7"
# The listener's worker threads use their own database connections, so the data must be committed; the
# seeded catalogue is restored after each test (serialized rollback).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def listener():
    """A listener on a free loopback port, running in its own thread and event loop."""
    loop = asyncio.new_event_loop()
    server = Listener(host="127.0.0.1", port=0, workers=2, idle_timeout=2.0)
    port = loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield port
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def read_frame(sock) -> str:
    data = b""
    while not data.endswith(END):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a whole ACK: {data!r}"
        data += chunk
    assert data.startswith(START)
    return data[1:-2].decode()


def msa(ack):
    return next(s for s in ack.split("\r") if s.startswith("MSA")).split("|")[:3]


def oru(control, value="4.1", accession="A-1"):
    return (
        f"MSH|^~\\&|LIS|LABX|MYOLAB|CLINIC|202401151000||ORU^R01|{control}|P|2.5.1\r"
        "PID|1||MRN-77^^^CLINIC^MR||Doe^Jane||19600501|F\r"
        f"OBR|1||{accession}^LABX|CHEM|||202401150830\r"
        f"OBX|1|NM|2823-3^Potassium^LN||{value}|mmol/L|3.5-5.1|N|||F\r"
    ).encode()


@pytest.fixture
def jane(patient_factory, clinician):
    return patient_factory(mrn="MRN-77", date_of_birth=datetime.date(1960, 5, 1), sex="female", created_by=clinician)


def test_several_messages_on_one_connection_are_each_acknowledged_in_order(listener, jane):
    with connect(listener) as sock:
        sock.sendall(START + oru("M-1", accession="A-1") + END + START + oru("M-2", accession="A-2") + END)
        assert msa(read_frame(sock)) == ["MSA", "AA", "M-1"]
        assert msa(read_frame(sock)) == ["MSA", "AA", "M-2"]
    assert Result.objects.count() == 2


def test_a_resent_message_is_acknowledged_again_and_imported_once(listener, jane):
    for _ in range(2):
        with connect(listener) as sock:
            sock.sendall(START + oru("M-1") + END)
            assert msa(read_frame(sock)) == ["MSA", "AA", "M-1"]
    assert (InboundMessage.objects.count(), Result.objects.count()) == (1, 1)


def test_every_sample_is_acknowledged_as_the_rules_say(listener, patient_factory, clinician, analytes):
    patient_factory(mrn="002993817", date_of_birth=datetime.date(1952, 1, 1), sex="male", created_by=clinician)
    for code, analyte in [("K", "k"), ("CA", "ca"), ("ALB", "alb")]:
        CodeMapping.objects.create(sending_facility="DEV", code=code, analyte=analytes[analyte])
    expected = {
        "cdc-ti_CA_002_ORU_R01_nbs_carnitine.hl7": "AR",
        "cdc-ti_NewSTEPs_002_ORU_R01_nbs_carnitine.hl7": "AR",
        "mirth_donkey_large_cbc_cmp.hl7": "AE",
        "mirth_donkey_small_chem.hl7": "AA",
        "msft-fhirconv_LRI_2.0-NG_CBC_Typ_Message.hl7": "AR",
        "nextlevelseven_MultipleObr_cmp.hl7": "AA",
        "python-hl7_samples_sample_hl7_glucose.hl7": "AA",
    }
    answered = {}
    with connect(listener) as sock:
        for path in sorted(SAMPLES.glob("*.hl7")):
            sock.sendall(START + path.read_bytes() + END)
            answered[path.name] = msa(read_frame(sock))[1]
    assert answered == expected
    assert Result.objects.count() == 3


def test_a_frame_without_its_start_byte_is_refused_and_the_connection_goes_on(listener, jane):
    with connect(listener) as sock:
        sock.sendall(oru("M-1") + END)
        ack = read_frame(sock)
        assert msa(ack) == ["MSA", "AR", "M-1"]
        assert "MLLP framing error: the message did not begin with the start byte 0x0B." in ack
        sock.sendall(b"noise" + START + oru("M-2") + END)
        assert msa(read_frame(sock)) == ["MSA", "AA", "M-2"]
    assert list(InboundMessage.objects.values_list("control_id", flat=True)) == ["M-2"]


def test_a_connection_dropped_mid_message_stores_nothing_and_the_listener_goes_on(listener, jane):
    with connect(listener) as sock:
        sock.sendall(START + oru("M-1")[:60])
    with connect(listener) as sock:
        sock.sendall(START + oru("M-2") + END)
        assert msa(read_frame(sock)) == ["MSA", "AA", "M-2"]
    assert list(InboundMessage.objects.values_list("control_id", flat=True)) == ["M-2"]


def test_a_slow_sender_does_not_hold_up_another(listener, jane):
    slow = connect(listener)
    slow.sendall(START + oru("SLOW")[:40])  # the rest comes later
    with connect(listener) as fast:
        fast.sendall(START + oru("FAST", accession="A-2") + END)
        assert msa(read_frame(fast)) == ["MSA", "AA", "FAST"]
    for byte in oru("SLOW")[40:]:
        slow.send(bytes([byte]))
    time.sleep(0.05)
    slow.sendall(END)
    assert msa(read_frame(slow)) == ["MSA", "AA", "SLOW"]
    slow.close()


def test_a_silent_connection_is_closed_after_the_idle_timeout(listener):
    with connect(listener) as sock:
        sock.settimeout(5)
        started = time.monotonic()
        assert sock.recv(10) == b""  # closed by the listener
        assert 1.5 < time.monotonic() - started < 5


def test_an_error_is_answered_ae_and_kept_with_its_reason(listener, jane):
    Patient.objects.filter(pk=jane.pk).update(is_active=False)
    with connect(listener) as sock:
        sock.sendall(START + oru("M-1") + END)
        ack = read_frame(sock)
    assert msa(ack) == ["MSA", "AE", "M-1"]
    message = InboundMessage.objects.get()
    assert (message.status, message.ack) == (InboundMessage.Status.ERROR, ack)


def test_a_message_that_cannot_even_be_stored_is_answered_ae_so_that_it_is_sent_again(listener, jane, monkeypatch):
    def database_gone(*args, **kwargs):
        raise OSError("database unreachable")

    monkeypatch.setattr("interfaces.mllp.receive", database_gone)
    with connect(listener) as sock:
        sock.sendall(START + oru("M-1") + END)
        ack = read_frame(sock)
        assert msa(ack) == ["MSA", "AE", "M-1"]
        assert "Myolab could not store this message (its database did not answer); send it again." in ack
        monkeypatch.undo()
        sock.sendall(START + oru("M-2") + END)  # the connection and the listener go on
        assert msa(read_frame(sock)) == ["MSA", "AA", "M-2"]
    assert list(InboundMessage.objects.values_list("control_id", flat=True)) == ["M-2"]


def test_several_listening_processes_need_postgresql(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")  # what the command checks, on either database
    with pytest.raises(CommandError, match="--processes needs PostgreSQL: SQLite takes one writer at a time."):
        call_command("hl7_listen", "--port", "0", "--processes", "2")


def test_the_listener_needs_at_least_one_process_and_worker():
    with pytest.raises(CommandError, match="--processes and --workers must be at least 1."):
        call_command("hl7_listen", "--port", "0", "--processes", "0")
