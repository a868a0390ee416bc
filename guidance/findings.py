"""What a finding says: an unsaved Finding built from a rule match (guidance.rules.match_rules).

guidance.services.evaluate_panel opens findings with build_finding, and so does the synthetic data
generator, so synthetic findings change when these rules change. Nothing here queries the database
when the caller has loaded what it reads: each result's analyte and each rule's relevant factors.
"""

import datetime
from dataclasses import dataclass, field

from labs.derived import LOW_ALBUMIN_FOR_CORRECTION, DerivedValue, derived_for_panel
from labs.interpretation import Flag

from .models import Finding, Rule, Severity
from .rules import Match, specimen_caveat

CORRECTED_CALCIUM = "Albumin-corrected calcium"  # the name labs.derived gives it


def build_finding(
    match: Match,
    *,
    factor_names: dict,
    opened_at: datetime.datetime,
    panel_results=(),
    specimen_condition: str | None = None,
) -> Finding:
    """The finding `match` calls for, open, unsaved. `factor_names` are the patient's contributing
    factors (pk → name), for the summary; `panel_results`, the panel's valid results, for what they
    say about this one (a low calcium with the albumin in the same panel); `specimen_condition` the code
    of the panel's specimen condition (a haemolysed sample puts a caveat first on a high potassium). The
    result's patient and ids are copied as they stand, so a caller building findings for results not yet
    saved sets the ids once they are."""
    corrected = corrected_calcium_for(match, panel_results)
    caveat = specimen_caveat(match.result.analyte.code, match.result.flag, specimen_condition)
    summary = finding_summary(match, factor_names, corrected)
    return Finding(
        patient_id=match.result.patient_id,
        result=match.result,
        panel_id=match.result.panel_id,
        collected_at=match.result.collected_at,
        partner_result=match.partner,
        rule=match.rule,
        topic_id=match.rule.topic_id if match.rule else None,  # the id only: topics' long texts are not read
        severity=finding_severity(match, corrected),
        critical=match.result.is_critical,
        summary=f"{caveat} {summary}" if caveat else summary,
        created_at=opened_at,
    )


def corrected_calcium_for(match: Match, panel_results) -> DerivedValue | None:
    """For a calcium's own finding (not a pattern's) in a panel that holds the albumin: the
    albumin-corrected calcium, which says whether the calcium is low in truth. None without an albumin,
    or with one below 2.5 g/dL, where the correction is unreliable (labs.derived)."""
    result = match.result
    if match.partner is not None or result.analyte.code != "ca":
        return None
    albumin = next((other for other in panel_results if other.analyte.code == "alb"), None)
    if albumin is None or albumin.value < LOW_ALBUMIN_FOR_CORRECTION:
        return None
    return next((value for value in derived_for_panel(panel_results) if value.name == CORRECTED_CALCIUM), None)


def finding_severity(match: Match, corrected: DerivedValue | None = None) -> str:
    """Urgent for a critical result; routine for a low calcium whose albumin-corrected value is normal
    (the albumin explains it); otherwise the rule's severity (routine when no rule covers it)."""
    if match.result.is_critical:
        return Severity.URGENT
    if corrected is not None and corrected.flag == Flag.NORMAL:
        return Severity.ROUTINE
    return match.rule.severity if match.rule else Severity.ROUTINE


def finding_summary(match: Match, factor_names: dict, corrected: DerivedValue | None = None) -> str:
    """The finding's one-paragraph summary: the value(s), the rule's text, derived values of a pair,
    and the patient's contributing factors that bear on the rule. A low calcium whose albumin-corrected
    value is normal says so instead of asking for the albumin the panel already holds."""
    result = match.result
    value = f"{result.analyte.name} {result.display_value} {result.analyte.canonical_unit}"
    if corrected is not None and corrected.flag == Flag.NORMAL and not result.is_critical:
        return (
            f"{value}, {result.get_flag_display().lower()}, but the albumin-corrected calcium is {corrected.value} "
            f"{corrected.unit}, normal (range {corrected.range_text}): the albumin in this panel explains the low "
            f"total calcium, which is not true hypocalcaemia, so this is routine. {corrected.note}"
        )
    if match.partner is not None:
        partner = match.partner
        value += f" with {partner.analyte.name.lower()} {partner.display_value} {partner.analyte.canonical_unit}"
    if match.rule is None:
        return (
            f"{value}, {result.get_flag_display().lower()}: no guidance rule covers this result; "
            "review it with the full clinical picture."
        )
    text = f"{value}. {match.rule.summary}"
    if corrected is not None:
        flag = corrected.flag.label.lower()
        text += (
            f" The albumin is in this panel: albumin-corrected calcium {corrected.value} {corrected.unit} ({flag}, "
            f"range {corrected.range_text}), so the albumin does not explain it. {corrected.note}"
        )
    if match.partner is not None:
        # What the pair of results works out to (e.g. albumin-corrected calcium), so the finding says it.
        for derived in derived_for_panel([result, match.partner]):
            flag = derived.flag.label.lower()
            text += (
                f" {derived.name}: {derived.value} {derived.unit} ({flag}, range {derived.range_text}). {derived.note}"
            )
    # A patient without contributing factors needs no look at the rule's (evaluate_panel then reads none).
    named = (
        [factor_names[f.pk] for f in match.rule.relevant_factors.all() if f.pk in factor_names] if factor_names else []
    )
    if named:
        text += f" Recorded for this patient and relevant here: {', '.join(named)}."
    return text


SEVERITY_ORDER = [Severity.URGENT, Severity.PROMPT, Severity.ROUTINE]


@dataclass
class ReviewItem:
    """What the review shows as one item and decides together: a finding, and when it is a pattern, the
    plain findings of its panel that the pattern explains (Rule.covers) under it."""

    lead: Finding
    covered: list[Finding] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [self.lead, *self.covered]

    @property
    def critical(self) -> bool:
        return any(finding.critical for finding in self.findings)

    @property
    def severity(self) -> str:
        """The most pressing of its findings' severities: a pattern does not make a finding under it wait longer."""
        return min((finding.severity for finding in self.findings), key=SEVERITY_ORDER.index)

    @property
    def severity_label(self) -> str:
        return Severity(self.severity).label


def review_items(findings) -> list[ReviewItem]:
    """One panel's findings as review items, critical first, then the most pressing, then in order found.

    Each pattern whose rule covers plain findings (Rule.covers) leads an item holding the plain findings
    (among `findings`) of the results it covers. A plain finding two patterns would cover goes under the
    one that is about its result (low calcium with low albumin, for the low calcium) before one where its
    result is the other one (low magnesium with low calcium), then under the first found (by id). Every
    other finding is an item of its own. Pure: reads each finding's `rule.covers`, and ids.
    """
    findings = sorted(findings, key=lambda finding: finding.pk)
    plain_by_result = {}
    for finding in findings:
        if finding.partner_result_id is None:
            plain_by_result.setdefault(finding.result_id, []).append(finding)
    patterns = {
        finding.pk: ReviewItem(finding)
        for finding in findings
        if finding.partner_result_id and finding.rule_id and finding.rule.covers != Rule.Covers.NONE
    }
    claimed = set(patterns)
    sides = [
        (lambda item: item.lead.result_id, (Rule.Covers.RESULT, Rule.Covers.BOTH)),
        (lambda item: item.lead.partner_result_id, (Rule.Covers.PARTNER, Rule.Covers.BOTH)),
    ]
    for result_of, covering in sides:
        for item in patterns.values():
            if item.lead.rule.covers not in covering:
                continue
            for plain in plain_by_result.get(result_of(item), []):
                if plain.pk not in claimed:
                    item.covered.append(plain)
                    claimed.add(plain.pk)
    items = [*patterns.values(), *(ReviewItem(finding) for finding in findings if finding.pk not in claimed)]
    for item in items:
        item.covered.sort(key=lambda finding: finding.pk)
    return sorted(items, key=lambda item: (not item.critical, SEVERITY_ORDER.index(item.severity), item.lead.pk))
