"""Property-based tests: whatever bytes arrive, receiving them gives a clear answer, never an exception,
and never a partial import."""

import datetime
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from interfaces.models import CodeMapping, InboundMessage
from interfaces.oru import split_messages
from interfaces.services import receive
from labs.models import Panel, Result

SAMPLES = sorted((Path(__file__).parent / "data" / "hl7").glob("*.hl7"))
SEPARATORS = "|^~\\&\r\n\x0b\x1c"

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check_answer(raw):
    """Every message gets a stored status, an ACK with an MSA segment, and a reason unless accepted; and
    results only with an import (so never a partial one)."""
    before = Result.objects.count(), Panel.objects.count()
    receipt = receive(raw, channel=InboundMessage.Channel.UPLOAD)
    message = receipt.message
    assert message.status != InboundMessage.Status.RECEIVED
    assert receipt.ack.startswith("MSH|")
    code = next(s for s in receipt.ack.split("\r") if s.startswith("MSA")).split("|")[1]
    assert code in ("AA", "AE", "AR")
    if code != "AA":
        assert message.errors and all(reason.strip() for reason in message.errors)
    after = Result.objects.count(), Panel.objects.count()
    if message.status == InboundMessage.Status.IMPORTED:
        assert after[0] == before[0] + message.results_created
    else:
        assert after == before


@FUZZ
@given(raw=st.binary(max_size=2000))
@example(raw=b"\x00")  # found on PostgreSQL, whose text columns cannot hold NUL
def test_arbitrary_bytes_get_a_clear_answer(raw):
    check_answer(raw)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list(SEPARATORS) + list("MSHOBXPIDR0129.-<> AaLN")), max_size=400))
def test_text_made_of_hl7_pieces_gets_a_clear_answer(text):
    check_answer("MSH|^~\\&|" + text)


@FUZZ
@given(sample=st.sampled_from(SAMPLES), seed=st.integers(0, 2**32), edits=st.integers(1, 12))
def test_mutated_samples_get_a_clear_answer(sample, seed, edits, mapped_sender):
    # Deleting, duplicating or replacing characters, separators included, breaks segments and fields.
    chars = list(sample.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    for _ in range(edits):
        at = rng.randrange(len(chars))
        action = rng.choice(["delete", "duplicate", "replace"])
        if action == "delete":
            del chars[at]
        elif action == "duplicate":
            chars.insert(at, chars[at])
        else:
            chars[at] = rng.choice(SEPARATORS + "0123456789X ")
    text = "".join(chars)
    for one in split_messages(text) or [text]:
        check_answer(one)


@pytest.fixture
def mapped_sender(patient_factory, analytes, clinician):
    """The NextLevelSeven sample's patient and local codes, so that mutations of it may import."""
    patient_factory(mrn="002993817", date_of_birth=datetime.date(1952, 1, 1), sex="male", created_by=clinician)
    for code, analyte in [("K", "k"), ("CA", "ca"), ("ALB", "alb")]:
        CodeMapping.objects.create(sending_facility="DEV", code=code, analyte=analytes[analyte])
