"""A finding's status and severity badges: the words and colour for each value."""

import pytest
from django.template import Context, Template

from guidance.models import Finding

BADGES = Template("{% load guidance_badges %}{% status_badge finding %}|{% severity_badge finding %}")


@pytest.mark.parametrize(
    "status, critical, expected",
    [
        ("open", True, '<span class="badge flag text-bg-danger">Awaiting review</span>'),
        ("open", False, '<span class="badge flag text-bg-warning">Awaiting review</span>'),
        ("acknowledged", True, '<span class="badge flag text-bg-warning">Acknowledged, awaiting decision</span>'),
        ("follow-up-planned", False, '<span class="badge flag text-bg-success">Follow-up planned</span>'),
        ("no-action", False, '<span class="badge flag text-bg-success">No action needed</span>'),
        ("resolved", True, '<span class="badge flag text-bg-secondary">Resolved</span>'),
    ],
)
def test_status_badge(status, critical, expected):
    finding = Finding(status=status, critical=critical, severity="routine")
    assert BADGES.render(Context({"finding": finding})).split("|")[0] == expected


@pytest.mark.parametrize(
    "severity, expected",
    [
        ("urgent", '<span class="badge flag text-bg-danger">Urgent</span>'),
        ("prompt", '<span class="badge flag text-bg-warning">Prompt</span>'),
        ("routine", '<span class="badge flag text-bg-info">Routine</span>'),
    ],
)
def test_severity_badge(severity, expected):
    finding = Finding(status="open", critical=False, severity=severity)
    assert BADGES.render(Context({"finding": finding})).split("|")[1] == expected
