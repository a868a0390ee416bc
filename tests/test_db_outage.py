"""The database stops under load and comes back: a PostgreSQL cluster of this test's own (never the shared
server), Myolab under gunicorn against it, clinicians saving panels in a few threads.

What must hold: while the database is down every page answers 503 with Retry-After (config.views.server_error),
/healthz too; once it is back the same gunicorn serves again, with no restart; and every panel whose save was
acknowledged (302 to the patient page) is in the database exactly once — none lost, none duplicated.

It needs PostgreSQL's server programs (initdb, pg_ctl: Debian's postgresql package, which CI installs) and
fails, saying so, where they are missing. Run as root, it runs them as the `postgres` system user, since
PostgreSQL refuses to run as root. Everything listens on 127.0.0.1 only, on ports free at the time.
"""

import glob
import http.cookiejar
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
WRITERS = 3  # clinicians saving panels at once, each for a patient of their own
MAX_WRITES_PER_WRITER = 400  # a bound on the load, whatever the timings
PASSWORD = "outage-test-password-0"
OUTAGE_SECONDS = 3
# The page polled while the database is away and until it is back (the patient list: a session, a query).
PAGE = "/patients/"


def postgres_programs():
    """The directory of initdb and pg_ctl, or a failure that says how to get them (never a skip)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(path.split("/")[-2]))
    on_path = shutil.which("pg_ctl")
    for directory in [*reversed(candidates), *([str(Path(on_path).parent)] if on_path else [])]:
        if all(os.access(Path(directory) / name, os.X_OK) for name in ("initdb", "pg_ctl")):
            return Path(directory)
    pytest.fail(
        "This test starts a PostgreSQL cluster of its own and needs PostgreSQL's initdb and pg_ctl "
        "(looked in /usr/lib/postgresql/*/bin and on PATH). Install them: apt-get install postgresql."
    )


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory, on a free port, trusting local logins."""

    def __init__(self, programs):
        self.programs = programs
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="myolab-outage-"))
        # PostgreSQL will not run as root: then its programs run as the postgres system user.
        self.as_user = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("Run as root, this test runs PostgreSQL as the 'postgres' user, which does not exist.")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, program, *args):
        command = [*self.as_user, str(self.programs / program), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=60)  # noqa: S603 - PostgreSQL's own programs

    def create(self):
        self.run("initdb", "-D", str(self.directory / "data"), "-U", "postgres", "--auth=trust", "--no-sync")

    def start(self):
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        log = str(self.directory / "postgres.log")
        self.run("pg_ctl", "-D", str(self.directory / "data"), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode="fast"):
        self.run("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")

    def remove(self):
        subprocess.run(  # noqa: S603 - PostgreSQL's own pg_ctl
            [
                *self.as_user,
                str(self.programs / "pg_ctl"),
                "-D",
                str(self.directory / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 is the answer we look at, not a page to go on to


class Browser:
    """One person's browser: its own cookies (session, CSRF token), redirects not followed."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), NoRedirects)

    def csrf_token(self):
        return next((cookie.value for cookie in self.cookies if cookie.name == "csrftoken"), "")

    def request(self, path, data=None):
        """(status, headers, body) of GET path, or of POST data to it (with the CSRF token)."""
        body = None
        if data is not None:
            body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self.csrf_token()}).encode()
        try:
            with self.opener.open(self.base_url + path, data=body, timeout=20) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as answer:
            return answer.code, answer.headers, answer.read().decode()

    def log_in(self, username):
        self.request("/login/")  # the CSRF cookie
        status, headers, _ = self.request("/login/", {"username": username, "password": PASSWORD})
        assert (status, headers["Location"]) == (302, "/"), f"{username} could not log in ({status})"


SETUP = """
import datetime, json
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from labs.models import AnalyteUnit
from patients.roles import CLINICIAN
from patients.services import register_patient
call_command("setup_roles", verbosity=0)
clinicians = Group.objects.get(name=CLINICIAN)
patients = []
for n in range({writers}):
    user = User.objects.create_user(f"writer{{n}}", password="{password}")
    user.groups.add(clinicians)
    patient = register_patient(by=user, mrn=f"OUTAGE-{{n}}", given_name="Outage", family_name=f"Test{{n}}",
                               date_of_birth=datetime.date(1970, 1, 1), sex="female")
    patients.append(patient.pk)
unit = AnalyteUnit.objects.get(analyte__code="k", unit="mmol/L").pk
print(json.dumps({{"patients": patients, "unit": unit}}))
"""


@pytest.fixture
def cluster():
    cluster = Cluster(postgres_programs())
    try:
        cluster.create()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def app_environment(cluster):
    """The settings of the served app: the production settings with the test suite's secrets and plain
    HTTP (config.settings_test sets those through the same environment variables), on the cluster."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": cluster.url,
        "DEBUG": "false",
        "SECRET_KEY": "outage-test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def fixtures_in_cluster(app_environment):
    """Migrated, with the roles, one clinician and one patient per writer: {"patients": [ids], "unit": id}."""

    def manage(*args):
        done = subprocess.run(  # noqa: S603 - this interpreter on this project's manage.py
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=app_environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--no-input", "--verbosity", "0")
    output = manage("shell", "-c", SETUP.format(writers=WRITERS, password=PASSWORD))
    return json.loads(output.strip().splitlines()[-1])


@pytest.fixture
def server(app_environment, fixtures_in_cluster, tmp_path):
    """gunicorn serving Myolab on a free port (two processes of four threads), once /healthz says ok."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        "--workers=2",
        "--threads=4",
        "--worker-class=gthread",
    ]
    # Its log and Django's (a traceback for each request the outage failed) go to a file, shown on a failure.
    log_file = log.open("w")
    process = subprocess.Popen(  # noqa: S603 - this interpreter's gunicorn
        command, cwd=BASE_DIR, env=app_environment, stdout=log_file, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"

    def serving():
        assert process.poll() is None, log.read_text()[-3000:]
        return port_open(port) and Browser(base_url).request("/healthz")[0] == 200

    try:
        wait_for(serving, 20, "gunicorn to answer /healthz")
        yield base_url, process, log
    finally:
        process.terminate()
        process.wait(timeout=20)
        log_file.close()


def port_open(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {seconds} s waiting for {what}"
        time.sleep(0.05)


def test_database_stopped_under_load_loses_no_acknowledged_panel_and_serving_resumes(
    cluster, fixtures_in_cluster, server
):
    base_url, gunicorn, log = server
    unit = fixtures_in_cluster["unit"]
    outcomes = []  # (accession number, status, phase) of every save tried
    unexpected = []  # what was answered other than a save (302) or 503, to say in the failure
    phase = {"now": "before"}
    stop = threading.Event()

    def writer(n, patient):
        browser = Browser(base_url)
        browser.log_in(f"writer{n}")
        for i in range(MAX_WRITES_PER_WRITER):
            if stop.is_set():
                return
            accession = f"W{n}-{i}"
            url = f"/patients/{patient}/results/new/"
            # Each save from a freshly shown form (its one-time key), a minute apart, so none of them
            # looks like a resubmission of the one before (core.form_keys, the recent-duplicate question).
            shown, _, form = browser.request(url)
            key = re.search(r'name="form_key" value="([^"]+)"', form)
            if key is None:  # the form itself was not shown (503 while the database is down)
                outcomes.append((accession, shown, phase["now"]))
                if shown != 503:
                    unexpected.append(("form", accession, shown, phase["now"], form[:500]))
                time.sleep(0.01)
                continue
            when = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() - 86400 - 60 * i))
            data = {"collected_at": when, "lab_name": "Outage Lab", "accession_number": accession}
            data["form_key"] = key.group(1)
            status, headers, body = browser.request(url, {**data, "k_value": "4.0", "k_unit": str(unit)})
            acknowledged = status == 302 and headers["Location"] == f"/patients/{patient}/"
            if not acknowledged and status != 503:
                errors = re.findall(r"(?:alert-danger|invalid-feedback)[^>]*>([^<]{0,300})", body)
                unexpected.append(("save", accession, status, phase["now"], errors or body[:500]))
            outcomes.append((accession, "acknowledged" if acknowledged else status, phase["now"]))
            time.sleep(0.01)

    def acknowledged_in(which):
        return sum(1 for _, outcome, when in outcomes if outcome == "acknowledged" and when == which)

    threads = [
        threading.Thread(target=writer, args=(n, patient), daemon=True)
        for n, patient in enumerate(fixtures_in_cluster["patients"])
    ]
    reader = Browser(base_url)
    reader.log_in("writer0")
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: acknowledged_in("before") >= 10, 20, "10 panels saved before the outage")

        phase["now"] = "outage"
        cluster.stop("fast")
        outage = []  # what the page and /healthz answered while the database was down
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            outage.append(("page", *reader.request(PAGE)))
            outage.append(("healthz", *reader.request("/healthz")))
            time.sleep(0.05)
        cluster.start()
        phase["now"] = "after"
        restarted = time.monotonic()
        wait_for(lambda: reader.request(PAGE)[0] == 200, 15, "the patient list to answer 200 again")
        back_after = time.monotonic() - restarted
        wait_for(lambda: acknowledged_in("after") >= 10, 20, "10 panels saved after the outage")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    # During the outage: 503 with Retry-After and the page that says nothing was saved, never a 500.
    assert len(outage) >= 10
    for what, status, headers, body in outage:
        assert status == 503, (what, status, body[:300])
        if what == "page":
            assert headers["Retry-After"] == "30"
            assert "Nothing you entered was saved" in body
    # Writers were answered too, 302 or 503, never a 500 or an unanswered request.
    statuses = {outcome for _, outcome, _ in outcomes}
    assert statuses <= {"acknowledged", 503}, (statuses, unexpected, log.read_text()[-3000:])
    assert any(outcome == 503 for _, outcome, when in outcomes if when == "outage")
    # Back without a restart: the same gunicorn (the master, whose workers kept their processes) serves.
    assert gunicorn.poll() is None
    assert back_after < 10

    database = psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres")
    with closing(database), database.cursor() as cursor:
        cursor.execute(
            "SELECT panel.accession_number, count(DISTINCT panel.id), count(result.id) FROM labs_panel panel "
            "LEFT JOIN labs_result result ON result.panel_id = panel.id "
            "WHERE panel.lab_name = 'Outage Lab' GROUP BY panel.accession_number"
        )
        stored = {accession: (panels, results) for accession, panels, results in cursor.fetchall()}
    acknowledged = {accession for accession, outcome, _ in outcomes if outcome == "acknowledged"}
    # None lost: every acknowledged panel is there, with its one result.
    assert {accession: stored.get(accession) for accession in acknowledged} == dict.fromkeys(acknowledged, (1, 1))
    # None duplicated: no accession number stored twice, no panel stored that no writer sent.
    assert all(counts == (1, 1) for counts in stored.values()), stored
    assert set(stored) <= {accession for accession, _, _ in outcomes}


def test_without_postgresql_programs_the_outage_test_fails_saying_what_to_install(monkeypatch):
    monkeypatch.setattr(glob, "glob", lambda pattern: [])
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(
        pytest.fail.Exception, match=r"needs PostgreSQL's initdb and pg_ctl .* apt-get install postgresql"
    ):
        postgres_programs()
