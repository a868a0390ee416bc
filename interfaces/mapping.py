"""What the fields of an ORU^R01 observation mean to Myolab: values, units, times, flags.

Pure functions on text (no database), table-tested in tests/test_interfaces_mapping.py. Each refusal
is a `Problem` whose text names the field, what it held and what is allowed.
"""

import datetime
import re
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from labs.interpretation import Flag


@dataclass
class Problem(Exception):
    """Why an observation cannot be imported. `hold`: a person can resolve it (a unit to map, a
    patient to match) and the message waits in the queue; otherwise the message is in error."""

    text: str
    hold: bool = False

    def __str__(self):
        return self.text


# LOINC codes that laboratories send for an analyte of the catalogue besides the catalogue's own code
# (shared/DOMAIN.md): the analyte's code in the catalogue, keyed by the alternative LOINC code.
ALTERNATIVE_LOINC = {
    "1989-3": "vitd25",  # 25-hydroxyvitamin D3; some laboratories send it for the total D2 + D3
    "2601-3": "mg",  # magnesium in moles/volume
    "2000-8": "ca",  # calcium in moles/volume
}

NUMBER = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)$")
CENSORED = re.compile(r"^(<=|>=|<|>)\s*([+]?(\d+(\.\d*)?|\.\d+))$")
# Value types whose OBX-5 may hold a number: numeric, string (many laboratories send numbers as ST),
# structured numeric.
NUMERIC_TYPES = ("NM", "ST", "SN")


def read_value(value_type: str, components: list[str]) -> tuple[str, Decimal]:
    """OBX-5 as (comparator, number): "" and the number for an exact value, "<", "<=", ">=" or ">" for a
    censored one ("<0.95", "> 9.20", SN "<^0.95": below or above what the method measures), stored as
    such (labs.interpretation.Comparator); or a Problem saying why it is not one Myolab can store."""
    if value_type not in NUMERIC_TYPES:
        raise Problem(f"OBX-2 value type '{value_type}' is not numeric (Myolab takes NM, ST or SN values).")
    if not any(part.strip() for part in components):
        raise Problem("OBX-5 is empty: a final result needs a value.")
    if value_type == "SN":
        # SN: comparator ^ number [^ separator ^ number]; "^182" is 182, "<^0.95" is censored.
        comparator, number, rest = components[0], "".join(components[1:2]), components[2:]
        if any(part.strip() for part in rest):
            raise Problem(f"OBX-5 '{'^'.join(components)}' is a range or ratio; Myolab stores single values.")
        text = f"{comparator.strip()}{number.strip()}"
    else:
        text = "^".join(components).strip()
    if not text:
        raise Problem("OBX-5 is empty: a final result needs a value.")
    comparator = ""
    censored = CENSORED.match(text)
    if censored:
        comparator, text = censored.group(1), censored.group(2)
    if not NUMBER.match(text):
        raise Problem(f"OBX-5 '{text}' is not a number (digits with an optional decimal point).")
    try:
        return comparator, Decimal(text.lstrip("+"))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise Problem(f"OBX-5 '{text}' is not a number.") from None


RANGE_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
# OBX-7 as the samples write it: "3.5-5.1", "70_105", "4.3 to 6.2", "3.5 - 5.1"; "<0.95", "> 9.20".
BOUNDED_RANGE = re.compile(rf"^{RANGE_NUMBER}\s*(?:-|_|–|to)\s*{RANGE_NUMBER}$", re.IGNORECASE)
UPPER_LIMIT = re.compile(rf"^(?:<=|<|≤)\s*{RANGE_NUMBER}$")
LOWER_LIMIT = re.compile(rf"^(?:>=|>|≥)\s*{RANGE_NUMBER}$")


def read_range(text: str) -> tuple[Decimal | None, Decimal | None] | None:
    """OBX-7's normal range as (low, high) in OBX-6's unit, an open side None; None when it is empty or
    not a form Myolab reads (then Myolab's default range applies). "<0.95" is an upper limit and "> 9.20"
    a lower one; a low not below its high is not a range."""
    text = text.strip()
    if bounded := BOUNDED_RANGE.match(text):
        low, high = Decimal(bounded[1]), Decimal(bounded[2])
        return (low, high) if low < high else None
    if upper := UPPER_LIMIT.match(text):
        return None, Decimal(upper[1])
    if lower := LOWER_LIMIT.match(text):
        return Decimal(lower[1]), None
    return None


def unit_key(text: str) -> str:
    """A unit as compared: case-insensitive, micro written u (µ and μ both), spaces dropped."""
    return text.replace("µ", "u").replace("μ", "u").replace(" ", "").lower()


TS = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$")


def read_time(text: str, *, field: str) -> datetime.datetime:
    """An HL7 timestamp (YYYYMMDD[HH[MM[SS[.S]]]][±ZZZZ]) as an aware datetime; without an offset it is
    the clinic's local time (TIME_ZONE). A Problem if it is not one."""
    match = TS.match(text.strip())
    if not match:
        raise Problem(f"{field} '{text}' is not an HL7 date and time (YYYYMMDDHHMM, optionally ±ZZZZ).")
    year, month, day, hour, minute, second, _fraction, offset = match.groups()
    try:
        naive = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        raise Problem(f"{field} '{text}' is not a real date and time.") from None
    if offset:
        sign = 1 if offset[0] == "+" else -1
        delta = datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        return naive.replace(tzinfo=datetime.timezone(sign * delta))
    return timezone.make_aware(naive, zoneinfo.ZoneInfo(timezone.get_current_timezone_name()))


def read_birth_date(text: str) -> datetime.date:
    """PID-7's date part (its first eight digits)."""
    match = re.match(r"^(\d{4})(\d{2})(\d{2})", text.strip())
    if not match:
        raise Problem(f"PID-7 birth date '{text}' is not an HL7 date (YYYYMMDD).", hold=True)
    try:
        return datetime.date(*map(int, match.groups()))
    except ValueError:
        raise Problem(f"PID-7 birth date '{text}' is not a real date.", hold=True) from None


# PID-8 (HL7 table 0001) to the patient's sex in Myolab.
SEXES = {"F": "female", "M": "male", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}

# OBX-8 (HL7 table 0078) to the flags Myolab can compare with: the set of Myolab flags each agrees with.
LAB_FLAGS = {
    "N": {Flag.NORMAL},
    "L": {Flag.LOW},
    "H": {Flag.HIGH},
    "LL": {Flag.CRITICAL_LOW},
    "HH": {Flag.CRITICAL_HIGH},
    "<": {Flag.LOW, Flag.CRITICAL_LOW},
    ">": {Flag.HIGH, Flag.CRITICAL_HIGH},
    "A": {Flag.LOW, Flag.HIGH, Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH},
    "AA": {Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH},
}


def flag_disagreement(lab_flag: str, flag: str) -> str:
    """A sentence when the laboratory's OBX-8 flag and Myolab's interpretation disagree, else ""."""
    lab_flag = lab_flag.strip().upper()
    agrees_with = LAB_FLAGS.get(lab_flag)
    if not lab_flag or agrees_with is None:
        return ""
    if flag == Flag.NO_RANGE:
        return f"The laboratory flagged it {lab_flag}; Myolab has no reference range for this patient."
    if flag not in agrees_with:
        return f"The laboratory flagged it {lab_flag}; Myolab's interpretation is {Flag(flag).label.lower()} ({flag})."
    return ""
