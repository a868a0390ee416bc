import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from patients.models import Patient

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
