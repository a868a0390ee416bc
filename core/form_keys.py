"""One-time form keys: a form whose repetition would create a second record (a panel, a patient, a plan)
carries a key that its save consumes, so Back then Save, a double click or a network retry saves once.

The key is signed (core.signing: it cannot be forged or moved to another form or user) and names the form
it was issued for. Issuing writes nothing; the save inserts the key's nonce into `UsedFormKey`, whose unique
constraint lets only one of two concurrent transactions through: the other waits for the first to commit
and then fails on the constraint. Consumed in the save's own transaction, a refused save (a validation
error) gives the key back with everything else.
"""

import secrets
from datetime import timedelta

from django import forms
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import UsedFormKey

SALT = "core.form_keys"
# A form left open over a night shift still saves; an older one is refused as expired.
MAX_AGE = timedelta(hours=24)
FIELD = "form_key"


def issue(*, purpose: str, user) -> str:
    return signing.dumps({"purpose": purpose, "user": user.pk, "nonce": secrets.token_hex(16)}, salt=SALT)


def check(key: str, *, purpose: str, user) -> dict:
    """The key's content if it is genuine, recent, for this form and this user; else ValidationError."""
    try:
        content = signing.loads(key or "", salt=SALT, max_age=MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationError(
            "One-time form key: this form was opened more than 24 hours ago. Nothing was saved; check the "
            "entries and save again (the form now has a new key)."
        ) from None
    except signing.BadSignature:
        raise ValidationError(
            "One-time form key: missing or altered, so this submission cannot be told apart from a repeated "
            "one. Nothing was saved; check the entries and save again (the form now has a new key)."
        ) from None
    if content.get("purpose") != purpose or content.get("user") != user.pk:
        raise ValidationError(
            "One-time form key: it belongs to another form (another patient's, another page or another user). "
            "Nothing was saved; check the entries and save again (the form now has a new key)."
        )
    used = UsedFormKey.objects.filter(nonce=content["nonce"]).first()
    if used:
        raise ValidationError(_already_used(used), code="used")
    return content


def consume(content: dict, *, by) -> None:
    """Mark the checked key used, inside the caller's transaction (so it is given back if the save fails).
    A concurrent submission of the same form waits here for the first to finish, then is refused."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("consume() must run in the transaction of the save it guards.")
    try:
        with transaction.atomic():
            UsedFormKey.objects.create(nonce=content["nonce"], purpose=content["purpose"], used_by=by)
    except IntegrityError:
        raise ValidationError(_already_used(UsedFormKey.objects.get(nonce=content["nonce"])), code="used") from None


def _already_used(used: UsedFormKey) -> str:
    return (
        f"This form was already saved at {timezone.localtime(used.used_at):%H:%M on %d %b %Y}; nothing was "
        "saved again. To enter something new, open the form again from the patient's page."
    )


class OneTimeKeyMixin:
    """For a form whose repetition would create a second record: call `add_form_key(purpose=, user=)` in
    `__init__`, then `consume_form_key()` in the transaction of the save. A bad key is an error at the top
    of the form naming the key; a forged, expired or misplaced one is replaced by a fresh key, so saving
    again works, while a used one is kept, so pressing Save again is refused again."""

    def add_form_key(self, *, purpose: str, user) -> None:
        self.form_key_purpose, self.form_key_user = purpose, user
        self.form_key_content = None
        self.fields[FIELD] = forms.CharField(
            widget=forms.HiddenInput, required=False, initial=issue(purpose=purpose, user=user)
        )

    def clean_form_key(self):
        key = self.cleaned_data.get(FIELD, "")
        try:
            self.form_key_content = check(key, purpose=self.form_key_purpose, user=self.form_key_user)
        except ValidationError as error:
            self.add_error(None, error)
            if error.code != "used":
                self.data = self.data.copy()
                self.data[self.add_prefix(FIELD)] = self.fields[FIELD].initial
        return key

    def consume_form_key(self) -> None:
        consume(self.form_key_content, by=self.form_key_user)
