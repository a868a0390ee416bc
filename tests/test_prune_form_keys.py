"""manage.py prune_form_keys: used one-time form keys older than a key's lifetime go; a key that old is
refused as expired before its use is looked up, so pruning never lets a form be saved twice."""

import datetime
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from core import form_keys
from core.models import UsedFormKey

pytestmark = pytest.mark.django_db


def test_prunes_only_keys_older_than_their_lifetime(clinician):
    now = timezone.now()
    for hours in (1, 23, 25, 48):
        UsedFormKey.objects.create(
            nonce=f"n{hours}", purpose="p", used_at=now - datetime.timedelta(hours=hours), used_by=clinician
        )
    out = io.StringIO()

    call_command("prune_form_keys", stdout=out)

    assert sorted(UsedFormKey.objects.values_list("nonce", flat=True)) == ["n1", "n23"]
    assert out.getvalue() == "Deleted 2 used form keys older than 1 day, 0:00:00.\n"


def test_a_key_whose_use_was_pruned_is_still_refused(clinician, monkeypatch):
    issued = timezone.now() - datetime.timedelta(hours=25)
    monkeypatch.setattr("django.core.signing.time.time", lambda: issued.timestamp())
    key = form_keys.issue(purpose="p", user=clinician)
    monkeypatch.undo()

    with pytest.raises(ValidationError, match="more than 24 hours ago"):
        form_keys.check(key, purpose="p", user=clinician)
