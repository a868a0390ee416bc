"""The flag badge: words and colour for every flag, a warning sign for critical ones, the label escaped."""

import pytest
from django.template import Context, Template

from labs.interpretation import Flag

BADGE = Template("{% load labs_format %}{% flag_badge flag label %}")


@pytest.mark.parametrize(
    "flag, expected",
    [
        ("LL", '<span class="badge flag text-bg-danger">⚠ Critically low</span>'),
        ("L", '<span class="badge flag text-bg-warning">Low</span>'),
        ("N", '<span class="badge flag text-bg-success">Normal</span>'),
        ("H", '<span class="badge flag text-bg-warning">High</span>'),
        ("HH", '<span class="badge flag text-bg-danger">⚠ Critically high</span>'),
        ("NR", '<span class="badge flag text-bg-secondary">No reference range for this patient</span>'),
    ],
)
def test_each_flag_has_its_words_and_colour(flag, expected):
    assert BADGE.render(Context({"flag": flag, "label": Flag(flag).label})) == expected


def test_the_label_is_escaped():
    assert BADGE.render(Context({"flag": "L", "label": "<b>Low</b>"})) == (
        '<span class="badge flag text-bg-warning">&lt;b&gt;Low&lt;/b&gt;</span>'
    )


def test_result_value_shows_analyte_value_unit_and_flag():
    from decimal import Decimal

    from labs.models import Analyte, Result

    analyte = Analyte(name="Potassium", canonical_unit="mmol/L", display_decimal_places=1)
    result = Result(analyte=analyte, value=Decimal("2.50"), flag="LL")
    html = Template("{% load labs_format %}{% result_value result %}").render(Context({"result": result}))
    assert html == (
        '<span class="text-nowrap">Potassium <strong>2.5 mmol/L</strong></span>\n'
        '<span class="badge flag text-bg-danger">⚠ Critically low</span>'
    )
