"""Every URL the project routes, found by walking the URL resolver (so a new page is covered without
being listed here): who may reach it without a login, and the headers every response carries."""

import re

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.test import Client, override_settings
from django.urls import URLResolver, get_resolver
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice

from api.services import issue_client
from exports.models import PatientExport
from exports.services import record_export
from guidance import services
from guidance.models import ActionType, Finding, ReviewSettings, Topic
from interfaces import jobs
from interfaces.models import CodeMapping, InboundMessage
from patients.models import AccessLogEntry, Patient

from .factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

# The only views anyone may open without logging in: the two login pages and the load balancer's check.
# login/code/: the second step of signing in, for someone not signed in yet (config/two_factor.py).
OPEN_TO_ANYONE = {"login/", "login/code/", "admin/login/", "healthz"}
# The API for other systems (the api app) needs no login session but a client's bearer token: without
# one, and with a browser's session alone, it answers 401.
TOKEN_ONLY = ("fhir/", "cds-services")
CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def every_route(patterns=None, prefix=""):
    """(route, view) for every URL pattern, with the prefixes of the includes it sits in."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from every_route(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def first_pk(app_label, model_name):
    pks = apps.get_model(app_label, model_name).objects.order_by("pk").values_list("pk", flat=True)
    assert pks, f"the records fixture makes no {app_label}.{model_name}"
    return pks[0]


def url_for(route, ids):
    """A URL that reaches the route's view with real records' ids (`ids` from the `records` fixture)."""
    admin_model = re.match(r"admin/(\w+)/(\w+)/", route)
    history = re.fullmatch(r"admin/(\w+)/(\w+)/\^\(\[\^/\]\+\)/history/\(\[\^/\]\+\)/\$", route)
    if history:  # django-simple-history's view of one historical version
        model = apps.get_model(*history.groups())
        record = model.history.order_by("history_id").first()
        return f"/admin/{history[1]}/{history[2]}/{record.id}/history/{record.history_id}/"
    if route.startswith("admin/^(?P<app_label>"):
        return "/admin/labs/"
    if route == "admin/(?P<url>.*)$":  # the admin's catch-all: an unknown admin page
        return "/admin/no-such-page/"
    values = {"code": "k", "which": "critical", "slug": ids["topic"], "content_type_id": ids["patient_type"]}
    values |= {"rest": "Medication/1", "service_id": "myolab-findings"}
    if admin_model and re.search(r"<(\w+:)?(object_)?id>", route) and admin_model[1] != "r":
        values["object_id"] = values["id"] = first_pk(*admin_model.groups())
    else:
        values["object_id"] = ids["patient"]
    values["pk"] = (
        next(pk for prefix, pk in ids["pk_by_prefix"].items() if route.startswith(prefix))
        if "<int:pk>" in route
        else None
    )
    return "/" + CONVERTER.sub(lambda match: str(values[match[1]]), route)


@pytest.fixture
def records(record, patient, clinician, administrator):
    """One record of every kind a URL or an admin page can show, and the ids the URLs need."""
    record(patient, {"k": "3.1"})
    finding = Finding.objects.get()
    # A critical potassium of another patient, acknowledged with the record of its call.
    other = PatientFactory(created_by=clinician)
    record(other, {"k": "6.8"})
    services.acknowledge(
        Finding.objects.get(patient=other),
        comment="Called the on-call GP",
        call={"told": "Dr A. Patel", "method": "phone", "told_at": timezone.now(), "read_back": True},
        by=clinician,
    )
    plan = services.create_plan(
        finding,
        action_type=ActionType.REPEAT_TEST,
        analyte=finding.result.analyte,
        due_date=finding.created_at.date(),
        owner=clinician,
        by=clinician,
    )
    record_export(patient=patient, by=clinician, format=PatientExport.Format.RESULTS_CSV)
    CodeMapping.objects.create(sending_facility="LAB", code="K", analyte=finding.result.analyte)
    AccessLogEntry.objects.create(user=clinician, patient=patient, what=AccessLogEntry.What.PATIENT_PAGE)
    StaticDevice.objects.create(user=administrator, name="Recovery codes")  # the administrator's app is there
    # The login lock-out's three kinds of record: a failed attempt, its log entry, a successful login
    # (from a client of their own, so the test's client stays anonymous).
    client = Client()
    client.post("/login/", {"username": clinician.username, "password": "wrong"})
    # (not the administrator's: an account with an authenticator app is not signed in by its password)
    client.post("/login/", {"username": UserFactory(username="dora").username, "password": "correct-horse-battery"})
    ReviewSettings.current()  # the administrator's review settings, made on first use
    issue_client(name="Ward EHR", by=administrator)  # an API client credential (its admin pages)
    seeded = [("guidance", "Rule"), ("labs", "Analyte"), ("labs", "DeltaRule"), ("labs", "SpecimenCondition")]
    for model in (Topic, ReviewSettings, *(apps.get_model(*name) for name in seeded)):
        model.objects.order_by("pk").first().save()  # seeded by migrations, so without a history row yet
    apps.get_model("labs", "ReferenceRange").objects.order_by("pk").first().save()
    # An upload's import, and its task waiting in django-tasks' database backend (its admin pages).
    job = jobs.create_job(
        ["MSH|^~\\&|LIS|LAB|MYOLAB|CLINIC|20260301100000||ORU^R01|MSG-2|P|2.5.1"], file_name="a.hl7", by=clinician
    )
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        jobs.run_import_job.enqueue(job.pk)
    return {
        "patient": patient.pk,
        "patient_type": ContentType.objects.get_for_model(Patient).pk,
        "topic": Topic.objects.order_by("pk").first().slug,
        "pk_by_prefix": {
            "patients/": patient.pk,
            "results/": finding.result_id,
            "guidance/findings/": finding.pk,
            "guidance/plans/": plan.pk,
            "guidance/reports/": finding.result.panel_id,
            "lab-messages/imports/": job.pk,
            "lab-messages/": InboundMessage.objects.create(
                raw="MSH|^~\\&|LIS|LAB|MYOLAB|CLINIC|20260301100000||ORU^R01|MSG-1|P|2.5.1",
                channel=InboundMessage.Channel.MLLP,
                sending_facility="LAB",
                control_id="MSG-1",
                status=InboundMessage.Status.HELD,
                errors=["No patient with MRN X-1."],
            ).pk,
            "fhir/Patient/": patient.pk,
            "fhir/Observation/": finding.result_id,
            "fhir/Task/": plan.pk,
            # django-otp's own admin pages of an authenticator app (the administrator's)
            "admin/otp_totp/totpdevice/": first_pk("otp_totp", "totpdevice"),
        },
    }


def urls(ids):
    return sorted({url_for(route, ids) for route, _ in every_route()})


def test_only_the_login_pages_and_the_health_check_are_open_without_login():
    open_routes = {route for route, view in every_route() if not getattr(view, "login_required", True)}
    assert {route for route in open_routes if not route.startswith(TOKEN_ONLY)} == OPEN_TO_ANYONE
    # Each of the others is the API's, which asks for a token (api.auth.api_view).
    assert all(view.__module__.startswith("api.") for route, view in every_route() if route.startswith(TOKEN_ONLY))


def test_every_api_url_refuses_the_anonymous_visitor_and_a_browser_session(client, administrator, records):
    api_urls = [url for url in urls(records) if url.lstrip("/").startswith(TOKEN_ONLY)]
    assert len(api_urls) >= 12
    for session in (False, True):
        if session:
            client.force_login(administrator)
        for url in api_urls:
            response = client.get(url)
            assert response.status_code == 401, url
            assert response["WWW-Authenticate"] == 'Bearer realm="myolab"', url
            assert response.json()["resourceType"] == "OperationOutcome", url


def test_the_password_reset_and_change_pages_are_gone(client, clinician):
    gone = ["/password_reset/", "/password_reset/done/", "/reset/MQ/set-password/", "/reset/done/"]
    gone += ["/password_change/", "/password_change/done/"]
    for url in gone:
        assert client.get(url).status_code == 404, url
    client.force_login(clinician)
    for url in gone:
        assert client.get(url).status_code == 404, url


def test_every_other_url_sends_the_anonymous_visitor_to_a_login_page(client, records):
    checked = 0
    for url in urls(records):
        if url.lstrip("/") in OPEN_TO_ANYONE or url.lstrip("/").startswith(TOKEN_ONLY):
            continue
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].split("?")[0] in ("/login/", "/admin/login/"), url
        checked += 1
    assert checked > 60  # the walk found the app's pages and the admin's, not just a few


def test_every_url_answers_the_administrator_with_the_security_headers(client, administrator, records):
    client.force_login(administrator)
    statuses = {}
    for url in urls(records):
        response = client.get(url)
        statuses[url] = response.status_code
        assert response.status_code < 500, url
        policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
        assert (policy["script-src"], policy["style-src"], policy["object-src"]) == ("'self'", "'self'", "'none'"), url
        assert "unsafe-inline" not in response["Content-Security-Policy"], url
        assert response["Permissions-Policy"].startswith("accelerometer=(), camera=()"), url
        assert "no-store" in response["Cache-Control"].split(", "), url
    # Real records were found: the patient's pages and exports, the admin's change pages, were shown.
    for url in [
        f"/patients/{records['patient']}/",
        f"/patients/{records['patient']}/results.csv",
        f"/patients/{records['patient']}/charts/k.svg",
        f"/admin/patients/patient/{records['patient']}/change/",
    ]:
        assert statuses[url] == 200, url
    assert sum(status == 200 for status in statuses.values()) > 40
