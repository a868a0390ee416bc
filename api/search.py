"""FHIR search parameters as Myolab reads them: pure parsing, each refusal an ApiError 400 naming the
parameter, what it held and what is allowed (table-tested in tests/test_api_search.py).

Dates follow FHIR's rule that a value stands for the range of its precision: "2026-03-01" is that
whole day in the clinic's time zone, "2026-03-01T10:00:00+01:00" that second. With the prefix:
eq within the range, ge from its start, gt from its end, lt before its start, le before its end.

Paging is by keyset: the next page's link carries `_cursor`, a signed (collected time, id) of the last
row given, so a page is one index range read however deep it is, and a changed or made-up cursor is
refused instead of read.
"""

import calendar
import datetime
import re
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.utils import timezone

from .auth import ApiError

DATE_PREFIXES = ("eq", "ge", "gt", "le", "lt")
DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,6})?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
CURSOR_SALT = "api.search.cursor"


def bad(parameter: str, text: str) -> ApiError:
    return ApiError(400, "invalid", f"{parameter}: {text}", expression=parameter)


def check_parameters(query, allowed: dict[str, bool]) -> None:
    """Refuse any parameter not in `allowed` (name → may repeat), and repeats of those that may not."""
    for name in query:
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            raise bad(name, f"is not a search parameter here (known: {known}).")
        if not allowed[name] and len(query.getlist(name)) > 1:
            raise bad(name, "may be given once.")


@dataclass(frozen=True)
class DateRange:
    prefix: str
    start: datetime.datetime
    end: datetime.datetime  # exclusive: the start of the next unit of the value's precision

    def lookups(self, field: str) -> dict:
        return {
            "eq": {f"{field}__gte": self.start, f"{field}__lt": self.end},
            "ge": {f"{field}__gte": self.start},
            "gt": {f"{field}__gte": self.end},
            "lt": {f"{field}__lt": self.start},
            "le": {f"{field}__lt": self.end},
        }[self.prefix]


def parse_date(parameter: str, text: str) -> DateRange:
    """A FHIR date search value with its optional prefix."""
    prefix, value = ("eq", text)
    if text[:2] in DATE_PREFIXES:
        prefix, value = text[:2], text[2:]
    elif text[:2].isalpha():
        raise bad(parameter, f"prefix '{text[:2]}' is not one Myolab serves (eq, ge, gt, le, lt).")
    # A "+" written unencoded in a URL arrives as a space.
    value = re.sub(r" (\d{2}:\d{2})$", r"+\1", value)
    match = DATE.match(value)
    if not match:
        raise bad(
            parameter,
            f"'{text}' is not a date (YYYY, YYYY-MM, YYYY-MM-DD) or an instant with its offset "
            "(YYYY-MM-DDThh:mm[:ss]+hh:mm or Z; write + as %2B in a URL).",
        )
    parts = match.groupdict()
    if parts["hour"] is not None and parts["zone"] is None:
        raise bad(parameter, f"'{text}' has a time but no offset (add Z or ±hh:mm).")
    try:
        start, end = _range(parts)
    except ValueError:
        raise bad(parameter, f"'{text}' is not a real date.") from None
    return DateRange(prefix, start, end)


def _range(parts: dict) -> tuple[datetime.datetime, datetime.datetime]:
    year = int(parts["year"])
    if parts["hour"] is None:
        local = zoneinfo.ZoneInfo(timezone.get_current_timezone_name())
        if parts["month"] is None:
            first, after = datetime.date(year, 1, 1), datetime.date(year + 1, 1, 1)
        elif parts["day"] is None:
            month = int(parts["month"])
            first = datetime.date(year, month, 1)
            after = first + datetime.timedelta(days=calendar.monthrange(year, month)[1])
        else:
            first = datetime.date(year, int(parts["month"]), int(parts["day"]))
            after = first + datetime.timedelta(days=1)
        return (
            datetime.datetime.combine(first, datetime.time(), local),
            datetime.datetime.combine(after, datetime.time(), local),
        )
    zone = datetime.UTC if parts["zone"] == "Z" else _offset(parts["zone"])
    fraction = parts["fraction"] or ""
    moment = datetime.datetime(
        year,
        int(parts["month"]),
        int(parts["day"]),
        int(parts["hour"]),
        int(parts["minute"]),
        int(parts["second"] or 0),
        int((fraction[1:] + "000000")[:6]) if fraction else 0,
        tzinfo=zone,
    )
    if parts["second"] is None:
        step = datetime.timedelta(minutes=1)
    elif fraction:
        step = datetime.timedelta(microseconds=10 ** (6 - (len(fraction) - 1)))
    else:
        step = datetime.timedelta(seconds=1)
    return moment, moment + step


def _offset(text: str) -> datetime.timezone:
    sign = 1 if text[0] == "+" else -1
    return datetime.timezone(sign * datetime.timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))


def parse_count(text: str | None) -> int:
    if text is None:
        return settings.API_DEFAULT_COUNT
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= settings.API_MAX_COUNT:
        raise bad("_count", f"'{text}' is not a whole number from 1 to {settings.API_MAX_COUNT}.")
    return int(text)


def parse_reference(parameter: str, text: str, kind: str = "Patient") -> int:
    """'12' or 'Patient/12' as the row id 12."""
    value = text.removeprefix(f"{kind}/")
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise bad(parameter, f"'{text}' is not a {kind} id (a number, or {kind}/<number>).")
    return int(value)


def parse_tokens(parameter: str, text: str, system: str) -> list[str]:
    """A token list ('a,b' or 'system|a,system|b') as the codes of `system`; a code of another system
    can match nothing, so it is left out."""
    codes = []
    for token in text.split(","):
        token_system, bar, code = token.rpartition("|")
        if not code.strip():
            raise bad(parameter, f"'{text}' has an empty code (write code or system|code, separated by commas).")
        if not bar or token_system == system:
            codes.append(code.strip())
    return codes


def sign_cursor(*values) -> str:
    return signing.dumps(list(values), salt=CURSOR_SALT, compress=False)


def read_cursor(text: str) -> list:
    try:
        return signing.loads(text, salt=CURSOR_SALT)
    except signing.BadSignature:
        raise bad("_cursor", "is not a page link this server gave (follow the Bundle's next link as given).") from None
