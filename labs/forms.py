"""Entering and correcting results. Every message names the analyte, the value, the unit and the limits."""

import re
from decimal import Decimal

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.form_keys import OneTimeKeyMixin
from core.forms import AsciiDigitsMixin
from core.text import display_name, plain

from .interpretation import (
    COMPARATOR_CODES,
    Comparator,
    Flag,
    Limits,
    Reading,
    interpret_reported,
    places_to_show,
    to_canonical,
    wrong_unit_reading,
)
from .models import COMMENT_LENGTH, Analyte, AnalyteUnit, Panel, Result, SpecimenCondition, describe_limits
from .services import Entry, accession_clash, range_for, same_recent_panel

# An optional comparator (a censored value: "<5", "≥ 1000", as labs and HL7 OBX-5 send them), then digits
# with an optional decimal point; a leading minus only so that we can say "negative" instead of "not a
# number". No exponents, so "1e999999" cannot blow up the Decimal arithmetic.
NUMBER = re.compile(r"^(<=|>=|<|>|≤|≥)?\s*(-?)(\d+(?:\.\d*)?|\.\d+)$", re.ASCII)
MAX_VALUE_LENGTH = 20
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def _fmt(value: Decimal, places: int) -> str:
    return f"{value:.{places}f}"


def parse_value(text: str, analyte: Analyte, unit: AnalyteUnit, units) -> tuple[Decimal, str]:
    """The value typed for `analyte` in `unit` and its comparator ("" if exact, "<", "<=", ">=", ">"), or
    ValidationError with a sentence saying what is wrong. `units` are the analyte's accepted units, used
    for the wrong-unit hint."""
    text = text.strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # a decimal comma, as many European lab reports print it
    shown = text if len(text) <= MAX_VALUE_LENGTH else text[:MAX_VALUE_LENGTH] + "…"
    # re.ASCII keeps \d to 0–9; ≤ and ≥ are matched as themselves.
    match = NUMBER.match(text) if len(text) <= MAX_VALUE_LENGTH else None
    if not match:
        raise ValidationError(
            f"{analyte.name}: “{shown}” is not a number. Enter digits with an optional decimal point, "
            f"e.g. 4.25, or a value the lab reports as beyond a limit, e.g. <5 or >1000: one of <, ≤, >, ≥ "
            f"and then the number (in {unit.shown}, at most {MAX_VALUE_LENGTH} characters)."
        )
    comparator = COMPARATOR_CODES.get(match.group(1) or "", "")
    if match.group(2):
        raise ValidationError(f"{analyte.name}: {text} {unit.shown} is negative; a lab value cannot be below zero.")
    value = Decimal(match.group(3))
    if comparator == "<" and value == 0:
        raise ValidationError(f"{analyte.name}: {text} {unit.shown} admits no value: nothing is below zero.")
    places = max(0, -value.as_tuple().exponent)
    if places > unit.decimal_places:
        allowed = "whole numbers only" if unit.decimal_places == 0 else f"at most {unit.decimal_places} decimal places"
        raise ValidationError(
            f"{analyte.name}: {text} {unit.shown} has {places} decimal places; values in {unit.shown} take {allowed}."
        )
    canonical = to_canonical(value, unit.factor)
    if not analyte.plausible_low <= canonical <= analyte.plausible_high:
        low = _fmt(analyte.plausible_low / unit.factor, unit.decimal_places)
        high = _fmt(analyte.plausible_high / unit.factor, unit.decimal_places)
        limits = f"Values in {unit.shown} are accepted from {low} to {high}."
        other = next((u for u in units if u.pk != unit.pk and _plausible(analyte, value, u)), None)
        if other:
            raise ValidationError(
                f"{analyte.name}: {text} {unit.shown} is implausible — did you mean {other.shown}? {limits}"
            )
        raise ValidationError(
            f"{analyte.name}: {text} {unit.shown} is implausible (a typo or the wrong unit?). {limits}"
        )
    return value, comparator


def _plausible(analyte, value, unit):
    return analyte.plausible_low <= to_canonical(value, unit.factor) <= analyte.plausible_high


# A unit typed after the number ("0.68 mmol/L"), so the keyboard can change a row's unit without leaving
# the value: the unit lists are out of the Tab order (each analyte takes one Tab).
TYPED_UNIT = re.compile(r"^(.*\d\.?)\s*([A-Za-zµ][^\s]*/[^\s]*)$")  # every unit has a "/": mg/dL, U/L


def split_typed_unit(text: str, analyte: Analyte, units) -> tuple[str, AnalyteUnit | None]:
    """`text` less a unit typed after the number, and that unit (by its label or UCUM code, any case);
    (text, None) when none is typed. ValidationError for a unit the analyte does not accept."""
    match = TYPED_UNIT.match(text)
    if not match:
        return text, None
    typed = match.group(2).lower()
    for unit in units:
        if typed in (unit.unit.lower(), unit.shown.lower()):
            return match.group(1), unit
    names = ", ".join(u.shown for u in units)
    raise ValidationError(f"{analyte.name}: “{match.group(2)}” is not one of its units ({names}).")


def wrong_unit_question(
    analyte: Analyte, unit: AnalyteUnit, value: Decimal, comparator: str, units, limits: Limits | None
) -> str:
    """The question to ask when `value` (censored by `comparator`, or exact) read in another of the
    analyte's `units` (one it is plausible in) would mean something less alarming for this patient's range
    `limits`; "" when nothing needs asking."""
    if limits is None:
        return ""

    def reading(in_unit):
        canonical = to_canonical(value, in_unit.factor)
        return Reading(in_unit.shown, canonical, interpret_reported(canonical, comparator, limits))

    chosen = reading(unit)
    others = (reading(u) for u in units if u.pk != unit.pk and _plausible(analyte, value, u))
    other = wrong_unit_reading(chosen, others)
    if other is None:
        return ""
    canonical_unit, symbol = analyte.canonical_unit, Comparator(comparator).label if comparator else ""
    meaning = "normal" if other.flag == Flag.NORMAL else f"{other.flag.label.lower()} but not critical"
    return (
        f"{analyte.name}: {symbol}{plain(value)} {unit.shown} is {chosen.flag.label.lower()} "
        f"({symbol}{analyte.format_value(chosen.canonical)} {canonical_unit}); in {other.unit} it would be "
        f"{symbol}{analyte.format_value(other.canonical)} {canonical_unit}, {meaning}. Confirm the unit: check it on the "
        f"lab report and, if {unit.shown} is right, tick “Unit checked” and save again."
    )


def last_units_of(user) -> dict:
    """The unit `user` last entered each analyte in ({analyte id: UCUM unit}), read from the results of
    their 30 latest panels (one query; Panel's entered_by index finds them)."""
    recent = Panel.objects.filter(entered_by=user).order_by("-id").values("id")[:30]
    rows = Result.objects.filter(panel_id__in=recent).order_by("id").values_list("analyte_id", "unit_entered")
    return dict(rows)  # later results overwrite earlier ones: the last one used wins


def units_of(analyte: Analyte) -> list[AnalyteUnit]:
    """The analyte's active units, canonical first (needs `units` prefetched to avoid a query)."""
    active = [u for u in analyte.units.all() if u.active]
    return sorted(active, key=lambda u: (u.unit != analyte.canonical_unit, u.pk))


class ValueFieldsMixin:
    """Shared by entry and correction: a value + unit + confirm-the-unit trio per analyte."""

    def add_value_fields(self, analyte, units, prefix, *, unit_initial=None):
        self.fields[f"{prefix}value"] = forms.CharField(
            label=analyte.name, required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"})
        )
        self.fields[f"{prefix}unit"] = forms.TypedChoiceField(
            label=f"{analyte.name} unit",
            choices=[(u.pk, u.shown) for u in units],
            coerce=int,
            empty_value=None,
            required=False,  # only a row with a value needs a unit (checked in clean_value_fields)
            initial=unit_initial,
            error_messages={"invalid_choice": f"Choose one of the units {analyte.name} accepts."},
        )
        self.fields[f"{prefix}confirm"] = forms.BooleanField(label="Unit checked", required=False)

    def add_comment_field(self, analyte, prefix):
        self.fields[f"{prefix}comment"] = forms.CharField(
            label=f"{analyte.name} comment",
            required=False,
            max_length=COMMENT_LENGTH,
            error_messages={
                "max_length": f"{analyte.name} comment: at most {COMMENT_LENGTH} characters (this one has "
                "%(show_value)d)."
            },
        )

    def clean_value_fields(self, analyte, units, prefix, *, limits):
        """The checked value, unit and comparator, or None after putting the error on the value field. `limits` are
        the patient's range on the collection date, for the wrong-unit question."""
        text = (self.cleaned_data.get(f"{prefix}value") or "").strip()
        unit = {u.pk: u for u in units}.get(self.cleaned_data.get(f"{prefix}unit"))
        if not text:
            return None
        try:
            text, typed_unit = split_typed_unit(text, analyte, units)
        except ValidationError as error:
            self.add_error(f"{prefix}value", error)
            return None
        if typed_unit is not None:
            unit = typed_unit
            # Shown again with the unit typed, if the form comes back: the list says what was read.
            self.data = self.data.copy()
            self.data[self.add_prefix(f"{prefix}unit")] = str(unit.pk)
        if unit is None:
            if f"{prefix}unit" not in self.errors:
                names = ", ".join(u.unit for u in units)
                self.add_error(f"{prefix}unit", f"Choose the unit of the {analyte.name} value ({names}).")
            return None
        try:
            value, comparator = parse_value(text, analyte, unit, units)
        except ValidationError as error:
            self.add_error(f"{prefix}value", error)
            return None
        warning = wrong_unit_question(analyte, unit, value, comparator, units, limits)
        if warning:
            self.asks_to_confirm.add(prefix)
            if not self.cleaned_data.get(f"{prefix}confirm"):
                self.add_error(f"{prefix}value", warning)
                return None
        return value, unit, comparator


class PanelEntryForm(OneTimeKeyMixin, AsciiDigitsMixin, ValueFieldsMixin, forms.Form):
    collected_at = forms.DateTimeField(
        label="Collected at",
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Date and time the sample was taken.",
        error_messages={
            "required": "Collection date and time are required.",
            "invalid": "Collection date and time must look like 2026-03-31 14:30.",
        },
    )
    lab_name = forms.CharField(label="Lab name", max_length=100, required=False)
    accession_number = forms.CharField(
        label="Accession number", max_length=50, required=False, help_text="The lab's sample number, if known."
    )
    specimen_condition = forms.ModelChoiceField(
        label="Specimen condition",
        queryset=SpecimenCondition.objects.filter(active=True),
        required=False,
        empty_label="None reported",
        help_text="As the lab report states it.",
        error_messages={"invalid_choice": "Choose a specimen condition from the list, or “None reported”."},
    )
    comment = forms.CharField(
        label="Panel comment",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=COMMENT_LENGTH,
        error_messages={
            "max_length": f"Panel comment: at most {COMMENT_LENGTH} characters (this one has %(show_value)d)."
        },
    )
    # Shown only when the panel looks like one saved recently (same collection time and values).
    save_anyway = forms.BooleanField(label="Save anyway: this is a different panel", required=False)

    def __init__(self, *args, patient, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.same_panel = None
        self.add_form_key(purpose=f"enter_results:{patient.pk}", user=user)
        if not self.is_bound:
            self.fields["collected_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        self.asks_to_confirm = set()
        self.analytes = list(Analyte.objects.filter(active=True).prefetch_related("units", "ranges"))
        self.units = {analyte.code: units_of(analyte) for analyte in self.analytes}
        last_units = {} if self.is_bound else last_units_of(user)
        for analyte in self.analytes:
            used = last_units.get(analyte.pk)
            units = self.units[analyte.code]  # canonical first: the default for a unit never used
            initial = next((u.pk for u in units if u.unit == used), units[0].pk if units else None)
            self.add_value_fields(analyte, self.units[analyte.code], f"{analyte.code}_", unit_initial=initial)
            self.add_comment_field(analyte, f"{analyte.code}_")
        self.helper = FormHelper()
        self.helper.form_tag = False

    def rows(self):
        """One row per analyte for the template: (analyte, value field, unit field, confirm field or None)."""
        for analyte in self.analytes:
            prefix = f"{analyte.code}_"
            shown = prefix in self.asks_to_confirm or self.data.get(f"{prefix}confirm")
            confirm = self[f"{prefix}confirm"] if shown else None
            yield analyte, self[f"{prefix}value"], self[f"{prefix}unit"], confirm

    def full_clean(self):
        super().full_clean()
        if self.errors:
            # The page opens with the cursor in the first refused field (the alert above is read out).
            self.fields[self.focus_field].widget.attrs["autofocus"] = True

    @property
    def focus_field(self):
        """The field the page puts the cursor in: the first refused one, else the first value."""
        first_value = f"{self.analytes[0].code}_value" if self.analytes else "collected_at"
        if not self.is_bound or not self.errors:
            return first_value
        in_page_order = ["collected_at", "lab_name", "accession_number", "specimen_condition", "comment"]
        for analyte in self.analytes:
            in_page_order += [f"{analyte.code}_value", f"{analyte.code}_unit"]
        in_page_order += ["save_anyway"] + [f"{analyte.code}_comment" for analyte in self.analytes]
        return next((name for name in in_page_order if name in self.errors), first_value)

    def comment_fields(self):
        """Each analyte's comment field, for the template's "Comments on single results" part."""
        return [self[f"{analyte.code}_comment"] for analyte in self.analytes]

    @property
    def result_comments_given(self):
        """Whether to show the comments part open: one is typed, or refused."""
        return any(field.value() or field.errors for field in self.comment_fields())

    def clean_collected_at(self):
        collected_at = self.cleaned_data["collected_at"]
        now = timezone.now()
        if collected_at > now:
            raise ValidationError(
                f"Collection time {timezone.localtime(collected_at):%d %b %Y %H:%M} is in the future; "
                f"it must be no later than now ({timezone.localtime(now):%d %b %Y %H:%M})."
            )
        born = self.patient.date_of_birth
        if timezone.localdate(collected_at) < born:
            raise ValidationError(
                f"Collection date {timezone.localdate(collected_at):%d %b %Y} is before the patient was born "
                f"({born:%d %b %Y})."
            )
        return collected_at

    def clean(self):
        cleaned = super().clean()
        entries = []
        rows_with_input = 0
        for analyte in self.analytes:
            prefix = f"{analyte.code}_"
            if (cleaned.get(f"{prefix}value") or "").strip():
                rows_with_input += 1
            # The range on the collection date (today's while the date is missing or refused).
            range_ = range_for(self.patient, analyte, cleaned.get("collected_at") or timezone.now())
            checked = self.clean_value_fields(
                analyte, self.units[analyte.code], prefix, limits=range_.limits if range_ else None
            )
            if checked:
                value, unit, comparator = checked
                comment = cleaned.get(f"{prefix}comment", "")
                entries.append(Entry(analyte=analyte, value=value, unit=unit, comparator=comparator, comment=comment))
        if not rows_with_input:
            self.add_error(None, "The panel is empty: enter at least one result.")
        cleaned["entries"] = entries
        clash = accession_clash(cleaned.get("lab_name", ""), cleaned.get("accession_number", ""))
        if clash:
            self.add_error("accession_number", clash)
        if entries and cleaned.get("collected_at") and not self.errors:
            self.same_panel = same_recent_panel(self.patient, cleaned["collected_at"], entries)
            if self.same_panel and not cleaned.get("save_anyway"):
                panel = self.same_panel
                self.add_error(
                    "save_anyway",
                    f"This looks like the panel saved at {timezone.localtime(panel.entered_at):%H:%M on %d %b %Y} "
                    f"by {display_name(panel.entered_by)}: the same collection time and the same values. Nothing "
                    "was saved. If it is a different panel, tick “Save anyway” and save again.",
                )
        return cleaned


class CorrectionForm(ValueFieldsMixin, forms.Form):
    reason = forms.CharField(
        label="Reason for the correction",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        error_messages={"required": "Give the reason for the correction (it is kept in the result's history)."},
    )

    def __init__(self, *args, result: Result, **kwargs):
        super().__init__(*args, **kwargs)
        self.result = result
        self.asks_to_confirm = set()
        self.units = units_of(result.analyte)
        current = next((u.pk for u in self.units if u.unit == result.unit_entered), None)
        self.add_value_fields(result.analyte, self.units, "", unit_initial=current)
        self.fields["value"].label = f"New value ({result.analyte.name})"
        self.fields["value"].required = True
        self.fields["value"].error_messages["required"] = f"Enter the corrected {result.analyte.name} value."
        self.fields["unit"].label = "Unit"

    def clean(self):
        cleaned = super().clean()
        range_ = range_for(self.result.patient, self.result.analyte, self.result.collected_at)
        checked = self.clean_value_fields(self.result.analyte, self.units, "", limits=range_.limits if range_ else None)
        if checked:
            cleaned["value"], cleaned["unit"], cleaned["comparator"] = checked
        return cleaned

    @property
    def shows_confirm(self):
        return "" in self.asks_to_confirm or self.data.get("confirm")


class EnteredInErrorForm(forms.Form):
    reason = forms.CharField(
        label="Why was this result entered in error?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        error_messages={"required": "Give the reason the result was entered in error (it is kept in history)."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Mark entered in error", css_class="btn-danger"))


def interpret_typed(patient, analyte: Analyte, text: str, unit: AnalyteUnit | None, collected_at) -> dict:
    """What the entry form will make of `text` typed for `analyte` in `unit` (or a unit typed after it),
    for the page to show while the clinician types: the same checks and interpretation as the save
    (parse_value, the patient's range on `collected_at`, interpret_reported, the wrong-unit question).
    Needs `analyte.units` and `analyte.ranges` prefetched. {"error": sentence} when the save would refuse it."""
    units = units_of(analyte)
    try:
        text, typed_unit = split_typed_unit(text.strip(), analyte, units)
        unit = typed_unit or unit
        if unit is None:
            raise ValidationError(f"Choose the unit of the {analyte.name} value.")
        value, comparator = parse_value(text, analyte, unit, units)
    except ValidationError as error:
        return {"error": " ".join(error.messages)}
    range_ = range_for(patient, analyte, collected_at)
    limits = range_.limits if range_ else None
    canonical = to_canonical(value, unit.factor)
    flag = interpret_reported(canonical, comparator, limits)
    symbol = Comparator(comparator).label if comparator else ""
    places = places_to_show(canonical, comparator, limits, flag, analyte.display_decimal_places)
    shown = f"{symbol}{canonical:.{places}f} {analyte.canonical_unit}"
    return {
        "value": shown,
        "range": describe_limits(limits, analyte) if limits else "no reference range for this patient",
        "flag": flag.value,
        "flag_text": flag.label,
        "question": wrong_unit_question(analyte, unit, value, comparator, units, limits),
    }


# The fields that turn what was typed into a number or a record's id.
