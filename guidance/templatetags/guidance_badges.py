"""A finding's status and severity as words and colour (never colour alone). Tags rather than included
templates, as labs' flag badge: the worklist shows two per row, and an include cost about 19 µs each."""

from django import template

from core.templatetags.core import badge
from guidance.models import Finding, Severity

register = template.Library()

SEVERITY_COLOURS = {Severity.URGENT: "text-bg-danger", Severity.PROMPT: "text-bg-warning"}
STATUS_COLOURS = {
    Finding.Status.ACKNOWLEDGED: "text-bg-warning",
    Finding.Status.RESOLVED: "text-bg-secondary",
    Finding.Status.FOLLOW_UP_PLANNED: "text-bg-success",
    Finding.Status.NO_ACTION: "text-bg-success",
    Finding.Status.SUPERSEDED: "text-bg-secondary",
}


@register.simple_tag
def status_badge(finding):
    if finding.status == Finding.Status.OPEN:
        colour = "text-bg-danger" if finding.critical else "text-bg-warning"
    else:
        colour = STATUS_COLOURS[finding.status]
    return badge(colour, finding.get_status_display())


@register.simple_tag
def severity_badge(finding):
    return badge(SEVERITY_COLOURS.get(finding.severity, "text-bg-info"), finding.get_severity_display())


@register.simple_tag
def item_severity_badge(item):
    """A review item's severity: the most pressing of its findings' (guidance.findings.ReviewItem)."""
    return badge(SEVERITY_COLOURS.get(item.severity, "text-bg-info"), item.severity_label)
