"""No duplicate panels (issue 12, point 3): a one-time key per rendered form, consumed in the save's own
transaction; a panel that looks like one saved recently asks first; a repeated accession number is a form
error naming the earlier panel, however concurrent the saves."""

import datetime
import subprocess
import sys
import threading

import pytest
from django.conf import settings
from django.core import signing
from django.db import connections
from django.utils import timezone

from core import form_keys
from core.models import UsedFormKey
from guidance import services
from labs.models import Panel, Result

from .conftest import SignedInClient
from .form_keys import form_key
from .test_labs_views import panel_post

pytestmark = pytest.mark.django_db

POTASSIUM = {"k": ("4.1", "mmol/L")}


def url_of(patient):
    return f"/patients/{patient.pk}/results/new/"


def test_back_then_save_stores_one_panel_and_says_when_it_was_saved(clinician_client, patient):
    data = panel_post(POTASSIUM, form_key=form_key(clinician_client, url_of(patient)))
    assert clinician_client.post(url_of(patient), data).status_code == 302
    again = clinician_client.post(url_of(patient), data)
    html = again.content.decode()
    assert again.status_code == 200 and "Nothing was saved" in html
    assert "This form was already saved at" in html and "open the form again from the patient" in html
    assert Panel.objects.count() == 1
    # The used key stays in the form, so pressing Save once more is refused once more.
    assert f'value="{data["form_key"]}"' in html


def test_a_refused_save_gives_the_key_back(clinician_client, patient):
    key = form_key(clinician_client, url_of(patient))
    refused = clinician_client.post(url_of(patient), panel_post({"k": ("40", "mmol/L")}, form_key=key))
    assert "implausible" in refused.content.decode() and not UsedFormKey.objects.exists()
    assert clinician_client.post(url_of(patient), panel_post(POTASSIUM, form_key=key)).status_code == 302
    assert Panel.objects.count() == 1


@pytest.mark.parametrize(
    "make_key, message",
    [
        (lambda patient, user: "", "One-time form key: missing or altered"),
        (lambda patient, user: "forged-key", "One-time form key: missing or altered"),
        (
            lambda patient, user: form_keys.issue(purpose=f"enter_results:{patient.pk}", user=user)[:-3] + "AAA",
            "One-time form key: missing or altered",
        ),
        (
            lambda patient, user: form_keys.issue(purpose=f"enter_results:{patient.pk + 1}", user=user),
            "One-time form key: it belongs to another form (another patient’s",
        ),
        (
            lambda patient, user: form_keys.issue(purpose="register_patient", user=user),
            "One-time form key: it belongs to another form",
        ),
    ],
)
def test_a_bad_key_is_a_message_nothing_is_saved_and_the_form_gets_a_fresh_key(
    clinician_client, clinician, patient, make_key, message
):
    response = clinician_client.post(url_of(patient), panel_post(POTASSIUM, form_key=make_key(patient, clinician)))
    html = response.content.decode().replace("&#x27;", "’").replace("'", "’")
    assert response.status_code == 200 and message in html and "Nothing was saved" in html
    assert not Panel.objects.exists()
    fresh = response.context["form"]["form_key"].value()
    assert form_keys.check(fresh, purpose=f"enter_results:{patient.pk}", user=clinician)["nonce"]
    assert clinician_client.post(url_of(patient), panel_post(POTASSIUM, form_key=fresh)).status_code == 302


def test_another_users_key_is_refused(clinician_client, other_clinician, patient):
    key = form_keys.issue(purpose=f"enter_results:{patient.pk}", user=other_clinician)
    response = clinician_client.post(url_of(patient), panel_post(POTASSIUM, form_key=key))
    assert "One-time form key: it belongs to another form" in response.content.decode()
    assert not Panel.objects.exists()


def test_a_key_older_than_a_day_is_refused_as_expired(clinician_client, clinician, patient, monkeypatch):
    key = form_keys.issue(purpose=f"enter_results:{patient.pk}", user=clinician)
    later = datetime.datetime.now().timestamp() + 24 * 3600 + 1
    monkeypatch.setattr(signing.time, "time", lambda: later)
    response = clinician_client.post(url_of(patient), panel_post(POTASSIUM, form_key=key))
    assert "this form was opened more than 24 hours ago" in response.content.decode()
    assert not Panel.objects.exists()


def test_a_panel_like_one_saved_recently_asks_before_saving_it_again(clinician_client, patient, record, clinician):
    at = timezone.make_aware(datetime.datetime(2026, 1, 15, 9, 30))
    earlier = record(patient, {"k": ("4.1", "mmol/L"), "mg": ("1.90", "mg/dL")}, at=at)
    values = {"k": ("4.10", "mmol/L"), "mg": ("1.90", "mg/dL")}  # the same values, typed differently
    key = form_key(clinician_client, url_of(patient))
    asked = clinician_client.post(url_of(patient), panel_post(values, form_key=key))
    html = asked.content.decode()
    saved_at = f"{timezone.localtime(earlier.entered_at):%H:%M on %d %b %Y}"
    assert f"This looks like the panel saved at {saved_at} by Alice Clinician: the same collection time and" in html
    assert 'name="save_anyway"' in html and Panel.objects.count() == 1
    confirmed = clinician_client.post(url_of(patient), panel_post(values, form_key=key, save_anyway="on"))
    assert confirmed.status_code == 302 and Panel.objects.count() == 2


@pytest.mark.parametrize(
    "values, collected_at",
    [
        ({"k": ("4.2", "mmol/L"), "mg": ("1.90", "mg/dL")}, "2026-01-15T09:30"),  # one value differs
        ({"k": ("4.1", "mmol/L")}, "2026-01-15T09:30"),  # fewer analytes
        ({"k": ("4.1", "mmol/L"), "mg": ("1.90", "mg/dL")}, "2026-01-15T09:31"),  # another collection time
    ],
)
def test_a_different_panel_is_not_asked_about(clinician_client, patient, record, values, collected_at):
    record(patient, {"k": "4.1", "mg": "1.9"}, at=timezone.make_aware(datetime.datetime(2026, 1, 15, 9, 30)))
    key = form_key(clinician_client, url_of(patient))
    response = clinician_client.post(url_of(patient), panel_post(values, form_key=key, collected_at=collected_at))
    assert response.status_code == 302 and Panel.objects.count() == 2


def test_a_lost_accession_race_is_a_form_error_naming_the_earlier_panel(
    clinician_client, patient, record, other_clinician, monkeypatch
):
    """The other save commits between record_results' check and its insert: the constraint's IntegrityError
    becomes the same sentence, on the accession number field."""
    earlier = record(patient, {"k": "4.0"}, by=other_clinician, lab_name="City Lab", accession_number="A-9")
    checks = iter(["", services.accession_clash("City Lab", "A-9")])  # free at first, then taken
    monkeypatch.setattr(services, "accession_clash", lambda lab, accession: next(checks))
    monkeypatch.setattr("labs.forms.accession_clash", lambda lab, accession: "")
    response = clinician_client.post(
        url_of(patient),
        panel_post(POTASSIUM, form_key=form_key(clinician_client, url_of(patient)), accession_number="A-9"),
    )
    errors = response.context["form"].errors["accession_number"]
    when = f"{timezone.localtime(earlier.collected_at):%d %b %Y %H:%M}"
    assert errors == [
        f"Accession number A-9 from lab “City Lab” has already been entered: the panel collected {when}, saved by "
        f"Carol Clinician at {timezone.localtime(earlier.entered_at):%H:%M on %d %b %Y}. Each accession number is "
        "entered once per lab."
    ]
    assert Panel.objects.count() == 1 and not UsedFormKey.objects.exists()


# --- real concurrency: threads, each with its own database connection and transactions ---------------


def _fire_at_once(posts):
    """Run each `post()` in its own thread, all released together; their responses' status codes."""
    barrier = threading.Barrier(len(posts), timeout=30)  # a thread that never arrives fails the test
    codes = [None] * len(posts)

    def run(i, post):
        try:
            barrier.wait()
            codes[i] = post().status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, post)) for i, post in enumerate(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return codes


def _signed_in_clients(user, count):
    clients = [SignedInClient() for _ in range(count)]
    for client in clients:
        client.force_login(user)
    return clients


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_identical_submissions_at_once_store_one_panel(clinician, patient):
    clients = _signed_in_clients(clinician, 4)
    data = panel_post(POTASSIUM, form_key=form_key(clients[0], url_of(patient)))
    codes = _fire_at_once([lambda c=c: c.post(url_of(patient), data) for c in clients])
    assert sorted(codes) == [200, 200, 200, 302]
    assert Panel.objects.count() == 1 and Result.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_same_accession_number_at_once_stores_one_panel_and_never_a_500(clinician, patient):
    clients = _signed_in_clients(clinician, 4)
    # Four forms (four keys), different values, one accession number: the constraint decides.
    forms = [
        panel_post({"k": (f"4.{i}", "mmol/L")}, form_key=form_key(c, url_of(patient)), accession_number="ACC-1")
        for i, c in enumerate(clients)
    ]
    posts = [lambda c=c, data=data: c.post(url_of(patient), data) for c, data in zip(clients, forms, strict=True)]
    codes = _fire_at_once(posts)
    assert sorted(codes) == [200, 200, 200, 302]
    assert Panel.objects.filter(accession_number="ACC-1").count() == 1


def _database_options(database_url):
    """The default database's OPTIONS that config/settings.py makes of `database_url`."""
    result = subprocess.run(
        [sys.executable, "-c", "from config import settings; print(settings.DATABASES['default'].get('OPTIONS'))"],
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "s" * 50, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        check=True,
    )
    return result.stdout.strip()


def test_the_embedded_database_waits_its_turn_and_postgresql_is_left_alone():
    assert _database_options("sqlite:////tmp/myolab.sqlite3") == (
        "{'transaction_mode': 'IMMEDIATE', 'timeout': 20, 'init_command': 'PRAGMA journal_mode=WAL'}"
    )
    assert _database_options("postgres://user@db.example:5432/myolab") == "None"
