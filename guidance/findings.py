"""What a finding says: an unsaved Finding built from a rule match (guidance.rules.match_rules).

guidance.services.evaluate_panel opens findings with build_finding, and so does the synthetic data
generator, so synthetic findings change when these rules change. Nothing here queries the database
when the caller has loaded what it reads: each result's analyte and each rule's relevant factors.
"""

import datetime

from labs.derived import derived_for_panel

from .models import Finding, Severity
from .rules import Match, specimen_caveat


def build_finding(
    match: Match, *, factor_names: dict, opened_at: datetime.datetime, specimen_condition: str | None = None
) -> Finding:
    """The finding `match` calls for, open, unsaved. `factor_names` are the patient's contributing
    factors (pk → name), for the summary; `specimen_condition` the code of the panel's specimen condition
    (a haemolysed sample puts a caveat first on a high potassium). The result's patient and ids are
    copied as they stand, so a caller building findings for results not yet saved sets the ids once they
    are."""
    caveat = specimen_caveat(match.result.analyte.code, match.result.flag, specimen_condition)
    summary = finding_summary(match, factor_names)
    return Finding(
        patient_id=match.result.patient_id,
        result=match.result,
        partner_result=match.partner,
        rule=match.rule,
        topic_id=match.rule.topic_id if match.rule else None,  # the id only: topics' long texts are not read
        severity=finding_severity(match),
        critical=match.result.is_critical,
        summary=f"{caveat} {summary}" if caveat else summary,
        created_at=opened_at,
    )


def finding_severity(match: Match) -> str:
    """Urgent for a critical result, otherwise the rule's severity (routine when no rule covers it)."""
    if match.result.is_critical:
        return Severity.URGENT
    return match.rule.severity if match.rule else Severity.ROUTINE


def finding_summary(match: Match, factor_names: dict) -> str:
    """The finding's one-paragraph summary: the value(s), the rule's text, derived values of a pair,
    and the patient's contributing factors that bear on the rule."""
    result = match.result
    value = f"{result.analyte.name} {result.display_value} {result.analyte.canonical_unit}"
    if match.partner is not None:
        partner = match.partner
        value += f" with {partner.analyte.name.lower()} {partner.display_value} {partner.analyte.canonical_unit}"
    if match.rule is None:
        return (
            f"{value}, {result.get_flag_display().lower()}: no guidance rule covers this result; "
            "review it with the full clinical picture."
        )
    text = f"{value}. {match.rule.summary}"
    if match.partner is not None:
        # What the pair of results works out to (e.g. albumin-corrected calcium), so the finding says it.
        for derived in derived_for_panel([result, match.partner]):
            flag = derived.flag.label.lower()
            text += (
                f" {derived.name}: {derived.value} {derived.unit} ({flag}, range {derived.range_text}). {derived.note}"
            )
    named = [factor_names[f.pk] for f in match.rule.relevant_factors.all() if f.pk in factor_names]
    if named:
        text += f" Recorded for this patient and relevant here: {', '.join(named)}."
    return text
