"""Journey: two-factor sign-in, as an administrator meets it.

First sign-in: the password, then the setup page (QR code and key); the key goes into an authenticator app
(computed here as the phone would), a wrong code is refused, the right one turns it on and the recovery
codes are shown once. Next sign-ins: the app's code; then a recovery code, which works only once.
"""

import base64
import re

from django_otp.oath import TOTP
from playwright.sync_api import expect

from patients.roles import ADMINISTRATOR
from tests.factories import UserFactory

from .conftest import PASSWORD, check_page, enter_code, log_in, log_out, screenshot


def phone_code(secret):
    """What an authenticator app shows now for the key typed in from the setup page."""
    return f"{TOTP(base64.b32decode(secret.replace(' ', ''))).token():06d}"


def test_administrator_sets_up_two_factor_sign_in_and_uses_a_code_and_a_recovery_code(page, roles):
    dora = UserFactory(username="dora", first_name="Dora", last_name="Admin", is_staff=True)
    dora.groups.add(roles[ADMINISTRATOR])

    # First sign-in: the password, then every page leads to setting up the app.
    page.goto("/admin/")
    log_in(page, "dora")
    expect(page).to_have_url(re.compile(r"/account/two-factor/\?next=/admin/$"))
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Your account needs two-factor sign-in")
    expect(page.locator(".qr-code svg")).to_be_visible()
    check_page(page, "two-factor-setup")
    page.goto("/patients/")
    expect(page).to_have_url(re.compile(r"/account/two-factor/\?next=/patients/$"))

    # The key, typed into the app instead of scanning; a wrong code first.
    page.goto("/account/two-factor/?next=/admin/")
    secret = page.locator("#setup-key").inner_text()
    right = phone_code(secret)
    page.get_by_label("Code").fill(f"{(int(right) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_text("That code is not right. Type the 6-digit code the app shows now")).to_be_visible()
    page.get_by_label("Code").fill(right)
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    # The recovery codes, once; then on to where she was going.
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem").all_inner_texts()
    assert len(codes) == 10
    check_page(page, "two-factor-recovery-codes")
    page.get_by_role("link", name="I have saved my codes: continue").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto("/")
    log_out(page)

    # Next sign-in: the password, then the app's code (log_in types it).
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    check_page(page, "two-factor-code")
    enter_code(page, "000000")
    expect(page.get_by_text("That code is not right. Type the 6-digit code your authenticator app")).to_be_visible()
    screenshot(page, "two-factor-code-wrong")
    page.get_by_role("link", name="Back to the login page").click()
    log_in(page, "dora")
    expect(page.get_by_text("Signed in as Dora Admin (Administrator)")).to_be_visible()
    log_out(page)

    # Phone lost: a recovery code instead, which then no longer works.
    for attempt in ("first", "again"):
        page.get_by_label("Username").fill("dora")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        enter_code(page, codes[0])
        if attempt == "first":
            expect(page.get_by_role("alert")).to_contain_text("You signed in with a recovery code; 9 left.")
            log_out(page)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    expect(page.get_by_text("That code is not right.")).to_be_visible()
