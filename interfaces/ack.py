"""HL7 v2 acknowledgements (ACK^R01): AA accepted, AE error, AR rejected, with the reason in MSA-3 and
one ERR segment per reason (HL7 table 0357 codes)."""

import datetime
import uuid

from .oru import Header

ERROR_NAMES = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "205": "Duplicate key identifier",
    "207": "Application internal error",
}
# MSA-3 is 80 characters in v2.3; later versions allow more and most receivers read the whole text.
MSA_TEXT_LENGTH = 200


def escape(text: str) -> str:
    """Text as an HL7 field: the escape character first, then the separators; line breaks as spaces."""
    for char, escaped in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        text = text.replace(char, escaped)
    return " ".join(text.split())


def build(header: Header, code: str, text: str, errors: list[tuple[str, str]]) -> str:
    """An ACK for the message whose MSH is `header`; `errors` are (table 0357 code, text) pairs."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S+0000")
    version = header.version or "2.5.1"
    trigger = header.message_type.partition("^")[2] or "R01"
    segments = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                "MYOLAB",
                escape(header.receiving_facility),
                escape(header.sending_application),
                escape(header.sending_facility),
                now,
                "",
                f"ACK^{escape(trigger)}^ACK",
                uuid.uuid4().hex[:20],
                "P",
                escape(version),
            ]
        ),
        "|".join(["MSA", code, escape(header.control_id), escape(text)[:MSA_TEXT_LENGTH]]),
    ]
    for error_code, error_text in errors:
        name = ERROR_NAMES.get(error_code, "")
        segments.append(f"ERR|||{error_code}^{name}^HL70357|E||||{escape(error_text)}")
    return "\r".join(segments) + "\r"


def for_message(message, header: Header, *, rejection=None) -> tuple[str, str]:
    """The acknowledgement code and text for a processed InboundMessage."""
    status = message.Status
    if rejection is not None:
        return "AR", build(header, "AR", rejection.text, [(rejection.code, rejection.text)])
    if message.status == status.IMPORTED:
        text = f"Imported: {message.results_created} results created, {message.results_changed} changed."
        return "AA", build(header, "AA", text, [])
    if message.status == status.SKIPPED:
        text = f"Accepted: nothing Myolab tracks ({len(message.skipped)} observations skipped)."
        return "AA", build(header, "AA", text, [])
    code = "103" if message.status == status.HELD else "102"
    lead = "Held for review" if message.status == status.HELD else "Not imported"
    text = f"{lead}: {message.errors[0]}" if message.errors else lead
    return "AE", build(header, "AE", text, [(code, reason) for reason in message.errors])
