"""Two-factor sign-in (config/two_factor.py): who is asked for a code, setting up an app, recovery codes, and
wrong codes counting towards the same lock-out as wrong passwords."""

import re
import subprocess
import sys

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.two_factor import replace_recovery_codes
from patients.roles import ADMINISTRATOR

from .conftest import app_code, enrol_authenticator_app
from .factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests/factories.py


def sign_in_with_password(client, username, next_url=None):
    data = {"username": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/login/", data)


def enter_code(client, code, next_url=""):
    return client.post("/login/code/", {"code": code, "next": next_url})


@pytest.fixture
def new_administrator(roles):
    """An administrator who has not set up an authenticator app yet."""
    user = UserFactory(username="dora", first_name="Dora", last_name="Admin", is_staff=True)
    user.groups.add(roles[ADMINISTRATOR])
    return user


@pytest.fixture
def app(administrator):
    return TOTPDevice.objects.get(user=administrator)


# --- Who is asked for what ------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_log_in_from_the_two_factor_pages(client):
    assert client.get("/account/two-factor/").url == "/login/?next=/account/two-factor/"
    # Nobody has typed a password in this session: the code page sends them to the password first.
    assert client.get("/login/code/").url == "/login/"


def test_admin_login_page_sends_people_to_the_app_login_with_their_next(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response.url == "/login/?next=/admin/"


def test_administrator_without_an_app_is_sent_to_set_one_up_before_any_page(client, new_administrator):
    response = sign_in_with_password(client, "dora", next_url="/admin/")
    assert response.url == "/admin/"
    for path in ["/", "/patients/", "/admin/", "/admin/auth/user/", "/exports/cohort/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.url == f"/account/two-factor/?next={path}", path
    page = client.get("/account/two-factor/?next=/admin/")
    assert page.status_code == 200
    assert b"Your account needs two-factor sign-in: set up an authenticator" in page.content
    assert b"<svg" in page.content  # the QR code, inline
    device = TOTPDevice.objects.get(user=new_administrator, confirmed=False)
    secret = re.search(rb'id="setup-key">([A-Z2-7 ]+)<', page.content).group(1).decode()
    assert len(secret.replace(" ", "")) == 32  # 20 random bytes in base32
    assert device.config_url.startswith("otpauth://totp/Myolab%3Adora?secret=")
    # Logging out stays possible.
    assert client.post("/logout/").status_code == 302


def test_setting_up_the_app_signs_in_with_it_and_shows_ten_recovery_codes_once(client, new_administrator):
    sign_in_with_password(client, "dora")
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=new_administrator)

    response = client.post("/account/two-factor/", {"code": app_code(device), "next": "/admin/"})

    assert response.status_code == 200
    assert b"Save these codes now: they are shown only once." in response.content
    codes = set(StaticToken.objects.filter(device__user=new_administrator).values_list("token", flat=True))
    assert len(codes) == 10
    for code in codes:
        assert f"<li>{code}</li>".encode() in response.content
    assert b'href="/admin/">I have saved my codes: continue' in response.content
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/admin/").status_code == 200
    assert client.get("/").status_code == 200


def test_a_wrong_code_while_setting_up_is_refused_and_nothing_is_turned_on(client, new_administrator):
    sign_in_with_password(client, "dora")
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=new_administrator)
    wrong = f"{(int(app_code(device)) + 1) % 1_000_000:06d}"

    response = client.post("/account/two-factor/", {"code": wrong})

    assert response.status_code == 200
    assert b"That code is not right. Type the 6-digit code the app shows now for Myolab" in response.content
    assert not TOTPDevice.objects.filter(user=new_administrator, confirmed=True).exists()
    assert not StaticToken.objects.filter(device__user=new_administrator).exists()
    assert client.get("/").url == "/account/two-factor/?next=/"


def test_administrator_with_an_app_is_asked_for_the_code_and_signed_in_only_when_it_is_right(
    client, administrator, app
):
    response = sign_in_with_password(client, "bob", next_url="/admin/")
    assert response.url == "/login/code/?next=%2Fadmin%2F"
    page = client.get(response.url)
    assert b"Enter your code" in page.content
    assert 'autocomplete="one-time-code"' in page.content.decode()
    # The password alone does not sign in.
    assert client.get("/").url == "/login/?next=/"
    assert client.get("/login/code/").status_code == 200  # still waiting for the code

    response = enter_code(client, app_code(app), next_url="/admin/")

    assert response.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_wrong_code_is_refused_with_a_clear_message_and_does_not_sign_in(client, administrator, app):
    sign_in_with_password(client, "bob")
    wrong = f"{(int(app_code(app)) + 1) % 1_000_000:06d}"

    response = enter_code(client, wrong)

    assert response.status_code == 200
    assert (
        b"That code is not right. Type the 6-digit code your authenticator app shows now, or one of your "
        b"recovery codes." in response.content
    )
    assert client.get("/").url == "/login/?next=/"
    # The attempt is recorded without the code typed.
    attempt = AccessAttempt.objects.get(username="bob")
    assert attempt.failures_since_start == 1
    assert wrong not in attempt.post_data
    assert "code=********************" in attempt.post_data


def test_the_code_is_accepted_with_spaces_as_apps_show_it(client, administrator, app):
    sign_in_with_password(client, "bob")
    code = app_code(app)
    assert enter_code(client, f" {code[:3]} {code[3:]} ").url == "/"


def test_a_code_is_accepted_once(client, administrator, app):
    code = app_code(app)
    sign_in_with_password(client, "bob")
    assert enter_code(client, code).url == "/"
    client.post("/logout/")
    sign_in_with_password(client, "bob")
    assert enter_code(client, code).status_code == 200  # refused: someone may have seen it typed


def test_an_unsafe_next_is_ignored_after_the_code(client, administrator, app):
    sign_in_with_password(client, "bob")
    assert enter_code(client, app_code(app), next_url="https://evil.example/").url == "/"


# --- Lock-out ---------------------------------------------------------------------------------------------


def test_repeated_wrong_codes_lock_the_account_like_wrong_passwords(client, administrator, app):
    assert settings.AXES_FAILURE_LIMIT == 5
    sign_in_with_password(client, "bob")
    for _ in range(4):
        assert enter_code(client, "000000").status_code == 200
    response = enter_code(client, "000000")
    assert response.status_code == 429
    assert b"Too many failed login attempts for this account." in response.content
    # The right code, and then the right password, are refused while the lock lasts.
    assert client.get("/login/code/").url == "/login/"
    response = sign_in_with_password(client, "bob")
    assert response.status_code == 429
    assert client.get("/").url == "/login/?next=/"


def test_the_right_password_does_not_clear_failed_codes(client, administrator, app):
    sign_in_with_password(client, "bob")
    for _ in range(4):
        enter_code(client, "000000")
    # A fresh login with the right password, then one more wrong code: five failures, locked.
    sign_in_with_password(client, "bob")
    assert enter_code(client, "000000").status_code == 429


def test_wrong_passwords_and_wrong_codes_add_up_to_the_same_limit(client, administrator, app):
    for _ in range(2):
        client.post("/login/", {"username": "bob", "password": "not-the-password"})
    sign_in_with_password(client, "bob")
    for _ in range(2):
        assert enter_code(client, "000000").status_code == 200
    assert enter_code(client, "000000").status_code == 429


def test_signing_in_with_the_code_clears_earlier_failures(client, administrator, app):
    sign_in_with_password(client, "bob")
    for _ in range(4):
        enter_code(client, "000000")
    assert enter_code(client, app_code(app)).url == "/"
    assert not AccessAttempt.objects.filter(username="bob").exists()


# --- Recovery codes ---------------------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once(client, new_administrator):
    enrol_authenticator_app(new_administrator)
    codes = replace_recovery_codes(new_administrator)
    sign_in_with_password(client, "dora")
    response = enter_code(client, codes[0].upper(), next_url="/admin/")  # as printed, or typed in capitals
    assert response.url == "/admin/"
    page = client.get("/admin/", follow=True)
    assert page.status_code == 200
    messages = [str(message) for message in page.context["messages"]]
    assert messages == [
        "You signed in with a recovery code; 9 left. If you have lost your phone, set up a new "
        "authenticator app now under Two-factor sign-in."
    ]
    client.post("/logout/")

    sign_in_with_password(client, "dora")
    response = enter_code(client, codes[0])
    assert response.status_code == 200
    assert b"That code is not right." in response.content
    assert enter_code(client, codes[1]).url == "/"


def test_new_recovery_codes_replace_the_old_ones(client, administrator):
    old = replace_recovery_codes(administrator)
    client.force_login(administrator)

    response = client.post("/account/two-factor/recovery-codes/")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new = set(StaticToken.objects.filter(device__user=administrator).values_list("token", flat=True))
    assert len(new) == 10
    assert not new & set(old)


def test_new_recovery_codes_need_a_session_signed_in_with_the_app(client, clinician):
    client.force_login(clinician)  # a clinician without an app
    assert client.post("/account/two-factor/recovery-codes/").url == "/account/two-factor/"
    assert not StaticToken.objects.exists()
    assert client.get("/account/two-factor/recovery-codes/").status_code == 405


# --- Clinicians and the setting ---------------------------------------------------------------------------


def test_clinician_is_not_asked_for_a_second_factor_while_the_setting_is_off(client, clinician):
    assert settings.TWO_FACTOR_REQUIRED_FOR_CLINICIANS is False
    assert sign_in_with_password(client, "alice").url == "/"
    assert client.get("/").status_code == 200
    assert client.get("/patients/").status_code == 200


def test_with_the_setting_on_a_clinician_must_set_up_an_app(client, clinician, settings):
    settings.TWO_FACTOR_REQUIRED_FOR_CLINICIANS = True
    sign_in_with_password(client, "alice")
    assert client.get("/patients/").url == "/account/two-factor/?next=/patients/"


def test_with_the_setting_on_a_clinician_with_an_app_is_asked_for_its_code(client, clinician, settings):
    settings.TWO_FACTOR_REQUIRED_FOR_CLINICIANS = True
    device = enrol_authenticator_app(clinician)
    assert sign_in_with_password(client, "alice").url == "/login/code/"
    assert enter_code(client, app_code(device)).url == "/"
    assert client.get("/patients/").status_code == 200


def test_a_clinician_who_set_up_an_app_is_asked_for_its_code_even_with_the_setting_off(client, clinician):
    device = enrol_authenticator_app(clinician)
    assert sign_in_with_password(client, "alice").url == "/login/code/"
    assert enter_code(client, app_code(device)).url == "/"


def test_user_without_a_role_is_asked_only_when_the_setting_is_on(client, settings):
    UserFactory(username="norole")
    sign_in_with_password(client, "norole")
    assert client.get("/patients/").status_code == 403  # signed in, no permission
    settings.TWO_FACTOR_REQUIRED_FOR_CLINICIANS = True
    assert client.get("/patients/").url == "/account/two-factor/?next=/patients/"


@pytest.mark.parametrize("role", ["clinician", "administrator"])
def test_everyone_signed_in_may_open_the_setup_page(client, role, request):
    client.force_login(request.getfixturevalue(role))
    response = client.get("/account/two-factor/")
    assert response.status_code == 200
    assert b"Turn on two-factor sign-in" in response.content


# --- An administrator resets a lost app -------------------------------------------------------------------


def test_administrator_sees_and_deletes_a_users_app_in_the_admin(admin_client_, clinician):
    device = enrol_authenticator_app(clinician)
    listing = admin_client_.get("/admin/otp_totp/totpdevice/")
    assert listing.status_code == 200
    assert b"alice" in listing.content
    # The secret key is never shown.
    change = admin_client_.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert device.key.encode() not in change.content

    response = admin_client_.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()


def test_clinician_cannot_open_the_devices_in_the_admin(clinician_client):
    response = clinician_client.get("/admin/otp_totp/totpdevice/")
    assert response.status_code == 302  # the admin sends non-staff to its login, which sends them to ours
    assert response.url.startswith("/admin/login/")


def test_after_a_reset_the_user_sets_up_a_new_app_at_the_next_page(client, administrator, app):
    client.force_login(administrator)
    assert client.get("/").status_code == 200
    app.delete()  # an administrator deleted it in the admin
    assert client.get("/").url == "/account/two-factor/?next=/"
    # At the next sign-in the password is enough to reach the setup page, and only that.
    client.post("/logout/")
    sign_in_with_password(client, "bob")
    assert client.get("/admin/").url == "/account/two-factor/?next=/admin/"


# --- Settings ----------------------------------------------------------------------------------------------


def test_turning_off_the_administrators_requirement_is_refused_with_debug_off():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "x" * 60,
            "TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS": "false",
        },
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert result.returncode != 0
    assert "TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS=false is for the local demo only" in result.stderr


def test_production_defaults_require_administrators_and_leave_clinicians_to_the_clinic():
    from config import settings as production

    assert production.TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS is True
    assert production.TWO_FACTOR_REQUIRED_FOR_CLINICIANS is False
    assert production.MIDDLEWARE.index("django_otp.middleware.OTPMiddleware") < production.MIDDLEWARE.index(
        "config.two_factor.RequireSecondFactorMiddleware"
    )
