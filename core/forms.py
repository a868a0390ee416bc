from django import forms
from django.core.exceptions import ValidationError


def add_service_errors(form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: each message on the field it names when the form has
    that field, otherwise at the top of the form, so the user sees every sentence the service wrote."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


# The fields that turn what was typed into a number, a date or a record's id.
NUMBER_FIELDS = (
    forms.IntegerField,
    forms.DecimalField,
    forms.TypedChoiceField,
    forms.ModelChoiceField,
    forms.DateField,
    forms.DateTimeField,
)


class AsciiDigitsMixin:
    """A form (the admin's, or the app's own) whose number, date and id fields take the digits 0–9 only.

    Python's int() and Decimal() read the digits of every script, so Django's number fields accept
    Arabic-Indic "٣٫٥" or full-width "３" and store 3.5 or 3 while the screen showed something else; an
    id choice "٣" would pick record 3, and Django's date-time parser reads "２０２６-０１-０５" as a date.
    """

    def clean(self):
        cleaned = super().clean()
        for name, field in self.fields.items():
            if not isinstance(field, NUMBER_FIELDS) or name not in cleaned:
                continue
            typed = self[name].data
            for text in typed if isinstance(typed, list | tuple) else [typed]:
                if any(char.isdecimal() and not char.isascii() for char in str(text)):
                    self.add_error(name, f"“{text}” has digits other than 0–9: type it with the digits 0–9.")
                    break
        return cleaned


class AsciiDigitsModelForm(AsciiDigitsMixin, forms.ModelForm):
    """The admin's ModelForm: number fields and id choices take the digits 0–9 only (AsciiDigitsMixin)."""


# The largest id a database row can have (a 64-bit integer): SQLite cannot even compare a longer one.
LARGEST_ID = 2**63 - 1


class ModelMultipleIdsField(forms.ModelMultipleChoiceField):
    """Several records chosen by id, where an id too large for any row is refused as not a choice (Django's
    own field sends it to the database, where SQLite fails with an OverflowError: a 500)."""

    def _check_values(self, value):
        for pk in value:
            if str(pk).isdigit() and int(pk) > LARGEST_ID:
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super()._check_values(value)
