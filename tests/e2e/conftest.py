"""Browser end-to-end machinery: headless Chromium from Debian driven by Playwright against pytest-django's
live server, with helpers that log in as a role, save screenshots and run axe-core on a page.

Run with `make e2e`. Every test in this folder is marked `e2e` (see `pytest_collection_modifyitems`), so
`make test` (`-m "not e2e"`) leaves them out. Select elements the way a person or a screen reader finds
them (`get_by_role`, `get_by_label`, `get_by_text`), never by CSS classes.

Journeys covered:
  - test_clinician_journey.py, one continuous test typed entirely into the pages: log in, register a
    patient (a bad MRN first: error beside it, nothing saved), find and edit her, enter a panel in mixed
    units with an implausible calcium (error beside it, nothing saved), fix it, read flags, ranges,
    findings and trend charts on the patient page, open the explanation, take the critical potassium
    from the worklist, acknowledge it (refused without a comment), plan a follow-up and mark it done,
    open the printable summary and download the PDF, CSV and FHIR exports from the patient page and
    check their content, log out.
  - test_results_journey.py: correct a result with a reason (refused without one) and mark another
    entered in error; the old value stays in the history and both findings are resolved.
  - test_administrator_journey.py: users, a patient's history; a new reference range version that only
    later results use.
  - test_two_factor_journey.py: an administrator's first sign-in sets up an authenticator app (QR code
    and key; a wrong code refused first), saves the recovery codes, then signs in with the app's code
    and, another time, with a recovery code, which then no longer works.
  - test_anonymous_journey.py: every main page (including results, findings and plans) asks for a
    login; repeated wrong passwords lock the account.
  - test_followup_journey.py: a repeat potassium entered after its repeat-test plan is made shows
    "Result received" on the worklist before the plan is due, and the plan is then marked done; "No action
    needed" on a non-critical finding (refused without a reason, the error on the reason) says who decided
    and why; a cancelled plan (refused without an outcome note) puts its finding back on the worklist;
    an administrator downloads the cohort CSV (a back-to-front range refused first; header, a known
    patient's rows, the export logged) and a clinician is refused it (403 page, nothing logged).

  - test_results_over_time_journey.py: a potassium 3.6 then 5.1 two days later (both within range)
    opens a delta finding, shown with the change on the patient page, the worklist and the finding, its
    explanation names the causes, and it is closed as no action needed; the cumulative view pages back
    and forth and refuses a page past the end; at 1366 × 768 every test's newest value shows without
    scrolling and the table fits the width; at 390 px a value, its unit and flag stay on one line and
    the page itself is no wider than the screen.
  - test_api_client_journey.py: an administrator issues an API client credential (the token shown once),
    a request with it reads a patient (logged with the client's name) while the browser's own session
    is refused, then the administrator revokes it and the token is refused.
  - test_upload_journey.py: a file of laboratory messages previewed (counts of what each would become),
    imported in the background: the progress page waits for the worker, its script sees the import end
    and shows the summary, whose held message opens with its reason.

Steps still to add (TODO):
  - Debian's chromium here ships only the en-US locale, so the browser's own date inputs show
    mm/dd/yyyy in screenshots even though the context asks for en-GB (`apt-get install chromium-l10n`
    would fix the screenshots; the values sent are ISO dates either way).
"""

import json
import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import sync_playwright

from ..conftest import app_code

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright's own browser download does not work here.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTEFACTS = Path(settings.BASE_DIR) / "test-artefacts"
SCREENSHOTS = ARTEFACTS / "screenshots"
AXE_REPORTS = ARTEFACTS / "axe"
# axe impacts, least to most severe: minor, moderate, serious, critical. These two fail the test.
FAILING_IMPACTS = {"serious", "critical"}
# The password tests/factories.py gives every UserFactory user.
PASSWORD = "correct-horse-battery"


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m selection sees the items
def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls from a thread
    # with a running loop; the test code's own queries (factories, assertions) are plain sync code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"The browser tests need Debian's Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, django_db_serialized_rollback):
    """A fresh browser tab (own cookies) on the live server; relative URLs like "/patients/" work.

    The live server needs a transactional database, which empties every table after each test; the
    serialized rollback restores what migrations loaded (roles' permissions, contributing factors, the
    analyte catalogue) for the next test.
    """
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 900},
        # As the app's users: British dates in the browser's own date inputs.
        locale="en-GB",
        timezone_id="Europe/London",
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    # Chromium reports what the Content-Security-Policy blocks on the console ("Refused to …"): a page
    # that needed an inline script or style would look broken, so any such message fails the test.
    refused = tab.csp_refused = []
    tab.on(
        "console",
        lambda message: "Content Security Policy" in message.text and refused.append(f"{tab.url}: {message.text}"),
    )
    yield tab
    context.close()
    assert not refused, "The Content-Security-Policy blocked something:\n" + "\n".join(refused)


def log_in(page, username, password=PASSWORD):
    """Log in through the login form, the way a person does, and wait for the next page.

    A user with an authenticator app (every administrator, tests/conftest.py) is then asked for its code:
    this types the code the app would show, computed from the device's key as the phone does.
    """
    if not page.url.split("?")[0].endswith("/login/"):
        page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    if page.url.split("?")[0].endswith("/login/code/"):
        enter_code(page, app_code(TOTPDevice.objects.get(user__username=username, confirmed=True)))


def enter_code(page, code):
    """Type a code on the code page and sign in."""
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def log_out(page):
    """Log out with the navigation bar's button; the app then shows the login page."""
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in to Myolab").wait_for()


@pytest.fixture
def clinician_page(page, clinician):
    """A tab logged in as the clinician Alice (tests/conftest.py)."""
    log_in(page, clinician.username)
    return page


@pytest.fixture
def admin_page(page, administrator):
    """A tab logged in as the administrator Bob: staff and in the Administrator role, not a superuser."""
    log_in(page, administrator.username)
    return page


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def describe_violations(violations):
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['html']}")
    return "\n".join(lines)


def check_accessibility(page, name):
    """Run axe-core on the page as it is now; fail on any serious or critical violation.

    Every violation, whatever its impact, is printed and written to test-artefacts/axe/<name>.json.
    """
    before = len(page.csp_refused)
    violations = Axe().run(page).response["violations"]
    # axe-core, which the test injects, applies inline styles while it measures some pages (the range
    # editor): the policy refuses them, but they are axe's, not the app's.
    del page.csp_refused[before:]
    AXE_REPORTS.mkdir(parents=True, exist_ok=True)
    (AXE_REPORTS / f"{name}.json").write_text(json.dumps(violations, indent=2))
    print(f"axe on {name} ({page.url}): {len(violations)} violation(s)")
    if violations:
        print(describe_violations(violations))
    failing = [violation for violation in violations if violation["impact"] in FAILING_IMPACTS]
    assert not failing, f"Serious or critical accessibility violations on {name}:\n{describe_violations(failing)}"


def check_page(page, name):
    """What every main page gets: a screenshot for people to look at, then the accessibility check."""
    screenshot(page, name)
    check_accessibility(page, name)
