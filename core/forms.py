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


NUMBER_FIELDS = (forms.IntegerField, forms.DecimalField, forms.TypedChoiceField, forms.ModelChoiceField)


class AsciiDigitsModelForm(forms.ModelForm):
    """A ModelForm (the admin's) whose number fields and id choices take the digits 0–9 only.

    Python's int() and Decimal() read the digits of every script, so Django's number fields accept
    Arabic-Indic "٣٫٥" or full-width "３" and store 3.5 or 3 while the screen showed something else; an
    id choice "٣" would pick record 3.
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
