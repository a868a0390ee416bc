from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from core.templatetags.core import badge
from labs.deltas import describe_change
from labs.interpretation import CRITICAL_FLAGS, Flag

register = template.Library()

FLAG_BADGE_COLOURS = {
    Flag.CRITICAL_LOW: "text-bg-danger",
    Flag.CRITICAL_HIGH: "text-bg-danger",
    Flag.LOW: "text-bg-warning",
    Flag.HIGH: "text-bg-warning",
    Flag.NORMAL: "text-bg-success",
}


@register.simple_tag
def flag_badge(flag, label):
    """A flag as words and colour; critical flags add a warning sign. A tag, not an included template:
    the patient page and the worklist show dozens of them, and each include cost about 17 µs where
    this costs 3."""
    return badge(FLAG_BADGE_COLOURS.get(flag, "text-bg-secondary"), f"⚠ {label}" if flag in CRITICAL_FLAGS else label)


@register.simple_tag
def result_value(result):
    """A result in one line: analyte, value and unit, and its flag badge (the worklist's rows have one or
    two each: a tag, like flag_badge, for the same reason)."""
    analyte = result.analyte
    return format_html(
        '<span class="text-nowrap">{} <strong>{} {}</strong></span>\n{}{}',
        analyte.name,
        result.display_value,
        analyte.canonical_unit,
        flag_badge(result.flag, result.get_flag_display()),
        preliminary_mark(result),
    )


@register.simple_tag
def preliminary_mark(result):
    """ " (preliminary)" after a value the laboratory has not made final yet (OBX-11 P), else nothing."""
    return mark_safe(" <small>(preliminary)</small>") if result.status == "preliminary" else ""  # noqa: S308 - constant markup


@register.simple_tag
def delta_text(result, previous_result):
    """The change of `result` from `previous_result` (labs.deltas.describe_change), marked for styling."""
    return _delta_span(result, previous_result.value, previous_result.collected_at, previous_result.comparator)


def _delta_span(result, previous_value, previous_at, previous_comparator):
    change = describe_change(
        result.analyte,
        result.value,
        previous_value,
        previous_at,
        comparator=result.comparator,
        previous_comparator=previous_comparator,
    )
    return format_html('<span class="delta">{}</span>', change)


@register.simple_tag
def cumulative_cell(cell):
    """One cell of the cumulative view (labs.cumulative): value, unit and flag kept on one line, then the
    change when a delta rule fires. Empty when the test was not measured at that time."""
    if cell is None:
        return mark_safe('<td class="text-body-secondary"><span class="visually-hidden">not measured</span></td>')
    result = cell.result
    analyte = result.analyte
    if result.is_entered_in_error:
        return format_html(
            '<td class="text-body-secondary"><span class="text-nowrap"><s>{} {}</s> <small>entered in error</small></span></td>',
            result.display_value,
            analyte.canonical_unit,
        )
    # The flag's code (L, H, LL, HH, NR) keeps the cell narrow; its name is the tooltip and the caption's key.
    flag = (
        ""
        if result.flag == Flag.NORMAL
        else format_html('<span title="{}">{}</span>', result.get_flag_display(), flag_badge(result.flag, result.flag))
    )
    corrected = (
        format_html(' <small title="{}">{}</small>', result.status_reason, result.status)
        if result.status in ("corrected", "preliminary")
        else ""
    )
    change = ""
    if cell.delta is not None:
        change = format_html(
            '<small class="d-block border border-warning rounded px-1 mt-1">{}</small>',
            _delta_span(result, cell.delta.previous_value, cell.delta.previous_at, cell.delta.previous_comparator),
        )
    return format_html(
        '<td><span class="text-nowrap"><strong>{}</strong> <small>{}</small> {}</span>{}{}</td>',
        result.display_value,
        analyte.canonical_unit,
        flag,
        corrected,
        change,
    )
