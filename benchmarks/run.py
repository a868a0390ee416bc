"""Load benchmark: Myolab under gunicorn against PostgreSQL holding 2,000,000 results.

    make bench            (or: .venv/bin/python benchmarks/run.py)

1. Uses the database BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/myolab_bench),
   creating it if missing, migrates it, loads the guidance content and fills it with `manage.py generate_data` (this folder's
   management/commands/generate_data.py: 50,000 patients × 40 results, plus one patient with 1,000
   results) unless that data set is already there.
2. Starts gunicorn (2 sync workers, DEBUG off, a fresh SECRET_KEY, plain HTTP) on 127.0.0.1:BENCH_PORT.
3. Logs in eight clinicians (one bench account, eight sessions) through the login form.
4. Drives each page with wrk: eight connections, one per session, each sending its next request as soon
   as the last one is answered (no think time: a busier clinic than eight real people make).
5. Counts SQL queries per page separately, with Django's test client against the same database.
6. Prints a table and writes it as JSON to benchmarks/results/.

Settings: BENCH_DATABASE_URL, BENCH_PATIENTS (50000), BENCH_SECONDS per page (20), BENCH_USERS (8),
BENCH_PORT (8105), BENCH_WORKERS (gunicorn's sync workers, 2), BENCH_ONLY (measure only the pages whose
names contain one of these comma-separated words, e.g. BENCH_ONLY=worklist,save; the floor is always
measured).
"""

import datetime
import http.cookiejar
import json
import os
import platform
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/myolab_bench")
PATIENTS = int(os.environ.get("BENCH_PATIENTS", "50000"))
RESULTS_PER_PATIENT = 40
LONG_HISTORY = 1000
SEED = 1
USERS = int(os.environ.get("BENCH_USERS", "8"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
PORT = int(os.environ.get("BENCH_PORT", "8105"))
ALONE_REQUESTS = 5
ONLY = [word.strip() for word in os.environ.get("BENCH_ONLY", "").split(",") if word.strip()]
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
BASE = f"http://127.0.0.1:{PORT}"
BENCH_USER = "bench-clinician"
SAVE_PATIENT_MRN = "BENCH-SAVE"
BENCH_API_CLIENT = "Bench EHR"
# Targets from issue 7: p95 in milliseconds by kind of page.
TARGET_MS = {"html": 150, "live": 150, "csv": 150, "fhir": 150, "api": 150, "pdf": 1000, "floor": None}
# Targets of issues 12-14 and 17: p50 within this multiple of the /healthz floor of the same run.
FLOOR_MULTIPLE = {"html": 40, "live": 10, "api": 40}
# The 6-analyte panel the save benchmark posts (canonical units); CSRFTOKEN is filled in per session.
PANEL = {"vitd25": "15.0", "mg": "2.10", "ca": "9.4", "k": "3.2", "ck": "250", "alb": "4.2"}

ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DATABASE_URL": DATABASE_URL,
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "SECURE_SSL_REDIRECT": "false",
    "SECURE_COOKIES": "false",
    "SECURE_HSTS_SECONDS": "0",
    # testserver: the query counts use Django's test client in this process.
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "LOG_LEVEL": "WARNING",
    # The API pages are driven as fast as the server answers: no per-client limit in the way.
    "API_REQUESTS_PER_MINUTE": "100000000",
}


def main():
    ensure_database()
    setup = (["migrate", "--no-input"], ["createcachetable"], ["setup_roles"], ["load_guidance_content"])
    for command in (*setup, ["collectstatic", "--no-input"]):
        manage(*command, quiet=True)
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    ensure_data()
    password, save_patient = prepare_accounts()
    pages, missing = plan_pages(save_patient, api_token=prepare_api_client())
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", PORT)) == 0:
            sys.exit(f"Port {PORT} is in use (an earlier run's server?); stop it or set BENCH_PORT.")
    server = subprocess.Popen(
        # No control socket: it lives at one path per user, which two gunicorns on one machine would share.
        [
            BIN / "gunicorn",
            "config.wsgi",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{PORT}",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=ENV,
    )
    try:
        wait_for_server()
        sessions = [log_in(password, pages) for _ in range(USERS)]
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as handle:
            handle.writelines(f"{cookie}\t{token}\n" for cookie, token in sessions)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as bodies:
            # More than 8 users can save in SECONDS (about 60 panels a second at best).
            bodies.writelines(f"{body}\n" for body in panel_bodies(save_patient, 200 * SECONDS * USERS // 8 + 100))
        measured = [load(page, handle.name, bodies.name) for page in pages]
    finally:
        server.terminate()
        server.wait(timeout=30)
    for row in measured:
        row["queries"] = count_queries(row, pages)
    report(measured, missing, pages)


def manage(*args, quiet=False):
    print(f"$ manage.py {' '.join(args)}", flush=True)
    output = subprocess.DEVNULL if quiet else None
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=ENV, check=True, stdout=output)


def ensure_database():
    import psycopg2

    url = urllib.parse.urlparse(DATABASE_URL)
    name = url.path.lstrip("/")
    try:
        admin = psycopg2.connect(
            host=url.hostname, port=url.port or 5432, user=url.username, password=url.password, dbname="postgres"
        )
    except psycopg2.OperationalError as error:
        sys.exit(
            f"Cannot reach PostgreSQL at {url.hostname}:{url.port or 5432} ({error}). Start it, or set BENCH_DATABASE_URL."
        )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cursor.fetchone():
            print(f"Creating database {name}", flush=True)
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def ensure_data():
    from patients.models import Patient

    if Patient.objects.filter(mrn=f"S{SEED}-LONG").exists():
        print("The synthetic data set is already there.", flush=True)
        return
    if Patient.objects.filter(mrn__istartswith=f"S{SEED}-").exists():
        sys.exit(
            "The database holds an incomplete synthetic data set (generation was interrupted). "
            f"Drop it (dropdb {urllib.parse.urlparse(DATABASE_URL).path.lstrip('/')}) and run again."
        )
    manage(
        "generate_data",
        f"--patients={PATIENTS}",
        f"--results-per-patient={RESULTS_PER_PATIENT}",
        f"--seed={SEED}",
        f"--long-history={LONG_HISTORY}",
        "--force",
    )


def prepare_accounts():
    """The bench clinician (a fresh password each run) and the patient whose panels the save test adds."""
    from django.contrib.auth.models import Group, User

    from patients.models import Patient
    from patients.roles import CLINICIAN
    from patients.services import register_patient

    password = secrets.token_urlsafe(24)
    user, _ = User.objects.get_or_create(username=BENCH_USER, defaults={"first_name": "Bench", "last_name": "User"})
    user.set_password(password)
    user.save()
    user.groups.add(Group.objects.get(name=CLINICIAN))
    patient = Patient.objects.filter(mrn=SAVE_PATIENT_MRN).first() or register_patient(
        by=user,
        mrn=SAVE_PATIENT_MRN,
        given_name="Bench",
        family_name="Saves",
        date_of_birth=datetime.date(1960, 5, 5),
        sex=Patient.Sex.FEMALE,
    )
    forget_earlier_saves(patient)
    return password, patient


def prepare_api_client():
    """A fresh API client credential for the API pages (the earlier run's is revoked): its bearer token."""
    from django.contrib.auth.models import User

    from api.models import ApiClient
    from api.services import issue_client, revoke_client

    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_active": False})
    for earlier in ApiClient.objects.active().filter(name__startswith=BENCH_API_CLIENT):
        revoke_client(earlier, by=admin)
    _, token = issue_client(name=f"{BENCH_API_CLIENT} {secrets.token_hex(4)}", by=admin)
    return token


def forget_earlier_saves(patient):
    """Delete the panels earlier runs saved for the bench patient, with their results and findings. A run
    saves a few thousand panels whose low values each open findings: left in place, they piled up on the
    worklist run after run (11,000 undecided findings became 22,000), so each run measured a bigger data
    set than the last. This is the benchmark's own database: nothing else writes to this patient."""
    from django.db import transaction

    from guidance.models import Finding
    from labs.models import Panel, Result

    with transaction.atomic():
        panels = Panel.objects.filter(patient=patient).count()
        for model in (Finding, Result, Panel):  # in this order: each row protects the ones it points to
            model.history.filter(patient_id=patient.pk).delete()
            model.objects.filter(patient=patient).delete()
    if panels:
        print(f"Deleted the {panels:,} panels earlier runs saved for {SAVE_PATIENT_MRN}.", flush=True)


def plan_pages(save_patient, api_token=None):
    """(pages to measure, names of the pages that do not exist in this version of the app). The API's
    pages are asked with `api_token` as the bearer token instead of a session."""
    from django.urls import NoReverseMatch, reverse

    from patients.models import Patient

    long_patient = Patient.objects.get(mrn=f"S{SEED}-LONG")
    typical_patient = Patient.objects.get(mrn=f"S{SEED}-000001")
    deep_page = max(1, Patient.objects.active().count() // 50 * 9 // 10)
    wanted = [
        # name, kind, URL name, args, query string, the same page for a patient with 40 results
        ("healthz (floor)", "floor", "healthz", [], "", None),
        ("patient list, first page", "html", "patients:list", [], "", None),
        ("patient list, search 'smith'", "html", "patients:list", [], "?q=smith", None),
        (f"patient list, page {deep_page}", "html", "patients:list", [], f"?page={deep_page}", None),
        ("patient page, 1,000 results", "html", "guidance:patient_page", [long_patient.pk], "", typical_patient.pk),
        (
            "patient page, cumulative page 2",
            "html",
            "guidance:patient_page",
            [long_patient.pk],
            "?cumulative=2",
            typical_patient.pk,
        ),
        ("entry page (GET)", "html", "guidance:enter_results", [save_patient.pk], "", None),
        # What static/js/entry.js asks as the clinician types a value: its unit, range and flag.
        (
            "live interpretation (typing)",
            "live",
            "guidance:interpret_value",
            [save_patient.pk],
            "?" + live_query(),
            None,
        ),
        ("save a 6-analyte panel (POST)", "html", "guidance:enter_results", [save_patient.pk], "", None),
        ("worklist (home page)", "html", "home", [], "", None),
        # The bench clinician owns no plans, so the home page above has no follow-ups list; a clinician
        # with plans due sees one, as everyone's view shows (20 of them).
        ("worklist, everyone's follow-ups", "html", "home", [], "?plans=everyone", None),
        ("report review page", "html", "guidance:report", ["report"], "", None),
        ("finding page", "html", "guidance:finding", ["finding"], "", None),
        ("explanation page", "html", "guidance:topic", ["topic"], "", None),
        # The patient page's trend charts are images of their own URL: a browser asks for up to nine of
        # them with each new version of a patient's results (and keeps them while the version is current).
        ("trend chart image (potassium)", "html", "labs:trend_chart", [long_patient.pk, "k"], "", None),
        ("summary, 1,000 results", "html", "exports:summary", [long_patient.pk], "", typical_patient.pk),
        ("PDF summary, 1,000 results", "pdf", "exports:summary_pdf", [long_patient.pk], "", typical_patient.pk),
        ("CSV results, 1,000 results", "csv", "exports:results_csv", [long_patient.pk], "", typical_patient.pk),
        ("FHIR bundle, 1,000 results", "fhir", "exports:fhir", [long_patient.pk], "", typical_patient.pk),
        # The API for other systems (bearer token, no session): a page of 100 of the 1,000 results, and
        # a CDS Hooks patient-view call for the same patient (POST, its JSON body below).
        ("API Observation search, _count=100", "api", "api:observation_search", [], "?patient=LONG&_count=100", None),
        ("CDS Hooks patient-view (POST)", "api", "api:cds_service", ["myolab-findings"], "", None),
    ]
    if ONLY:
        wanted = [page for page in wanted if page[1] == "floor" or any(word in page[0] for word in ONLY)]
    pages, missing = [], []
    for name, kind, url_name, args, query, small_pk in wanted:
        if args in (["topic"], ["report"], ["finding"]):
            args = [{"topic": explanation_slug, "report": busiest_report, "finding": critical_finding}[args[0]]()]
            if args == [None]:
                missing.append(name)
                continue
        if kind == "api" and api_token is None:
            missing.append(name)
            continue
        query = query.replace("LONG", str(long_patient.pk))
        try:
            path = reverse(url_name, args=args) + query
            small = reverse(url_name, args=[small_pk, *args[1:]]) + query if small_pk else None
        except NoReverseMatch:
            missing.append(name)
            continue
        page = {"name": name, "kind": kind, "path": path, "small_path": small, "method": "GET", "body": ""}
        page["content_type"] = page["header"] = ""
        if url_name == "guidance:enter_results" and "POST" in name:
            page["method"] = "POST"  # the bodies come from panel_bodies(), each with its own one-time key
        if kind == "api":
            page["header"] = f"Authorization: Bearer {api_token}"
        if url_name == "api:cds_service":
            page["method"], page["content_type"] = "POST", "application/json"
            page["body"] = cds_body(long_patient.pk)
        pages.append(page)
    return pages, missing


def explanation_slug():
    try:
        from guidance.models import Topic
    except ImportError:
        return None
    topic = Topic.objects.filter(active=True).order_by("slug").first()
    return topic.slug if topic else None


def busiest_report():
    """A report awaiting review with the most findings: the review page at its heaviest."""
    from django.db.models import Count

    from guidance.models import Finding

    busiest = (
        Finding.objects.awaiting_decision()
        .values("result__panel_id")
        .annotate(findings=Count("id"))
        .order_by("-findings", "result__panel_id")
        .first()
    )
    return busiest and busiest["result__panel_id"]


def critical_finding():
    """A finding of the 1,000-result patient: its page shows that test's last values and the panel."""
    from guidance.models import Finding

    finding = Finding.objects.filter(patient__mrn=f"S{SEED}-LONG").order_by("-critical", "-id").first()
    return finding and finding.pk


def live_query():
    """A potassium typed in its canonical unit, as static/js/entry.js sends it."""
    from labs.models import Analyte

    potassium = Analyte.objects.prefetch_related("units").get(code="k")
    unit = next(u.pk for u in potassium.units.all() if u.unit == potassium.canonical_unit)
    return urllib.parse.urlencode({"analyte": "k", "unit": unit, "value": "5.9", "collected_at": "2026-01-15T09:30"})


def panel_bodies(patient, count, *, first_minute=0):
    """`count` submissions of the entry form for PANEL (canonical units), each with its own one-time form
    key (core.form_keys, issued with this process's SECRET_KEY, the server's) and its own collection
    minute, so none is a resubmission or "looks like" an earlier panel: every one should save."""
    from django.contrib.auth.models import User

    from core import form_keys
    from labs.models import Analyte

    user = User.objects.get(username=BENCH_USER)
    fields = {"csrfmiddlewaretoken": "CSRFTOKEN", "lab_name": "Bench lab"}
    for analyte in Analyte.objects.filter(code__in=PANEL).prefetch_related("units"):
        fields[f"{analyte.code}_value"] = PANEL[analyte.code]
        fields[f"{analyte.code}_unit"] = next(u.pk for u in analyte.units.all() if u.unit == analyte.canonical_unit)
    first = datetime.datetime(2020, 1, 1, 0, 0)
    for minute in range(first_minute, first_minute + count):
        fields["collected_at"] = f"{first + datetime.timedelta(minutes=minute):%Y-%m-%dT%H:%M}"
        fields[form_keys.FIELD] = form_keys.issue(purpose=f"enter_results:{patient.pk}", user=user)
        yield urllib.parse.urlencode(fields)


def cds_body(patient_pk):
    """A patient-view call naming the patient by Myolab's id (no prefetch)."""
    return json.dumps(
        {
            "hook": "patient-view",
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/bench", "patientId": str(patient_pk)},
        }
    )


def wait_for_server():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{BASE}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    sys.exit("gunicorn did not answer /healthz within 60 seconds.")


def settle():
    """Wait until requests queued by the previous page have been answered, so they do not count against
    the next one: /healthz queues behind them, so its answer means the queue is empty."""
    wait_for_server()
    time.sleep(1)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def log_in(password, pages):
    """Log in through the form like a browser; check every page answers; return (cookie header, CSRF token)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    token = csrf_token(opener.open(f"{BASE}/login/").read().decode())
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": BENCH_USER, "password": password})
    try:
        opener.open(f"{BASE}/login/", data=form.encode())
        sys.exit("Login failed: the login form did not redirect.")
    except urllib.error.HTTPError as error:
        if error.code != 302:
            raise
    for page in pages:
        if page["method"] == "GET" and not page["header"]:
            with opener.open(BASE + page["path"]) as response:
                assert response.status == 200, f"{page['name']}: HTTP {response.status}"
    with opener.open(f"{BASE}/") as response:  # the session's CSRF token, from the worklist's log-out form
        token = csrf_token(response.read().decode())
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, token


def csrf_token(html):
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if not match:
        sys.exit("No CSRF token on the page.")
    return match.group(1)


def load(page, sessions_file, bodies_file):
    settle()
    print(f"wrk: {page['name']} ({page['method']} {page['path']}), {USERS} users, {SECONDS} s", flush=True)
    saves = page["method"] == "POST" and page["kind"] == "html"  # the panel save: count what it saved
    before = saved_panels() if saves else 0
    env = {
        **os.environ,
        "BENCH_SESSIONS": "" if page["kind"] in ("floor", "api") else sessions_file,
        "BENCH_METHOD": page["method"],
        "BENCH_BODIES": bodies_file if saves else "",
        "BENCH_BODY": page["body"],
        "BENCH_HEADER": page["header"],
        "BENCH_CONTENT_TYPE": page["content_type"],
    }
    run = subprocess.run(
        ["wrk", f"-t{USERS}", f"-c{USERS}", f"-d{SECONDS}s", "--timeout", "10s", "-s", ROOT / "benchmarks/wrk.lua"]
        + [BASE + page["path"]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(next(line[6:] for line in run.stdout.splitlines() if line.startswith("BENCH ")))
    errors = figures["socket_errors"] + figures["http_errors"]
    if saves:
        # A form shown again with errors is a 200: count the panels actually saved, once the requests
        # still in flight when wrk stopped have been answered (they save panels wrk did not count).
        settle()
        errors += max(0, figures["requests"] - (saved_panels() - before))
    seconds = figures["duration_us"] / 1e6
    return {
        "page": page["name"],
        "kind": page["kind"],
        "method": page["method"],
        "path": page["path"],
        "requests": figures["requests"],
        "errors": errors,
        "p50_ms": figures["p50_us"] / 1000,
        "p95_ms": figures["p95_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "max_ms": figures["max_us"] / 1000,
        "requests_per_second": figures["requests"] / seconds,
    }


def saved_panels():
    from django.db import connection

    from labs.models import Panel

    connection.close()  # a fresh connection: see what gunicorn's workers committed
    return Panel.objects.filter(patient__mrn=SAVE_PATIENT_MRN).count()


def count_queries(row, pages):
    """SQL queries for one request of the page, and for the same page of a 40-result patient.
    The test client does not check CSRF tokens, so the POST body's placeholder does no harm."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from patients.models import Patient

    page = next(p for p in pages if p["name"] == row["page"])
    client = Client()
    extra = {}
    if page["header"]:  # the API: its bearer token, no session
        name, _, value = page["header"].partition(": ")
        extra["HTTP_" + name.upper().replace("-", "_")] = value
    elif page["kind"] != "floor":
        client.force_login(User.objects.get(username=BENCH_USER))
    counts = {}
    # Minutes long after those the server was sent (each body its own key and minute).
    bodies = panel_bodies(Patient.objects.get(mrn=SAVE_PATIENT_MRN), 20, first_minute=500_000)
    for label, path in (("queries", page["path"]), ("queries_40_results", page["small_path"])):
        if not path:
            continue
        timings = []
        for _ in range(ALONE_REQUESTS + 1):  # the first request may fill caches (trend charts): not timed
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                if page["content_type"]:
                    response = client.post(path, page["body"], content_type=page["content_type"], **extra)
                elif page["method"] == "POST":
                    response = client.post(path, dict(urllib.parse.parse_qsl(next(bodies))))
                else:
                    response = client.get(path, **extra)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 302), f"{page['name']}: HTTP {response.status_code}"
        counts[label] = len(queries)
        if label == "queries":
            # Requests with the server otherwise idle: the page's own cost, without queueing (the median,
            # since one request alone now and then met a pause of the machine's).
            counts["alone_ms"] = statistics.median(timings[1:])
            counts["response_bytes"] = len(response.content)
    row.update(counts)
    return counts["queries"]


def report(rows, missing, pages):
    floor = next(row for row in rows if row["kind"] == "floor")
    for row in rows:
        row["p50_vs_floor"] = row["p50_ms"] / floor["p50_ms"] if floor["p50_ms"] else None
        target, multiple = TARGET_MS[row["kind"]], FLOOR_MULTIPLE.get(row["kind"])
        row["target_p95_ms"], row["target_p50_vs_floor"] = target, multiple
        row["meets_target"] = (
            row["requests"] > 0
            and row["errors"] == 0
            and (target is None or row["p95_ms"] <= target)
            and (multiple is None or row["p50_vs_floor"] <= multiple)
        )
    header = (
        f"{'page':<34} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7} "
        f"{'queries':>9} {'p50/floor':>9} {'alone ms':>8} {'KB':>6}  target (p95 ms, p50 × floor)"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        queries = str(row["queries"])
        if "queries_40_results" in row:
            queries += f" ({row['queries_40_results']})"
        verdict = "-" if row["target_p95_ms"] is None else ("met" if row["meets_target"] else "MISSED")
        if verdict != "-":
            verdict += f" (≤ {row['target_p95_ms']}" + (
                f", ≤ {row['target_p50_vs_floor']}×)" if row["target_p50_vs_floor"] else ")"
            )
        print(
            f"{row['page']:<34} {row['requests']:>8} {row['errors']:>6} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} "
            f"{row['p99_ms']:>8.1f} {row['requests_per_second']:>7.1f} {queries:>9} {row['p50_vs_floor'] or 0:>8.1f}× "
            f"{row['alone_ms']:>8.1f} {row['response_bytes'] / 1024:>6.0f}  {verdict}"
        )
    print("Queries in brackets: the same page for a patient with 40 results (the same number: it does not grow).")
    print(
        f"alone ms: median of {ALONE_REQUESTS} requests through Django's test client with no other load (the page's own cost);"
    )
    print(
        f"under load each of the {WORKERS} workers serves {USERS} users in turn, so p50 ≈ {USERS // WORKERS} × that, or more."
    )
    if missing:
        print(f"Not measured (not in this version of the app): {', '.join(missing)}")
    data = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "data": data_size(),
        "settings": {"users": USERS, "seconds_per_page": SECONDS, "gunicorn_workers": WORKERS, "debug": False},
        "pages": rows,
        "missing_pages": missing,
    }
    out = ROOT / "benchmarks" / "results" / f"bench-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"Written to {out.relative_to(ROOT)}")


def machine():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    memory = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(int(memory.split()[1]) / 1024**2, 1),
        "postgresql": postgres,
        "python": platform.python_version(),
    }


def data_size():
    from guidance.models import Finding, FollowUpPlan
    from labs.models import Panel, Result
    from patients.models import Patient

    return {
        "patients": Patient.objects.count(),
        "panels": Panel.objects.count(),
        "results": Result.objects.count(),
        "findings": Finding.objects.count(),
        "follow_up_plans": FollowUpPlan.objects.count(),
    }


if __name__ == "__main__":
    main()
