import subprocess
import sys

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from patients.models import Patient
from patients.roles import CLINICIAN

pytestmark = pytest.mark.django_db


def test_lockout_after_repeated_failed_logins(client, clinician):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post("/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
    response = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    assert b"Too many failed login attempts" in response.content
    # Even the right password is refused while locked.
    response = client.post("/login/", {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 429


def test_login_with_right_password_reaches_the_app(client, clinician):
    response = client.post("/login/", {"username": "alice", "password": "correct-horse-battery"}, follow=True)
    assert response.status_code == 200
    assert response.context["user"] == clinician


def test_logout_needs_post_and_ends_session(clinician_client):
    assert clinician_client.post("/logout/").status_code in (200, 302)
    assert clinician_client.get("/patients/").status_code == 302


def test_production_settings_use_argon2_and_idle_expiry():
    from config import settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    # The idle expiry moves on through config/sessions.py (tests/test_sessions.py), not on every request.
    assert production.SESSION_ENGINE == "config.sessions"
    assert "config.sessions.RefreshIdleExpiryMiddleware" in production.MIDDLEWARE
    assert production.SESSION_COOKIE_AGE == 30 * 60


def run_check(env):
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )


def test_app_refuses_to_start_without_secret_key_when_debug_off():
    result = run_check({})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_deploy_check_is_clean_with_production_like_settings():
    result = run_check(
        {"SECRET_KEY": "p" * 30 + "roduction-like-secret-key-value-xyz", "ALLOWED_HOSTS": "myolab.example"}
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_seed_demo_refuses_with_debug_off():
    with pytest.raises(CommandError, match="only runs with DEBUG on"):
        call_command("seed_demo")


def test_seed_demo_is_idempotent(settings, roles):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    assert Patient.objects.filter(mrn__startswith="DEMO-").count() == 6
    from django.contrib.auth.models import User

    assert User.objects.filter(username__in=["clinician", "clinician2", "admin"]).count() == 3


def test_setup_roles_is_idempotent(roles):
    from django.contrib.auth.models import Group

    call_command("setup_roles")
    assert Group.objects.count() == 2
    assert Group.objects.get(name="Clinician").permissions.filter(codename="add_patient").exists()


# --- the lock-out counts a username from one address -------------------------------------------------


def fail_logins(client, username, times, **extra):
    for _ in range(times):
        client.post("/login/", {"username": username, "password": "wrong"}, **extra)


def test_someone_elsewhere_cannot_lock_a_clinician_out(client, clinician):
    attacker, clinic = Client(REMOTE_ADDR="203.0.113.9"), Client(REMOTE_ADDR="198.51.100.20")
    fail_logins(attacker, "alice", settings.AXES_FAILURE_LIMIT)
    assert attacker.post("/login/", {"username": "alice", "password": "correct-horse-battery"}).status_code == 429
    response = clinic.post("/login/", {"username": "alice", "password": "correct-horse-battery"}, follow=True)
    assert response.context["user"] == clinician


def test_one_clinic_address_does_not_lock_out_its_other_users(clinician, other_clinician):
    clinic = Client(REMOTE_ADDR="198.51.100.20")
    fail_logins(clinic, "alice", settings.AXES_FAILURE_LIMIT)
    response = clinic.post("/login/", {"username": "carol", "password": "correct-horse-battery"}, follow=True)
    assert response.context["user"] == other_clinician


@override_settings(
    AXES_CLIENT_IP_CALLABLE="core.http.client_ip", SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
)
def test_behind_a_tls_proxy_the_address_is_the_one_the_proxy_saw(clinician):
    # Both come through the proxy at 10.0.0.2; the proxy appends the address it saw to X-Forwarded-For.
    attacker = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.20, 203.0.113.9")
    clinic = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.20")
    fail_logins(attacker, "alice", settings.AXES_FAILURE_LIMIT)  # forging the clinic's address first
    assert attacker.post("/login/", {"username": "alice", "password": "x"}).status_code == 429
    response = clinic.post("/login/", {"username": "alice", "password": "correct-horse-battery"}, follow=True)
    assert response.context["user"] == clinician


def test_the_proxy_setting_reads_the_forwarded_address():
    from config import settings as production

    assert not hasattr(production, "AXES_CLIENT_IP_CALLABLE")  # no proxy unless BEHIND_TLS_PROXY is set
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.AXES_CLIENT_IP_CALLABLE)"],
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "s" * 60, "BEHIND_TLS_PROXY": "true"},
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert result.stdout.strip() == "core.http.client_ip", result.stderr


def test_failed_logins_are_kept_and_administrators_cannot_delete_them(client, administrator):
    fail_logins(Client(REMOTE_ADDR="203.0.113.9"), "alice", 2)
    assert AccessFailureLog.objects.filter(username="alice").count() == 2
    [attempt] = AccessAttempt.objects.filter(username="alice")
    client.force_login(administrator)
    for model, pk in [("accessattempt", attempt.pk), ("accessfailurelog", AccessFailureLog.objects.first().pk)]:
        page = client.get(f"/admin/axes/{model}/")
        assert page.status_code == 200
        assert "alice" in page.content.decode()
        assert client.get(f"/admin/axes/{model}/{pk}/change/").status_code == 200  # shown, read only
        assert client.post(f"/admin/axes/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
        changelist = client.post(f"/admin/axes/{model}/", {"action": "delete_selected", "_selected_action": [pk]})
        assert changelist.status_code == 200  # no delete action: the list is shown again
    assert client.get("/admin/axes/accesslog/").status_code == 200
    assert AccessFailureLog.objects.filter(username="alice").count() == 2
    assert AccessAttempt.objects.filter(username="alice").count() == 1


def test_no_one_adds_or_changes_the_lockout_records(admin_client_):
    for model in ["accessattempt", "accessfailurelog", "accesslog"]:
        assert admin_client_.get(f"/admin/axes/{model}/add/").status_code == 403


# --- the password policy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("alice-winter-garden", "The password contains the username; choose one that does not."),
        ("GardenALICE2026x", "The password contains the username; choose one that does not."),
        ("aaaaaaaaaaaaaa", "The password is one character repeated; choose one with different characters."),
        ("77777777777777", "The password is one character repeated; choose one with different characters."),
        ("short-pw", "This password is too short. It must contain at least 12 characters."),
    ],
)
def test_password_policy_refuses(clinician, password, message):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, user=clinician)
    assert message in refused.value.messages


def test_password_policy_accepts_a_long_unrelated_password(clinician):
    assert validate_password("violet-harbour-lantern-41", user=clinician) is None
    # A two-letter username is not looked for: it occurs in too many good passwords.
    clinician.username = "al"
    assert validate_password("metal-harbour-lantern-41", user=clinician) is None


def test_administrator_setting_a_password_in_the_admin_gets_the_policy(admin_client_, clinician, roles):
    roles["Administrator"].permissions.add(Permission.objects.get(codename="change_user"))
    url = f"/admin/auth/user/{clinician.pk}/password/"
    response = admin_client_.post(url, {"password1": "alice-garden-2026", "password2": "alice-garden-2026"})
    assert response.status_code == 200
    assert "The password contains the username" in response.content.decode()
    clinician.refresh_from_db()
    assert clinician.check_password("correct-horse-battery")


# --- permissions in one query (config/permissions.py) ------------------------------------------------


def fresh(user):
    """The user as a new request loads it: no permissions read yet."""
    return type(user).objects.get(pk=user.pk)


def test_permissions_come_from_the_users_groups_and_their_own_in_one_query(clinician, roles, django_assert_num_queries):
    clinician.user_permissions.add(Permission.objects.get(codename="view_analyte"))
    user = fresh(clinician)
    with django_assert_num_queries(1):
        granted = user.get_all_permissions()
        assert user.has_perm("labs.add_result") and user.has_perm("guidance.change_finding")
        assert not user.has_perm("labs.change_referencerange")  # the administrators'
    # What Django's own backend reads, in its two queries: the same set.
    from django.contrib.auth.backends import ModelBackend

    assert granted == ModelBackend().get_all_permissions(fresh(clinician))
    assert "labs.view_analyte" in granted and "guidance.view_finding" in granted


def test_an_inactive_or_groupless_user_has_no_permissions_and_a_superuser_has_all(clinician, roles):
    user = fresh(clinician)
    user.groups.clear()
    assert fresh(user).get_all_permissions() == set()
    type(user).objects.filter(pk=user.pk).update(is_superuser=True)
    assert len(fresh(user).get_all_permissions()) == Permission.objects.count()
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert fresh(user).get_all_permissions() == set()


def test_a_permission_taken_from_a_group_is_gone_at_the_next_request(clinician, roles):
    group = roles[CLINICIAN]
    assert fresh(clinician).has_perm("labs.add_result")
    group.permissions.remove(Permission.objects.get(codename="add_result"))
    assert not fresh(clinician).has_perm("labs.add_result")
