"""api.search, table-tested: FHIR date values with their prefixes at each precision, counts, references
and tokens, and the signed cursor."""

import datetime

import pytest

from api import search
from api.auth import ApiError

UTC = datetime.UTC
LONDON_WINTER = datetime.timezone(datetime.timedelta(0))
LONDON_SUMMER = datetime.timezone(datetime.timedelta(hours=1))


def moment(*parts, zone=UTC):
    return datetime.datetime(*parts, tzinfo=zone)


# (value, prefix, start, end): the range a value stands for is that of its precision, in the clinic's
# time zone (Europe/London) when it has no time.
DATES = [
    ("2026", "eq", moment(2026, 1, 1), moment(2027, 1, 1)),
    ("2026-02", "eq", moment(2026, 2, 1), moment(2026, 3, 1)),
    ("2024-02", "eq", moment(2024, 2, 1), moment(2024, 3, 1)),
    ("2026-07-05", "eq", moment(2026, 7, 5, zone=LONDON_SUMMER), moment(2026, 7, 6, zone=LONDON_SUMMER)),
    ("ge2026-03-29", "ge", moment(2026, 3, 29, zone=LONDON_WINTER), moment(2026, 3, 30, zone=LONDON_SUMMER)),
    ("gt2026-03-01T09:00Z", "gt", moment(2026, 3, 1, 9, 0), moment(2026, 3, 1, 9, 1)),
    ("lt2026-03-01T09:00:00Z", "lt", moment(2026, 3, 1, 9), moment(2026, 3, 1, 9, 0, 1)),
    ("le2026-03-01T10:00:00+01:00", "le", moment(2026, 3, 1, 9), moment(2026, 3, 1, 9, 0, 1)),
    ("eq2026-03-01T09:00:00.5Z", "eq", moment(2026, 3, 1, 9, 0, 0, 500000), moment(2026, 3, 1, 9, 0, 0, 600000)),
    ("2026-03-01T04:00:00-05:00", "eq", moment(2026, 3, 1, 9), moment(2026, 3, 1, 9, 0, 1)),
    ("2026-03-01T09:00:00 00:00", "eq", moment(2026, 3, 1, 9), moment(2026, 3, 1, 9, 0, 1)),
]


@pytest.mark.parametrize(("text", "prefix", "start", "end"), DATES)
def test_a_date_is_the_range_of_its_precision(text, prefix, start, end):
    found = search.parse_date("date", text)
    assert (found.prefix, found.start, found.end) == (prefix, start, end)


def test_each_prefix_as_lookups():
    day = search.parse_date("date", "2026-01-10")
    start, end = moment(2026, 1, 10, zone=LONDON_WINTER), moment(2026, 1, 11, zone=LONDON_WINTER)
    lookups = {prefix: search.DateRange(prefix, start, end).lookups("at") for prefix in search.DATE_PREFIXES}
    assert lookups == {
        "eq": {"at__gte": start, "at__lt": end},
        "ge": {"at__gte": start},
        "gt": {"at__gte": end},
        "le": {"at__lt": end},
        "lt": {"at__lt": start},
    }
    assert day.lookups("at") == lookups["eq"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "26-03-01",
        "2026-3-1",
        "2026-13",
        "2026-02-29",
        "2026-03-01T09",
        "2026-03-01T25:00Z",
        "sa2026",
        "2026-03-01T09:00+0100",
    ],
)
def test_what_is_not_a_date_is_refused_naming_the_parameter(text):
    with pytest.raises(ApiError) as refused:
        search.parse_date("birthdate", text)
    assert refused.value.status == 400
    assert refused.value.expression == "birthdate"
    assert refused.value.text.startswith("birthdate: ")


@pytest.mark.parametrize(("text", "count"), [(None, 50), ("1", 1), ("500", 500)])
def test_counts(text, count):
    assert search.parse_count(text) == count


@pytest.mark.parametrize("text", ["0", "501", "-1", "1.5", "", "²", "1e2"])
def test_bad_counts(text):
    with pytest.raises(ApiError, match="_count: "):
        search.parse_count(text)


@pytest.mark.parametrize(("text", "pk"), [("12", 12), ("Patient/12", 12)])
def test_references(text, pk):
    assert search.parse_reference("patient", text) == pk


@pytest.mark.parametrize("text", ["Observation/12", "Patient/", "abc", "1" * 19, "١٢"])
def test_bad_references(text):
    with pytest.raises(ApiError, match="is not a Patient id"):
        search.parse_reference("patient", text)


def test_tokens_keep_the_codes_of_the_system_asked_for():
    assert search.parse_tokens(
        "code", "2823-3,http://loinc.org|17861-6,http://snomed.info/sct|1", "http://loinc.org"
    ) == [
        "2823-3",
        "17861-6",
    ]
    assert search.parse_tokens("code", "|2823-3", "http://loinc.org") == []
    with pytest.raises(ApiError, match="has an empty code"):
        search.parse_tokens("code", "2823-3,", "http://loinc.org")


def test_a_cursor_reads_back_and_a_changed_one_is_refused():
    cursor = search.sign_cursor("2026-03-01T09:00:00+00:00", 42, "date")
    assert search.read_cursor(cursor) == ["2026-03-01T09:00:00+00:00", 42, "date"]
    changed = cursor.replace(cursor[5], "A" if cursor[5] != "A" else "B", 1)
    with pytest.raises(ApiError, match="_cursor: is not a page link this server gave"):
        search.read_cursor(changed)
