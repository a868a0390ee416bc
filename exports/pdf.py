"""The patient summary as a PDF, laid out with ReportLab (pure Python) around the trend charts (JPEG).

The page is A4 with margins that keep everything inside US Letter's printable area too (content is
180 mm wide, and ends 25 mm above A4's foot, above Letter's), so it prints on either paper.
Text uses DejaVu Sans, the font matplotlib ships, so any name, accent or symbol prints; the fonts are
read once per process, not per request.
"""

import io
from pathlib import Path
from xml.sax.saxutils import escape

import matplotlib
from django.utils import timezone
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.text import CLINICAL_NOTICE, display_name
from labs.deltas import describe_change
from labs.interpretation import CRITICAL_FLAGS, Flag
from labs.trends import LEGEND, Trend

from .summary import Summary

# Binary streams: ReportLab's pure-Python ASCII85 encoding of images would cost more than the rest.
rl_config.useA85 = 0

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
pdfmetrics.registerFont(TTFont("DejaVu", FONT_DIR / "DejaVuSans.ttf"))
pdfmetrics.registerFont(TTFont("DejaVu-Bold", FONT_DIR / "DejaVuSans-Bold.ttf"))
pdfmetrics.registerFontFamily("DejaVu", normal="DejaVu", bold="DejaVu-Bold", italic="DejaVu", boldItalic="DejaVu-Bold")

CONTENT_WIDTH = 180 * mm
CHART_HEIGHT = CONTENT_WIDTH * 2.7 / 7.5  # the chart figure's aspect ratio (charts.trend_figure)
FLAG_COLOURS = {
    Flag.NORMAL: colors.HexColor("#19693c"),
    Flag.LOW: colors.HexColor("#a04600"),
    Flag.HIGH: colors.HexColor("#a04600"),
    Flag.CRITICAL_LOW: colors.HexColor("#b02a37"),
    Flag.CRITICAL_HIGH: colors.HexColor("#b02a37"),
    Flag.NO_RANGE: colors.HexColor("#5a5a5a"),
}
BODY = ParagraphStyle("body", fontName="DejaVu", fontSize=9, leading=11.5, spaceAfter=2)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7.5, leading=9.5)
TITLE = ParagraphStyle("title", parent=BODY, fontName="DejaVu-Bold", fontSize=16, leading=20, spaceAfter=4)
HEADING = ParagraphStyle(
    "heading", parent=BODY, fontName="DejaVu-Bold", fontSize=12, leading=15, spaceBefore=8, spaceAfter=4
)
TABLE_STYLE = TableStyle(
    [
        ("FONTNAME", (0, 0), (-1, -1), "DejaVu"),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9ecef")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#adb5bd")),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
)


def text(value, style=BODY):
    """A paragraph of plain text: anything from the database is escaped, never read as markup."""
    return Paragraph(escape(str(value)), style)


def bold(value, style=BODY):
    return Paragraph(f"<b>{escape(str(value))}</b>", style)


def flag_cell(result):
    warning = "⚠ " if result.flag in CRITICAL_FLAGS else ""
    colour = FLAG_COLOURS[result.flag].hexval().replace("0x", "#")
    return Paragraph(f'<font color="{colour}"><b>{warning}{escape(result.get_flag_display())}</b></font>', BODY)


def render_summary_pdf(summary: Summary) -> bytes:
    patient = summary.patient
    exported = timezone.localtime(summary.exported_at)
    title = f"Patient summary: {patient.full_name} ({patient.mrn})"

    story = [
        text("Patient summary", TITLE),
        bold(f"{patient.full_name} · MRN {patient.mrn}", ParagraphStyle("name", parent=BODY, fontSize=12, leading=15)),
        text(
            f"Born {patient.date_of_birth:%d %b %Y} (age {patient.age}) · sex {patient.get_sex_display().lower()}"
            + ("" if patient.is_active else " · inactive patient")
        ),
        text(f"Contributing factors: {', '.join(f.name for f in summary.factors) or 'none recorded'}"),
        text(
            f"Exported from Myolab on {exported:%d %b %Y at %H:%M} ({exported:%Z}) by {display_name(summary.exported_by)}."
        ),
        text("Latest result of each test", HEADING),
    ]
    story.append(_latest_table(summary.trends) if summary.trends else text("No results recorded."))
    if summary.cumulative is not None and summary.cumulative.rows:
        story.append(text("Results over time", HEADING))
        story.append(_cumulative_table(summary.cumulative))
    story += [text(f"Note — {note}", SMALL) for note in summary.notes]

    story.append(text("Open findings", HEADING))
    for group in summary.finding_groups:
        finding, result = group.latest, group.latest.result
        critical = ", critical" if group.critical else ""
        count = f" · {group.count} open findings" if group.count > 1 else ""
        block = [
            bold(f"{group.title} — {group.severity_label}{critical}{count}"),
            text(
                f"{'Latest, collected' if group.count > 1 else 'Collected'} "
                f"{timezone.localtime(result.collected_at):%d %b %Y} ({finding.get_status_display().lower()}): "
                f"{finding.summary}"
            ),
        ]
        if finding.topic_id:
            block.append(text(f"About this: {finding.topic.summary}"))
        story.append(KeepTogether([*block, Spacer(1, 2 * mm)]))
    if not summary.finding_groups:
        story.append(text("No open findings."))

    story.append(text("Critical results communicated (last 90 days)", HEADING))
    story += [text(call.description) for call in summary.critical_calls] or [text("None.")]

    story.append(text("Follow-up plans", HEADING))
    plans = summary.open_plans + summary.closed_plans
    story.append(
        _plans_table(plans) if plans else text("No open follow-up plans, and none closed in the last 90 days.")
    )

    if summary.trends:
        story.append(text("Trends", HEADING))
        story.append(text(LEGEND))
        story += [_chart(trend) for trend in summary.trends]

    def footer(canvas, document):
        canvas.saveState()
        canvas.setFont("DejaVu", 7.5)
        canvas.setFillColor(colors.HexColor("#505050"))
        first_sentence, rest = CLINICAL_NOTICE.split(". ", 1)
        canvas.drawString(document.leftMargin, 16 * mm, first_sentence + ".")
        canvas.drawString(document.leftMargin, 12.5 * mm, rest)
        canvas.drawString(document.leftMargin, 8 * mm, f"{title} · page {document.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=25 * mm,
        title=title,
        author=display_name(summary.exported_by),
        creator="Myolab",
    )
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _latest_table(trends):
    rows = [
        [
            bold(heading, SMALL)
            for heading in ("Test", "Latest value", "Flag", "Normal range applied", "Collected", "Results")
        ]
    ]
    for trend in trends:
        result = trend.latest[0]
        rows.append(
            [
                text(trend.analyte.name),
                text(f"{result.display_value} {trend.analyte.canonical_unit}"),
                flag_cell(result),
                text(result.range_text),
                text(f"{timezone.localtime(result.collected_at):%d %b %Y}"),
                text(trend.count),
            ]
        )
    widths = [w * mm for w in (44, 27, 27, 37, 27, 18)]
    return Table(rows, colWidths=widths, style=TABLE_STYLE, repeatRows=1, hAlign="LEFT")


def _cumulative_table(table):
    """The cumulative view's newest page, as on the patient page: tests by collection time, newest first,
    each value with its unit and flag code, and the change where a delta rule fires."""
    rows = [
        [
            bold("Test", SMALL),
            bold("Range applied", SMALL),
            *(bold(f"{timezone.localtime(at):%d %b %Y %H:%M}", SMALL) for at in table.columns),
        ]
    ]
    for row in table.rows:
        name = escape(row.analyte.name) + (f"<br/>{escape(row.latest_elsewhere)}" if row.latest_elsewhere else "")
        rows.append(
            [Paragraph(name, SMALL), text(row.range_text, SMALL), *(_cumulative_cell(cell) for cell in row.cells)]
        )
    widths = [34 * mm, 26 * mm, *[(120 / len(table.columns)) * mm] * len(table.columns)]
    return Table(rows, colWidths=widths, style=TABLE_STYLE, repeatRows=1, hAlign="LEFT")


def _cumulative_cell(cell):
    if cell is None:
        return ""
    result = cell.result
    value = f"{result.display_value} {result.analyte.canonical_unit}"
    if result.is_entered_in_error:
        return Paragraph(f"<strike>{escape(value)}</strike> entered in error", SMALL)
    markup = f"<b>{escape(value)}</b>"
    if result.flag != Flag.NORMAL:
        colour = FLAG_COLOURS[result.flag].hexval().replace("0x", "#")
        warning = "⚠ " if result.flag in CRITICAL_FLAGS else ""
        markup += f' <font color="{colour}"><b>{warning}{result.flag}</b></font>'
    if cell.delta is not None:
        change = describe_change(
            result.analyte,
            result.value,
            cell.delta.previous_value,
            cell.delta.previous_at,
            comparator=result.comparator,
            previous_comparator=cell.delta.previous_comparator,
        )
        markup += f"<br/>{escape(change)}"
    return Paragraph(markup, SMALL)


def _plans_table(plans):
    rows = [[bold(heading, SMALL) for heading in ("Action", "Due", "Owner", "Status", "Details and outcome")]]
    for plan in plans:
        action = plan.get_action_type_display() + (f": {plan.analyte.name}" if plan.analyte_id else "")
        status = plan.get_status_display()
        if plan.closed_at:
            status += f" {timezone.localtime(plan.closed_at):%d %b %Y}"
        elif plan.is_overdue:
            status += " (overdue)"
        outcome = f"Outcome: {plan.outcome_note}" if plan.outcome_note else ""
        details = " · ".join(part for part in (plan.details, outcome) if part) or "—"
        rows.append(
            [
                text(action),
                text(f"{plan.due_date:%d %b %Y}"),
                text(display_name(plan.owner)),
                text(status),
                text(details),
            ]
        )
    widths = [w * mm for w in (40, 22, 30, 26, 62)]
    return Table(rows, colWidths=widths, style=TABLE_STYLE, repeatRows=1, hAlign="LEFT")


def _chart(trend: Trend):
    return KeepTogether(
        [
            Image(io.BytesIO(trend.chart), width=CONTENT_WIDTH, height=CHART_HEIGHT),
            text(trend.description, SMALL),
            Spacer(1, 3 * mm),
        ]
    )
