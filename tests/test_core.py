"""The shared helpers (core): numbers, names and ages written the same everywhere; the shared template tags."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template

from core import text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("5.4000"), "5.4"),
        (Decimal("300.0000"), "300"),
        (Decimal("0.0000"), "0"),
        (Decimal("1.9934"), "1.9934"),
        (Decimal("1000000"), "1000000"),
        (Decimal("20.0300"), "20.03"),
    ],
)
def test_plain(value, expected):
    assert text.plain(value) == expected


@pytest.mark.parametrize(
    "born, on, age",
    [
        (datetime.date(1966, 3, 10), datetime.date(2026, 3, 9), 59),  # the day before the 60th birthday
        (datetime.date(1966, 3, 10), datetime.date(2026, 3, 10), 60),  # the 60th birthday itself
        (datetime.date(1966, 3, 10), datetime.date(2026, 3, 11), 60),
        (datetime.date(2008, 2, 29), datetime.date(2026, 2, 28), 17),  # leap-day birthday
        (datetime.date(2008, 2, 29), datetime.date(2026, 3, 1), 18),
        (datetime.date(2008, 7, 1), datetime.date(2026, 6, 30), 17),  # under 18: no default range
        (datetime.date(2008, 7, 1), datetime.date(2026, 7, 1), 18),
    ],
)
def test_age_in_years(born, on, age):
    assert text.age_in_years(born, on) == age


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [("Ada", "Lovelace", "Ada Lovelace"), ("", "", "ada"), ("Ada", "", "Ada")],
)
def test_display_name_is_the_full_name_else_the_username(first, last, expected):
    user = User(username="ada", first_name=first, last_name=last)
    assert text.display_name(user) == expected
    assert Template("{% load core %}{{ user|display_name }}").render(Context({"user": user})) == expected


def test_display_name_of_no_user_is_empty():
    assert Template("{% load core %}[{{ user|display_name }}]").render(Context({"user": None})) == "[]"


def test_the_clinical_notice_is_one_text_for_pages_and_pdf():
    rendered = Template("{% load core %}{% clinical_notice %}").render(Context())
    assert rendered == (
        "Myolab supports and does not replace clinical judgement. Interpretations and guidance are general; "
        "decide for each patient with the full clinical picture."
    )
