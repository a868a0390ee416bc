"""Reading an HL7 v2 ORU^R01 message into plain values: no database, no interpretation.

python-hl7 splits segments, fields, repetitions and components and resolves escape sequences
(`\\S\\` → `^`); this module first puts what laboratories actually send into the shape it expects
(a UTF-8 byte-order mark, MLLP framing bytes, LF or CRLF between segments), then reads the fields an
ORU^R01 carries into dataclasses that interfaces.mapping turns into results.
"""

import re
from dataclasses import dataclass, field

import hl7

MLLP_START, MLLP_END = "\x0b", "\x1c"
# Batch and file envelopes carry no results; the messages inside them are read one by one.
ENVELOPE_SEGMENTS = ("FHS", "BHS", "BTS", "FTS")


class Refused(Exception):
    """The message cannot be taken at all (acknowledged AR). `code` is from HL7 table 0357."""

    def __init__(self, text: str, code: str = "207"):
        super().__init__(text)
        self.text, self.code = text, code


def normalise(text: str) -> str:
    """One message as python-hl7 reads it: segments separated by CR, no BOM, framing or blank lines."""
    # NUL cannot be stored in PostgreSQL's text: it is kept visible as U+FFFD, like bytes that are not UTF-8.
    text = text.replace(MLLP_START, "").replace(MLLP_END, "").replace("\x00", "\ufffd")
    # A byte-order mark starts a file, and a line wherever files were joined.
    lines = [line.lstrip("\ufeff") for line in re.split(r"\r\n|\r|\n", text) if line.strip("\ufeff \t")]
    return "\r".join(lines)


def split_messages(text: str) -> list[str]:
    """A file of one or many messages (framed or not, any line ending) as one normalised text per message."""
    messages, current = [], []
    for line in normalise(text).split("\r"):
        if line.startswith(ENVELOPE_SEGMENTS):
            continue
        if line.startswith("MSH") and current:
            messages.append("\r".join(current))
            current = []
        current.append(line)
    if current:
        messages.append("\r".join(current))
    return messages


@dataclass
class Header:
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    control_id: str = ""
    message_type: str = ""  # "ORU^R01"
    processing_id: str = ""
    version: str = ""


@dataclass
class Identifier:
    id: str
    authority: str  # PID-3.4, the assigning authority's namespace
    type: str  # PID-3.5, e.g. MR


@dataclass
class PatientIdentity:
    identifiers: list[Identifier]
    family_name: str
    given_name: str
    birth_date: str  # PID-7 as sent
    sex: str  # PID-8 as sent


@dataclass
class Observation:
    set_id: str
    value_type: str  # OBX-2
    code: str  # OBX-3.1
    text: str  # OBX-3.2
    system: str  # OBX-3.3, e.g. LN
    alt_code: str  # OBX-3.4
    alt_system: str  # OBX-3.6
    value: list[str]  # OBX-5's components
    units: str  # OBX-6.1
    range_text: str  # OBX-7
    flags: str  # OBX-8
    status: str  # OBX-11
    observed_at: str  # OBX-14 as sent
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """How the observation is named in messages to people: its text and code."""
        codes = self.code + (f", LOINC {self.alt_code}" if self.alt_system == "LN" and self.alt_code else "")
        return f"{self.text or 'unnamed'} ({codes or 'no code'})"


@dataclass
class Order:
    filler_number: str  # OBR-3.1, the laboratory's accession number
    observed_at: str  # OBR-7 as sent
    service: str  # OBR-4.2
    observations: list[Observation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class OruMessage:
    header: Header
    patient: PatientIdentity | None
    orders: list[Order]


def _part(segment, field_number, repetition=1, component=1, subcomponent=1) -> str:
    """A field's part as text with escapes resolved; empty when the message does not have it."""
    try:
        return str(segment.extract_field(1, field_number, repetition, component, subcomponent)).strip()
    except IndexError:
        return ""


def _repetitions(segment, field_number) -> int:
    try:
        return len(segment(field_number))
    except IndexError:
        return 0


def _parse(text: str):
    if not text.startswith("MSH"):
        raise Refused("Not an HL7 v2 message: it must start with an MSH segment.", code="100")
    try:
        return hl7.parse(text)
    except Exception as error:  # python-hl7 raises several kinds on malformed text
        raise Refused(f"Not a readable HL7 v2 message: {error}.", code="102") from error


def read_header(text: str) -> Header:
    """MSH of a normalised message (raises Refused if there is none). Parses the MSH segment alone: the
    listener reads the header before the whole message, which is parsed once, by read_oru."""
    return _header(_parse(text.split("\r", 1)[0]).segment("MSH"))


def _header(msh) -> Header:
    event = _part(msh, 9, 1, 2)
    return Header(
        sending_application=_part(msh, 3),
        sending_facility=_part(msh, 4) or _part(msh, 4, 1, 2),
        receiving_application=_part(msh, 5),
        receiving_facility=_part(msh, 6),
        control_id=_part(msh, 10),
        message_type=_part(msh, 9) + (f"^{event}" if event else ""),
        processing_id=_part(msh, 11),
        version=_part(msh, 12),
    )


def read_oru(text: str) -> OruMessage:
    """Every segment an ORU^R01 carries results in, in order. Raises Refused if it is not readable."""
    message = _parse(text)
    try:
        header = _header(message.segment("MSH"))
    except KeyError:  # pragma: no cover - _parse has checked the text starts with MSH
        raise Refused("Not an HL7 v2 message: it must start with an MSH segment.", code="100") from None
    patient, orders, last = None, [], None
    for segment in message:
        name = str(segment[0]).strip()
        if name == "PID" and patient is None:
            patient = _read_patient(segment)
        elif name == "OBR":
            orders.append(
                Order(filler_number=_part(segment, 3), observed_at=_part(segment, 7), service=_part(segment, 4, 1, 2))
            )
            last = orders[-1]
        elif name == "OBX":
            if not orders:
                raise Refused("An OBX segment comes before any OBR segment.", code="100")
            orders[-1].observations.append(_read_observation(segment))
            last = orders[-1].observations[-1]
        elif name == "NTE" and last is not None:
            note = _part(segment, 3)
            if note:
                last.notes.append(note)
    return OruMessage(header=header, patient=patient, orders=orders)


def _read_patient(pid) -> PatientIdentity:
    identifiers = [
        Identifier(id=_part(pid, 3, r, 1), authority=_part(pid, 3, r, 4), type=_part(pid, 3, r, 5))
        for r in range(1, _repetitions(pid, 3) + 1)
    ]
    return PatientIdentity(
        identifiers=[identifier for identifier in identifiers if identifier.id],
        family_name=_part(pid, 5, 1, 1),
        given_name=_part(pid, 5, 1, 2),
        birth_date=_part(pid, 7),
        sex=_part(pid, 8),
    )


def _read_observation(obx) -> Observation:
    # python-hl7 keeps a field without component separators as one string, else a list of components.
    try:
        first = obx(5)[0]
        components = 1 if isinstance(first, str) else len(first)
    except IndexError:
        components = 0
    value = [_part(obx, 5, 1, c) for c in range(1, components + 1)]
    return Observation(
        set_id=_part(obx, 1),
        value_type=_part(obx, 2),
        code=_part(obx, 3, 1, 1),
        text=_part(obx, 3, 1, 2),
        system=_part(obx, 3, 1, 3),
        alt_code=_part(obx, 3, 1, 4),
        alt_system=_part(obx, 3, 1, 6),
        value=value,
        units=_part(obx, 6, 1, 1),
        range_text=_part(obx, 7),
        flags=_part(obx, 8),
        status=_part(obx, 11),
        observed_at=_part(obx, 14),
    )
