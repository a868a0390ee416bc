"""Delta rules: the pure check (labs.deltas) at every boundary, censored values ("<5") included, the
rule's own validation, the shipped defaults and the admin."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from labs.deltas import delta, describe_change
from labs.models import Analyte, DeltaRule

D = Decimal
T0 = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)


def rule(kind, *, limit=None, cvi=None, cva=None, z="1.96", window_days=7):
    return DeltaRule(
        kind=kind, limit=limit, cv_within_subject=cvi, cv_analytical=cva, z=D(z), window_days=window_days, source="test"
    )


ABSOLUTE_1 = rule(DeltaRule.Kind.ABSOLUTE, limit=D("1.0"))
PERCENT_20 = rule(DeltaRule.Kind.PERCENT, limit=D("20"))
# √2 × 1.96 × √(2² + 5²) = 14.93… → 14.9 %
RCV_K = rule(DeltaRule.Kind.RCV, cvi=D("5.0"), cva=D("2.0"))


@pytest.mark.parametrize(
    "the_rule, previous, current, fires, change, percent",
    [
        # absolute: a change equal to the limit does not fire, just above does, in both directions
        (ABSOLUTE_1, "4.0", "5.0", False, "1.0", "25.0"),
        (ABSOLUTE_1, "4.0", "5.0001", True, "1.0001", "25.0"),
        (ABSOLUTE_1, "5.0", "3.9999", True, "-1.0001", "-20.0"),
        (ABSOLUTE_1, "5.0", "4.0", False, "-1.0", "-20.0"),
        # percent of the previous value
        (PERCENT_20, "4.0", "4.8", False, "0.8", "20.0"),
        (PERCENT_20, "4.0", "4.8004", True, "0.8004", "20.0"),
        (PERCENT_20, "5.0", "3.9999", True, "-1.0001", "-20.0"),
        (PERCENT_20, "5.0", "4.0", False, "-1.0", "-20.0"),
        # a percentage from 0 is undefined: never fires (the admin refuses percent rules where 0 is possible)
        (PERCENT_20, "0", "4.0", False, "4.0", None),
        # reference change value 14.9 %: 10 → 11.49 is 14.9 %, 11.4901 is above
        (RCV_K, "10", "11.49", False, "1.49", "14.9"),
        (RCV_K, "10", "11.4901", True, "1.4901", "14.9"),
        (RCV_K, "10", "8.51", False, "-1.49", "-14.9"),
        (RCV_K, "10", "8.5099", True, "-1.4901", "-14.9"),
        # the example: potassium 3.6 → 5.1 two days later, both within range
        (RCV_K, "3.6", "5.1", True, "1.5", "41.7"),
    ],
)
def test_delta_fires_only_beyond_the_limit(the_rule, previous, current, fires, change, percent):
    found = delta(
        the_rule,
        value=D(current),
        collected_at=T0 + datetime.timedelta(days=2),
        previous_value=D(previous),
        previous_at=T0,
    )
    assert found.fires is fires
    assert found.change == D(change)
    assert found.percent == (D(percent) if percent is not None else None)
    assert found.previous_value == D(previous)
    assert found.previous_at == T0


@pytest.mark.parametrize(
    "the_rule, previous, current, fires, change",
    [
        # "<" after an exact value: it fell by at least previous − limit of detection
        (ABSOLUTE_1, ("", "5.0"), ("<", "3.9"), True, "-1.1"),
        (ABSOLUTE_1, ("", "5.0"), ("<", "4.0"), False, "-1.0"),  # at least −1.0: equal to the limit
        (ABSOLUTE_1, ("", "3.0"), ("<", "4.0"), False, "0"),  # could have risen or fallen: not judged
        # ">" after an exact value: it rose by at least the bound − previous
        (ABSOLUTE_1, ("", "3.0"), (">", "4.5"), True, "1.5"),
        (ABSOLUTE_1, ("", "5.0"), (">=", "4.5"), False, "0"),
        # an exact value after a censored one
        (ABSOLUTE_1, ("<", "2.0"), ("", "3.5"), True, "1.5"),
        (ABSOLUTE_1, ("<=", "2.0"), ("", "1.0"), False, "0"),
        (ABSOLUTE_1, (">", "9.0"), ("", "7.5"), True, "-1.5"),
        # both censored on the same side: nothing is known of the change
        (ABSOLUTE_1, ("<", "5.0"), ("<", "5.0"), False, "0"),
        (ABSOLUTE_1, (">", "1000"), (">", "1000"), False, "0"),
        # opposite sides: at least the distance between the bounds
        (ABSOLUTE_1, ("<", "2.0"), (">", "4.0"), True, "2.0"),
        # a percentage: a rise is judged on the previous value's highest admitted value...
        (PERCENT_20, ("<", "4.0"), ("", "4.9"), True, "0.9"),  # at least 0.9 on at most 4.0: > 20 %
        (PERCENT_20, ("<", "4.0"), ("", "4.8"), False, "0.8"),  # 0.8 on 4.0: exactly 20 %
        # ...a fall on its lowest: after "<4" (as low as 0) no fall is known at all
        (PERCENT_20, ("", "10"), ("<", "7.9"), True, "-2.1"),
        (PERCENT_20, ("", "10"), ("<", "8.0"), False, "-2.0"),
        (PERCENT_20, (">", "10"), ("", "7.9"), True, "-2.1"),
    ],
)
def test_a_censored_value_fires_only_when_every_change_it_admits_would(the_rule, previous, current, fires, change):
    found = delta(
        the_rule,
        value=D(current[1]),
        comparator=current[0],
        collected_at=T0 + datetime.timedelta(days=2),
        previous_value=D(previous[1]),
        previous_comparator=previous[0],
        previous_at=T0,
    )
    assert (found.fires, found.change, found.percent, found.censored) == (fires, D(change), None, True)


@pytest.mark.django_db
def test_the_words_for_a_change_from_or_to_a_censored_value_say_the_least_it_is():
    vitamin_d = Analyte.objects.get(code="vitd25")
    at = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    assert (
        describe_change(vitamin_d, D("5"), D("20"), at, comparator="<")
        == "Δ at least −15.0 ng/mL from 20.0 on 1 Mar 2026"
    )
    assert describe_change(vitamin_d, D("30"), D("5"), at, previous_comparator="<") == (
        "Δ at least +25.0 ng/mL from <5.0 on 1 Mar 2026"
    )
    assert describe_change(vitamin_d, D("30"), D("20"), at) == "Δ +10.0 ng/mL (+50.0 %) from 20.0 on 1 Mar 2026"


@pytest.mark.parametrize(
    "elapsed, compared",
    [
        (datetime.timedelta(days=7), True),  # exactly the window: inside
        (datetime.timedelta(days=7, seconds=1), False),  # a second more: outside
        (datetime.timedelta(seconds=1), True),
        (datetime.timedelta(0), False),  # collected at the same time: not a previous result
        (datetime.timedelta(days=-1), False),  # collected after: not a previous result
    ],
)
def test_delta_compares_only_inside_the_window(elapsed, compared):
    found = delta(ABSOLUTE_1, value=D("9"), collected_at=T0 + elapsed, previous_value=D("1"), previous_at=T0)
    assert (found is not None) is compared
    if compared:
        assert found.fires is True


@pytest.mark.parametrize(
    "cvi, cva, z, expected",
    [
        ("5.0", "2.0", "1.96", "14.9"),  # potassium default
        ("2.0", "2.0", "1.96", "7.8"),  # calcium and magnesium defaults
        ("5.0", "2.0", "2.58", "19.6"),  # 99 %: 1.4142 × 2.58 × 5.3852 = 19.65
        ("3", "4", "1", "7.1"),  # √2 × 5
    ],
)
def test_reference_change_value(cvi, cva, z, expected):
    assert rule(DeltaRule.Kind.RCV, cvi=D(cvi), cva=D(cva), z=z).percent_limit == D(expected)


@pytest.mark.django_db
class TestValidation:
    @pytest.fixture
    def potassium(self, analytes):
        return Analyte.objects.get(code="k")

    def errors(self, **fields):
        fields.setdefault("source", "test")
        fields.setdefault("window_days", 7)
        with pytest.raises(ValidationError) as caught:
            DeltaRule(**fields).full_clean(validate_constraints=False)
        return caught.value.message_dict

    @pytest.mark.parametrize("limit", ["0", "-1"])
    def test_zero_or_negative_limit_is_refused(self, potassium, limit):
        errors = self.errors(analyte=potassium, kind=DeltaRule.Kind.ABSOLUTE, limit=D(limit))
        assert errors["limit"] == [f"The limit must be greater than zero (you gave {limit})."]

    def test_missing_limit_is_refused(self, potassium):
        errors = self.errors(analyte=potassium, kind=DeltaRule.Kind.PERCENT)
        assert errors["limit"] == ["Give the limit: the change that fires this rule."]

    def test_zero_window_is_refused(self, potassium):
        errors = self.errors(analyte=potassium, kind=DeltaRule.Kind.ABSOLUTE, limit=D("1"), window_days=0)
        assert errors["window_days"] == ["The window must be at least 1 day (you gave 0)."]

    def test_rcv_needs_both_cvs_above_zero_and_no_limit(self, potassium):
        errors = self.errors(analyte=potassium, kind=DeltaRule.Kind.RCV, limit=D("5"), cv_within_subject=D("0"))
        assert errors["limit"] == ["Leave the limit empty for a reference change value: it is computed from the CVs."]
        assert errors["cv_within_subject"] == [
            "A reference change value needs the within-subject biological CV (CVI, %) above zero (you gave 0)."
        ]
        assert errors["cv_analytical"] == [
            "A reference change value needs the analytical CV (CVA, %) above zero (you gave nothing)."
        ]

    @pytest.mark.parametrize("kind", [DeltaRule.Kind.PERCENT, DeltaRule.Kind.RCV])
    def test_a_percentage_on_an_analyte_that_accepts_zero_is_refused(self, potassium, kind):
        potassium.plausible_low = D("0")
        fields = (
            {"limit": D("20")}
            if kind == DeltaRule.Kind.PERCENT
            else {"cv_within_subject": D("5"), "cv_analytical": D("2")}
        )
        errors = self.errors(analyte=potassium, kind=kind, **fields)
        assert errors["kind"] == [
            "A percentage change is undefined from a previous value of 0, and Potassium accepts values down "
            "to 0: use an absolute change."
        ]

    def test_absolute_on_an_analyte_that_accepts_zero_is_accepted(self, potassium):
        potassium.plausible_low = D("0")
        DeltaRule(analyte=potassium, kind=DeltaRule.Kind.ABSOLUTE, limit=D("1"), window_days=7, source="x").full_clean(
            validate_constraints=False
        )


@pytest.mark.django_db
def test_shipped_defaults_name_their_source(analytes):
    rules = {rule.analyte.code: rule for rule in DeltaRule.objects.select_related("analyte")}
    assert sorted(rules) == ["ca", "k", "mg"]
    assert rules["k"].describe() == "change > 14.9 % (reference change value) within 7 days"
    assert rules["ca"].describe() == "change > 7.8 % (reference change value) within 7 days"
    for shipped in rules.values():
        assert "Cotlove" in shipped.source
        assert "replace with your laboratory's own" in shipped.source


@pytest.mark.django_db
class TestAdmin:
    URL = "/admin/labs/deltarule/"

    def test_admin_shows_the_rules_and_their_sources(self, admin_client_):
        response = admin_client_.get(self.URL)
        assert response.status_code == 200
        assert "change &gt; 14.9 % (reference change value) within 7 days" in response.content.decode()
        rule = DeltaRule.objects.get(analyte__code="k")
        page = admin_client_.get(f"{self.URL}{rule.pk}/change/").content.decode()
        assert "Cotlove, Harris &amp; Williams" in page
        assert "14.9 % = √2 × Z × √(CVA² + CVI²)" in page

    def test_admin_refuses_a_zero_window_and_changes_nothing(self, admin_client_):
        rule = DeltaRule.objects.get(analyte__code="k")
        response = admin_client_.post(
            f"{self.URL}{rule.pk}/change/",
            {
                "analyte": rule.analyte_id,
                "kind": "absolute",
                "limit": "-1",
                "cv_within_subject": "",
                "cv_analytical": "",
                "z": "1.96",
                "window_days": "0",
                "source": "mine",
                "active": "on",
            },
        )
        assert response.status_code == 200
        page = response.content.decode()
        assert "The limit must be greater than zero (you gave -1)." in page
        assert "The window must be at least 1 day (you gave 0)." in page
        rule.refresh_from_db()
        assert (rule.kind, rule.window_days, rule.source.startswith("CVI 5 %")) == ("rcv", 7, True)

    def test_clinician_cannot_change_rules(self, clinician_client):
        assert clinician_client.get(self.URL).status_code == 302  # not staff: the admin sends to its login
