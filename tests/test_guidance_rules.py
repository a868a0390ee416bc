"""Every seeded rule and pattern through the pure matcher (guidance.rules), boundaries included.

Results are plain values: flag, value in the canonical unit and the upper limit applied, as the labs
interpretation would have set them for an adult with the seeded default ranges.
"""

from dataclasses import dataclass
from decimal import Decimal

import pytest

from guidance.models import Rule
from guidance.rules import match_rules

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class FakeResult:
    analyte_id: int
    flag: str
    value: Decimal
    range_high: Decimal | None
    comparator: str = ""


@pytest.fixture
def rules():
    return list(Rule.objects.filter(active=True))


@pytest.fixture
def result(analytes):
    def make(code, flag, value, range_high, comparator=""):
        uln = None if range_high is None else Decimal(range_high)
        return FakeResult(analytes[code].pk, flag, Decimal(value), uln, comparator)

    return make


def codes(matches):
    """The matched rules' codes, sorted; "" for an abnormal result no rule covers."""
    return sorted((m.rule.code if m.rule else "") for m in matches)


# code, flag, value, upper limit applied -> the one main rule expected (None: no rule covers it, a rule-less finding)
SINGLE = [
    # Vitamin D: below 10 ng/mL is severe (strictly below: 10.0 is "low", not "severe").
    ("vitd25", "L", "9.9", "80", "vitamin-d-severe"),
    ("vitd25", "L", "10.0", "80", "vitamin-d-low"),
    ("vitd25", "L", "19.9", "80", "vitamin-d-low"),
    ("vitd25", "H", "95", "80", None),  # high vitamin D: no topic, still a finding
    ("mg", "L", "1.69", "2.60", "magnesium-low"),
    ("mg", "LL", "0.9", "2.60", "magnesium-low"),
    ("mg", "H", "2.7", "2.60", None),
    ("ca", "L", "8.5", "10.0", "calcium-low"),
    ("ca", "LL", "6.5", "10.0", "calcium-low"),
    ("ca", "H", "10.5", "10.0", None),
    ("k", "L", "3.4", "5.2", "potassium-low"),
    ("k", "LL", "2.7", "5.2", "potassium-low"),
    ("k", "H", "5.3", "5.2", "potassium-high"),
    ("k", "HH", "6.3", "5.2", "potassium-high"),
    ("carn_free", "L", "24", "54", "carnitine-free-low"),
    ("carn_free", "H", "60", "54", None),
    ("carn_total", "L", "33", "78", "carnitine-total-low"),
    ("vite", "L", "5.4", "17.0", "vitamin-e-low"),
    ("vite", "H", "18", "17.0", None),
    ("alb", "L", "3.4", "5.0", None),
    # CK, female ULN 192: exactly 5× (960) and 10× (1920) are not "more than".
    ("ck", "H", "193", "192", "ck-raised"),
    ("ck", "H", "960", "192", "ck-raised"),
    ("ck", "H", "960.01", "192", "ck-over-5x"),
    ("ck", "H", "1920", "192", "ck-over-5x"),
    ("ck", "H", "1920.01", "192", "ck-over-10x"),
    # Male ULN 308: 5× = 1540.
    ("ck", "H", "1540", "308", "ck-raised"),
    ("ck", "H", "1541", "308", "ck-over-5x"),
    ("ck", "H", "3081", "308", "ck-over-10x"),
]


@pytest.mark.parametrize("code, flag, value, uln, expected", SINGLE)
def test_each_abnormal_result_gets_one_main_finding(rules, result, code, flag, value, uln, expected):
    matches = match_rules([result(code, flag, value, uln)], rules)
    assert codes(matches) == [expected or ""]


# Censored values meet a threshold only when everything they admit does (female CK ULN 192).
CENSORED = [
    ("ck", "H", ">", "1000", "192", "ck-over-5x"),  # > 1000 proves > 960, not > 1920
    ("ck", "H", ">", "1920", "192", "ck-over-10x"),  # every admitted value is above 1920
    ("ck", "H", ">=", "1920", "192", "ck-over-5x"),  # admits 1920 itself, which is not over 10×
    ("ck", "H", ">", "500", "192", "ck-raised"),
    ("vitd25", "L", "<", "10", "80", "vitamin-d-severe"),  # everything below 10 is below 10
    ("vitd25", "L", "<=", "10", "80", "vitamin-d-low"),  # admits 10, not severe
    ("vitd25", "L", "<", "5", "80", "vitamin-d-severe"),
]


@pytest.mark.parametrize("code, flag, comparator, value, uln, expected", CENSORED)
def test_a_censored_value_claims_no_more_than_it_proves(rules, result, code, flag, comparator, value, uln, expected):
    assert codes(match_rules([result(code, flag, value, uln, comparator)], rules)) == [expected]


@pytest.mark.parametrize(
    "code, flag, value, uln",
    [("vitd25", "N", "20", "80"), ("k", "N", "3.5", "5.2"), ("ck", "N", "192", "192"), ("vitd25", "NR", "5", None)],
)
def test_normal_and_unranged_results_make_no_finding(rules, result, code, flag, value, uln):
    assert match_rules([result(code, flag, value, uln)], rules) == []


# A panel -> every rule expected (main findings and patterns).
PATTERNS = [
    (
        [("mg", "L", "1.5", "2.60"), ("k", "L", "3.1", "5.2")],
        ["magnesium-low", "magnesium-low-with-potassium-low", "potassium-low"],
    ),
    (
        [("mg", "LL", "0.9", "2.60"), ("k", "LL", "2.5", "5.2")],
        ["magnesium-low", "magnesium-low-with-potassium-low", "potassium-low"],
    ),
    # Low magnesium with HIGH potassium is not the pattern.
    ([("mg", "L", "1.5", "2.60"), ("k", "H", "5.6", "5.2")], ["magnesium-low", "potassium-high"]),
    # Normal potassium: no pattern.
    ([("mg", "L", "1.5", "2.60"), ("k", "N", "4.0", "5.2")], ["magnesium-low"]),
    (
        [("mg", "L", "1.5", "2.60"), ("ca", "L", "8.0", "10.0")],
        ["calcium-low", "magnesium-low", "magnesium-low-with-calcium-low"],
    ),
    (
        [("ca", "L", "8.0", "10.0"), ("alb", "L", "3.0", "5.0")],
        ["", "calcium-low", "calcium-low-with-albumin-low"],  # "": low albumin alone has no rule
    ),
    ([("ca", "L", "8.0", "10.0"), ("alb", "N", "4.0", "5.0")], ["calcium-low"]),
    # All three: magnesium first for both potassium and calcium, and calcium with albumin.
    (
        [("mg", "L", "1.4", "2.60"), ("k", "L", "3.2", "5.2"), ("ca", "L", "8.1", "10.0"), ("alb", "L", "3.1", "5.0")],
        [
            "",
            "calcium-low",
            "calcium-low-with-albumin-low",
            "magnesium-low",
            "magnesium-low-with-calcium-low",
            "magnesium-low-with-potassium-low",
            "potassium-low",
        ],
    ),
]


@pytest.mark.parametrize("panel, expected", PATTERNS)
def test_patterns_across_one_panel(rules, result, panel, expected):
    matches = match_rules([result(*values) for values in panel], rules)
    assert codes(matches) == expected


def test_a_pattern_names_its_partner(rules, result, analytes):
    magnesium, potassium = result("mg", "L", "1.5", "2.60"), result("k", "L", "3.1", "5.2")
    [pattern] = [m for m in match_rules([magnesium, potassium], rules) if m.partner is not None]
    assert (pattern.result, pattern.partner) == (magnesium, potassium)


def test_uln_multiple_needs_an_upper_limit(rules, result):
    # A CK with no upper limit applied cannot be judged as a multiple of it.
    assert codes(match_rules([result("ck", "H", "5000", None)], rules)) == ["ck-raised"]


def test_an_inactive_rule_is_not_matched(result):
    Rule.objects.filter(code="vitamin-d-severe").update(active=False)
    rules = list(Rule.objects.filter(active=True))
    assert codes(match_rules([result("vitd25", "L", "5", "80")], rules)) == ["vitamin-d-low"]


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"flags": "L,X"}, "flags", "Unknown flag(s) X"),
        ({"flags": ""}, "flags", "Give at least one flag"),
        ({"flags": "N"}, "flags", "Unknown flag(s) N"),
        ({"value_above": Decimal("20"), "value_below": Decimal("10")}, "value_above", "must be lower than"),
        ({"with_flags": ""}, "with_flags", "needs the flags of the other analyte"),
    ],
)
def test_rule_validation_names_the_field(changes, field, message):
    from django.core.exceptions import ValidationError

    rule = Rule.objects.get(code="magnesium-low-with-potassium-low")
    for name, value in changes.items():
        setattr(rule, name, value)
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert any(message in text for text in error.value.message_dict[field])
