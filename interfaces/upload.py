"""A file uploaded in the browser, HL7 messages or a results CSV: read it, preview what it would do, import.

Synchronous, so the file is limited to MAX_UPLOAD_BYTES (README, "Upload a file"): a larger file is
refused with a message, and goes through the MLLP listener instead.
"""

import hashlib
from dataclasses import dataclass

from . import csv_import
from .models import InboundMessage
from .oru import normalise, split_messages
from .services import Plan, decode, plan_message, receive

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_MESSAGES = 500


class NotAcceptable(ValueError):
    """The file is not one Myolab takes; the text says why."""


def read_and_preview(raw: bytes, name: str):
    """("hl7", the messages, a Preview of each) or ("csv", the text, its CsvPlan); NotAcceptable if the
    file is neither, or too large."""
    check_size(raw, name)
    text = decode(raw)
    if csv_import.looks_like_results_csv(text):
        try:
            return "csv", text, csv_import.plan_csv(text)
        except ValueError as error:
            raise NotAcceptable(f"{name}: {error}") from None
    messages = read_upload(raw, name)
    return "hl7", messages, preview(messages)


def check_size(raw: bytes, name: str) -> None:
    if len(raw) > MAX_UPLOAD_BYTES:
        raise NotAcceptable(
            f"{name} is {len(raw) / (1024 * 1024):.1f} MB; an upload may be up to {MAX_UPLOAD_BYTES // (1024 * 1024)} "
            "MB. Send larger batches through the MLLP listener, or split the file."
        )


def read_upload(raw: bytes, name: str) -> list[str]:
    """The messages of an uploaded file, each normalised; NotAcceptable if it is not an HL7 file."""
    check_size(raw, name)
    text = normalise(decode(raw))
    if not text.startswith(("MSH", "FHS", "BHS")):
        raise NotAcceptable(
            f"{name} is neither HL7 v2 nor Myolab's results CSV: an HL7 file starts with an MSH segment (or a "
            "batch header FHS/BHS), framed for MLLP or not; a results CSV starts with the header of Myolab's export."
        )
    messages = split_messages(text)
    if len(messages) > MAX_UPLOAD_MESSAGES:
        raise NotAcceptable(f"{name} holds {len(messages)} messages; an upload may hold up to {MAX_UPLOAD_MESSAGES}.")
    return messages


def fingerprint(content: list[str] | str) -> str:
    """Which upload a confirmation is for."""
    text = content if isinstance(content, str) else "\x1c".join(content)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Preview:
    text: str
    plan: Plan
    earlier: InboundMessage | None  # the same control ID already received from this facility


def preview(messages: list[str]) -> list[Preview]:
    """What each message would do, saving nothing."""
    previews = []
    for text in messages:
        plan = plan_message(text)
        earlier = None
        if plan.header.control_id:
            earlier = InboundMessage.objects.filter(
                sending_facility=plan.header.sending_facility[:200], control_id=plan.header.control_id[:200]
            ).first()
        previews.append(Preview(text=text, plan=plan, earlier=earlier))
    return previews


def import_all(messages: list[str], *, by) -> dict[str, int]:
    """Receive every message as the listener would (each in its own transaction); the count per status."""
    counts: dict[str, int] = {}
    for text in messages:
        status = receive(text, channel=InboundMessage.Channel.UPLOAD, by=by).message.status
        counts[status] = counts.get(status, 0) + 1
    return counts
