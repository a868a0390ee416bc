"""Patterns lead: a seeded pattern that explains plain findings of its panel (Rule.covers) makes one review
item, the pattern first and the plain findings it covers under it; a low calcium whose albumin-corrected
value is normal is routine and says so, without asking for the albumin the panel holds."""

import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from guidance import services
from guidance.findings import review_items
from guidance.management.commands.load_guidance_content import content_hash, rule_content
from guidance.models import Finding, Rule, Severity

pytestmark = pytest.mark.django_db

# Every seeded pattern and what it covers: written out here, so a change to rules.toml shows up.
SEEDED_COVERS = {
    "magnesium-low-with-potassium-low": Rule.Covers.BOTH,
    "magnesium-low-with-calcium-low": Rule.Covers.BOTH,
    "calcium-low-with-albumin-low": Rule.Covers.BOTH,
}


def test_every_seeded_pattern_says_what_it_covers():
    patterns = Rule.objects.filter(with_analyte__isnull=False)
    assert dict(patterns.values_list("code", "covers")) == SEEDED_COVERS
    assert set(Rule.objects.filter(with_analyte__isnull=True).values_list("covers", flat=True)) == {"none"}


def codes(findings):
    return sorted(finding.rule.code if finding.rule else "(no rule)" for finding in findings)


# (case, panel, the review's items: (lead's rule, the rules of the findings under it), severity of each item)
CASES = [
    (
        "magnesium with potassium",
        {"mg": "1.5", "k": "3.1"},
        [("magnesium-low-with-potassium-low", ["magnesium-low", "potassium-low"], Severity.PROMPT)],
    ),
    (
        # Albumin normal: the corrected calcium (7.84) is low too, so the calcium keeps its prompt severity.
        "magnesium with calcium",
        {"mg": "1.5", "ca": "8.0", "alb": "4.2"},
        [("magnesium-low-with-calcium-low", ["calcium-low", "magnesium-low"], Severity.PROMPT)],
    ),
    (
        # The example: corrected calcium 8.8, normal. One routine item, not three findings.
        "calcium with albumin",
        {"ca": "8.0", "alb": "3.0"},
        [("calcium-low-with-albumin-low", ["(no rule)", "calcium-low"], Severity.ROUTINE)],
    ),
    (
        # Both magnesium patterns would cover the low magnesium: it goes under the first found (rules of
        # one priority are matched in code order, so "…-with-calcium-low" first).
        "magnesium, potassium and calcium",
        {"mg": "1.5", "k": "3.1", "ca": "8.0", "alb": "4.2"},
        [
            ("magnesium-low-with-calcium-low", ["calcium-low", "magnesium-low"], Severity.PROMPT),
            ("magnesium-low-with-potassium-low", ["potassium-low"], Severity.PROMPT),
        ],
    ),
    (
        # The low calcium goes under the pattern about it (with the albumin), not under the magnesium's.
        "magnesium, calcium and albumin",
        {"mg": "1.5", "ca": "8.0", "alb": "3.0"},
        [
            ("calcium-low-with-albumin-low", ["(no rule)", "calcium-low"], Severity.ROUTINE),
            ("magnesium-low-with-calcium-low", ["magnesium-low"], Severity.PROMPT),
        ],
    ),
    (
        "no pattern",
        {"vitd25": "15", "ck": "300"},
        [("ck-raised", [], Severity.ROUTINE), ("vitamin-d-low", [], Severity.ROUTINE)],
    ),
]


@pytest.mark.parametrize("case, values, expected", CASES, ids=[case[0] for case in CASES])
def test_a_pattern_leads_the_plain_findings_it_covers(record, patient, case, values, expected):
    record(patient, values)
    items = review_items(Finding.objects.select_related("rule"))
    shown = [(item.lead.rule.code, codes(item.covered), item.severity) for item in items]
    assert sorted(shown) == sorted(expected)
    assert sum(len(item.findings) for item in items) == Finding.objects.count()


def test_a_critical_item_comes_first(record, patient):
    record(patient, {"vitd25": "15", "k": "2.5", "mg": "1.5"})
    items = review_items(Finding.objects.select_related("rule"))
    assert items[0].lead.rule.code == "magnesium-low-with-potassium-low"
    assert items[0].critical is True
    assert items[0].severity == Severity.URGENT


def test_a_low_calcium_the_albumin_explains_is_routine_and_says_so(record, patient):
    record(patient, {"ca": "8.0", "alb": "3.0"})
    calcium = Finding.objects.get(rule__code="calcium-low")
    assert calcium.severity == Severity.ROUTINE
    assert calcium.summary == (
        "Calcium, total 8.0 mg/dL, low, but the albumin-corrected calcium is 8.80 mg/dL, normal "
        "(range 8.6–10.0 mg/dL): the albumin in this panel explains the low total calcium, which is not true "
        "hypocalcaemia, so this is routine. Payne 1973. Check ionized calcium where it matters."
    )
    assert "check albumin" not in calcium.summary


@pytest.mark.parametrize(
    "values, severity, says",
    [
        # No albumin in the panel: the rule's own text, asking for it.
        ({"ca": "8.0"}, Severity.PROMPT, "check albumin (corrected calcium)"),
        # Albumin normal and the corrected value still low: not explained by the albumin.
        ({"ca": "8.0", "alb": "4.2"}, Severity.PROMPT, "7.84 mg/dL (low, range 8.6–10.0 mg/dL), so the albumin"),
        # Albumin below 2.5 g/dL: the correction is unreliable, so the calcium is not called routine.
        ({"ca": "8.0", "alb": "2.2"}, Severity.PROMPT, "check albumin (corrected calcium)"),
    ],
)
def test_a_low_calcium_the_albumin_does_not_explain_keeps_its_severity(record, patient, values, severity, says):
    record(patient, values)
    calcium = Finding.objects.get(rule__code="calcium-low")
    assert calcium.severity == severity
    assert says in calcium.summary


def test_correcting_the_albumin_so_it_no_longer_explains_the_calcium_opens_a_new_finding(record, patient, clinician):
    record(patient, {"ca": "8.0", "alb": "3.0"})
    albumin = patient.results.get(analyte__code="alb")
    services.correct_result(
        albumin, value=Decimal("4.2"), unit=albumin.analyte.units.get(unit="g/dL"), reason="Typo", by=clinician
    )
    calcium = Finding.objects.filter(rule__code="calcium-low")
    assert sorted(calcium.values_list("status", "severity")) == [("open", "prompt"), ("resolved", "routine")]


def test_a_plain_rule_cannot_cover_findings(analytes):
    rule = Rule.objects.get(code="calcium-low")
    rule.covers = Rule.Covers.BOTH
    with pytest.raises(ValidationError, match="Only a pattern"):
        rule.full_clean()


def test_an_installed_pattern_from_before_covers_is_a_newer_shipped_version(analytes):
    """An installation whose patterns predate `covers` (so 'none', and the hash of the content without it):
    the load reports them as updates nobody here has changed, and --update-unchanged takes them."""
    pattern = Rule.objects.select_related("analyte", "with_analyte", "topic").get(code="calcium-low-with-albumin-low")
    pattern.covers = Rule.Covers.NONE
    Rule.objects.filter(pk=pattern.pk).update(covers="none", shipped_hash=content_hash(rule_content(pattern)))
    out = io.StringIO()
    call_command("load_guidance_content", stdout=out)
    assert (
        "Rule calcium-low-with-albumin-low: the shipped version (rules.toml, rule 'calcium-low-with-albumin-low') "
        "is newer and nobody has changed this one here" in out.getvalue()
    )
    call_command("load_guidance_content", "--update-unchanged", stdout=io.StringIO())
    assert Rule.objects.get(code="calcium-low-with-albumin-low").covers == Rule.Covers.BOTH
