"""A file uploaded in the browser, HL7 messages or a results CSV: read it, preview what it would do.

HL7 messages are imported in the background once confirmed (interfaces.jobs), so an HL7 file may be up to
MAX_UPLOAD_BYTES and MAX_UPLOAD_MESSAGES (README, "Upload a file"); a results CSV is recorded while the
page waits, so it is limited to MAX_CSV_BYTES. A larger file is refused with a message saying so.
"""

import hashlib
from dataclasses import dataclass

from . import csv_import
from .models import InboundMessage
from .oru import normalise, split_messages
from .services import Catalogue, Plan, decode, plan_message

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_MESSAGES = 20_000
MAX_CSV_BYTES = 2 * 1024 * 1024
# The preview reads this many messages (about 4 ms each, with the catalogue read once for the file: the
# page must answer in seconds); the others are checked as they are imported, and the import's summary
# lists every one that needs someone.
PREVIEW_PLANNED = 1000
# Of those, it lists every one with a problem and this many without, in full; it counts them all.
PREVIEW_OTHERS_SHOWN = 50


class NotAcceptable(ValueError):
    """The file is not one Myolab takes; the text says why."""


def read_and_preview(raw: bytes, name: str):
    """("hl7", the messages, a Preview of each) or ("csv", the text, its CsvPlan); NotAcceptable if the
    file is neither, or too large."""
    check_size(raw, name)
    text = decode(raw)
    if csv_import.looks_like_results_csv(text):
        check_size(raw, name, limit=MAX_CSV_BYTES, larger="Split the CSV, or send the results as HL7 messages.")
        try:
            return "csv", text, csv_import.plan_csv(text)
        except ValueError as error:
            raise NotAcceptable(f"{name}: {error}") from None
    messages = read_upload(raw, name)
    return "hl7", messages, preview(messages)


def check_size(
    raw: bytes,
    name: str,
    *,
    limit: int = MAX_UPLOAD_BYTES,
    larger: str = "Send larger batches through the MLLP listener, or split the file.",
) -> None:
    if len(raw) > limit:
        kind = "a results CSV" if limit == MAX_CSV_BYTES else "an upload"
        raise NotAcceptable(
            f"{name} is {len(raw) / (1024 * 1024):.1f} MB; {kind} may be up to {limit // (1024 * 1024)} MB. {larger}"
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
        raise NotAcceptable(
            f"{name} holds {len(messages):,} messages; an upload may hold up to {MAX_UPLOAD_MESSAGES:,}. Split the file."
        )
    return messages


def fingerprint(content: list[str] | str) -> str:
    """Which upload a confirmation is for."""
    text = content if isinstance(content, str) else "\x1c".join(content)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Preview:
    number: int  # its place in the file, from 1
    text: str
    plan: Plan
    earlier: InboundMessage | None  # the same control ID already received from this facility

    @property
    def outcome(self) -> str:
        """What importing it would do: "again" (already received), else the plan's status."""
        return "again" if self.earlier else self.plan.status

    @property
    def has_problem(self) -> bool:
        return self.outcome not in (InboundMessage.Status.IMPORTED, InboundMessage.Status.SKIPPED)


@dataclass
class FilePreview:
    """A file's messages previewed: the count of each outcome over all of them, and the ones listed."""

    total: int
    counts: dict[str, int]  # of the messages planned
    shown: list[Preview]
    planned: int

    @property
    def not_shown(self) -> int:
        return self.planned - len(self.shown)

    @property
    def not_planned(self) -> int:
        return self.total - self.planned


def preview(messages: list[str]) -> FilePreview:
    """What each of the first PREVIEW_PLANNED messages would do, saving nothing."""
    counts: dict[str, int] = {}
    problems, others = [], []
    planned = messages[:PREVIEW_PLANNED]
    catalogue = Catalogue()  # read once for the file: the preview saves nothing, in the seconds it takes
    for number, text in enumerate(planned, start=1):
        plan = plan_message(text, catalogue=catalogue)
        earlier = None
        if plan.header.control_id:
            earlier = InboundMessage.objects.filter(
                sending_facility=plan.header.sending_facility[:200], control_id=plan.header.control_id[:200]
            ).first()
        one = Preview(number=number, text=text, plan=plan, earlier=earlier)
        counts[one.outcome] = counts.get(one.outcome, 0) + 1
        if one.has_problem:
            problems.append(one)
        elif len(others) < PREVIEW_OTHERS_SHOWN:
            others.append(one)
    shown = sorted(problems + others, key=lambda one: one.number)
    return FilePreview(total=len(messages), counts=counts, shown=shown, planned=len(planned))
