"""Table-driven tests of what an observation's fields mean (interfaces.mapping) and of the ACK's escaping."""

import datetime
from decimal import Decimal

import pytest

from interfaces.ack import escape
from interfaces.mapping import (
    Problem,
    flag_disagreement,
    read_birth_date,
    read_range,
    read_time,
    read_value,
    unit_key,
)
from interfaces.oru import normalise, split_messages

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("value_type", "components", "expected"),
    [
        ("NM", ["4.2"], ("", Decimal("4.2"))),
        ("NM", [" 4.20 "], ("", Decimal("4.20"))),
        ("NM", ["+4"], ("", Decimal("4"))),
        ("NM", [".5"], ("", Decimal(".5"))),
        ("ST", ["140"], ("", Decimal("140"))),
        ("SN", ["", "182"], ("", Decimal("182"))),
        ("SN", ["182"], ("", Decimal("182"))),
        # Censored values, as the samples write them: below or above what the method measures.
        ("ST", ["<0.95"], ("<", Decimal("0.95"))),
        ("ST", ["> 9.20"], (">", Decimal("9.20"))),
        ("ST", ["<=5"], ("<=", Decimal("5"))),
        ("SN", ["<", "0.95"], ("<", Decimal("0.95"))),
        ("SN", [">=", "1000"], (">=", Decimal("1000"))),
    ],
)
def test_numbers(value_type, components, expected):
    assert read_value(value_type, components) == expected


@pytest.mark.parametrize(
    ("value_type", "components", "text", "hold"),
    [
        ("NM", [""], "OBX-5 is empty: a final result needs a value.", False),
        ("NM", [], "OBX-5 is empty: a final result needs a value.", False),
        ("NM", ["-1"], "OBX-5 '-1' is not a number (digits with an optional decimal point).", False),
        ("NM", ["0 .07"], "OBX-5 '0 .07' is not a number (digits with an optional decimal point).", False),
        ("ST", ["<<0.95"], "OBX-5 '<<0.95' is not a number (digits with an optional decimal point).", False),
        ("ST", ["< -1"], "OBX-5 '< -1' is not a number (digits with an optional decimal point).", False),
        ("ST", ["5<"], "OBX-5 '5<' is not a number (digits with an optional decimal point).", False),
        ("SN", ["", "1", ":", "2"], "OBX-5 '^1^:^2' is a range or ratio; Myolab stores single values.", False),
        ("CE", ["LA1-1"], "OBX-2 value type 'CE' is not numeric (Myolab takes NM, ST or SN values).", False),
        ("FN", ["", "182"], "OBX-2 value type 'FN' is not numeric (Myolab takes NM, ST or SN values).", False),
    ],
)
def test_values_refused(value_type, components, text, hold):
    with pytest.raises(Problem) as refused:
        read_value(value_type, components)
    assert (refused.value.text, refused.value.hold) == (text, hold)


@pytest.mark.parametrize(
    ("unit", "key"),
    [("mg/dl", "mg/dl"), ("MG/DL", "mg/dl"), ("µmol/L", "umol/l"), ("μmol/L", "umol/l"), ("U / L", "u/l")],
)
def test_unit_keys(unit, key):
    assert unit_key(unit) == key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("201702221854-0500", datetime.datetime(2017, 2, 22, 23, 54, tzinfo=UTC)),
        ("20100604234724.085-0400", datetime.datetime(2010, 6, 5, 3, 47, 24, tzinfo=UTC)),
        # No offset: the clinic's time zone (Europe/London, on winter time in January).
        ("202401150830", datetime.datetime(2024, 1, 15, 8, 30, tzinfo=UTC)),
        ("20240715", datetime.datetime(2024, 7, 14, 23, 0, tzinfo=UTC)),
    ],
)
def test_times(text, expected):
    assert read_time(text, field="OBX-14") == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "OBX-14 '' is not an HL7 date and time (YYYYMMDDHHMM, optionally ±ZZZZ)."),
        ("2024-01-15", "OBX-14 '2024-01-15' is not an HL7 date and time (YYYYMMDDHHMM, optionally ±ZZZZ)."),
        ("20170229125200", "OBX-14 '20170229125200' is not a real date and time."),
    ],
)
def test_times_refused(text, reason):
    with pytest.raises(Problem) as refused:
        read_time(text, field="OBX-14")
    assert refused.value.text == reason


@pytest.mark.parametrize(
    ("text", "expected"), [("19520101", datetime.date(1952, 1, 1)), ("201702210152-0500", datetime.date(2017, 2, 21))]
)
def test_birth_dates(text, expected):
    assert read_birth_date(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("196203520", "PID-7 birth date '196203520' is not a real date."),
        ("Aug 15, 1942", "PID-7 birth date 'Aug 15, 1942' is not an HL7 date (YYYYMMDD)."),
    ],
)
def test_birth_dates_refused(text, reason):
    with pytest.raises(Problem) as refused:
        read_birth_date(text)
    assert (refused.value.text, refused.value.hold) == (reason, True)


@pytest.mark.parametrize(
    ("lab", "myolab", "sentence"),
    [
        ("N", "N", ""),
        ("L", "L", ""),
        ("", "H", ""),
        ("A", "HH", ""),
        (">", "H", ""),
        ("N", "H", "The laboratory flagged it N; Myolab's interpretation is high (H)."),
        ("HH", "H", "The laboratory flagged it HH; Myolab's interpretation is high (H)."),
        ("AA", "L", "The laboratory flagged it AA; Myolab's interpretation is low (L)."),
        ("H", "NR", "The laboratory flagged it H; Myolab has no reference range for this patient."),
    ],
)
def test_flag_disagreements(lab, myolab, sentence):
    assert flag_disagreement(lab, myolab) == sentence


def test_framing_bom_and_line_endings_are_normalised():
    text = "\ufeff\x0bMSH|^~\\&|A\r\nPID|1\n\nOBX|1\x1c\r"
    assert normalise(text) == "MSH|^~\\&|A\rPID|1\rOBX|1"


def test_a_nul_character_is_kept_visible_as_a_replacement_character():
    # Found by the property-based tests on PostgreSQL, whose text columns cannot hold NUL.
    assert normalise("MSH|\x00|A") == "MSH|\ufffd|A"


def test_a_file_splits_into_its_messages_without_batch_envelopes():
    # The third message kept the byte-order mark of the file it was copied from.
    text = "FHS|^~\\&\nBHS|^~\\&\nMSH|1\nPID|a\nMSH|2\nOBX|b\n\ufeffMSH|3\nBTS|2\nFTS|1\n"
    assert split_messages(text) == ["MSH|1\rPID|a", "MSH|2\rOBX|b", "MSH|3"]


def test_ack_text_is_escaped():
    assert escape("a|b^c&d~e\\f\rg") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f g"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.5-5.1", (Decimal("3.5"), Decimal("5.1"))),
        ("3.5 - 5.1", (Decimal("3.5"), Decimal("5.1"))),
        ("70_105", (Decimal("70"), Decimal("105"))),
        ("4.3 to 6.2", (Decimal("4.3"), Decimal("6.2"))),
        ("4.3 TO 6.2", (Decimal("4.3"), Decimal("6.2"))),
        (" 8.6–10.0 ", (Decimal("8.6"), Decimal("10.0"))),
        ("<0.95", (None, Decimal("0.95"))),
        ("<= 200", (None, Decimal("200"))),
        ("> 9.20", (Decimal("9.20"), None)),
        (">=20", (Decimal("20"), None)),
        # Not a range Myolab reads: Myolab's default applies.
        ("", None),
        ("see report", None),
        ("5.1-3.5", None),  # low above high
        ("4-4", None),
        ("-1-5", None),
        ("3.5-", None),
        ("< 3.5-5.1", None),
        ("negative", None),
    ],
)
def test_reference_ranges(text, expected):
    assert read_range(text) == expected
