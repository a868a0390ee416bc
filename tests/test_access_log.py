"""The access log (HIPAA §164.312(b)): every read of one patient's data writes one entry naming who, which
patient, what, when and from where; refused reads write none; nobody can change or delete an entry."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from core.http import client_ip
from guidance.models import Finding
from labs.models import Result
from patients.models import AccessLogEntry
from patients.services import log_access

from .conftest import enrol_authenticator_app
from .factories import UserFactory

What = AccessLogEntry.What


@pytest.fixture
def low_potassium(record, patient):
    """The patient with one low potassium result, so every page and export has something to show."""
    record(patient, {"k": "3.1"})
    return Result.objects.get(patient=patient), Finding.objects.get(patient=patient)


# Each single-patient read: its URL (from the patient, result and finding ids) and what it logs.
PATIENT_READS = [
    ("/patients/{patient}/", What.PATIENT_PAGE),
    ("/patients/{patient}/?findings=all", What.PATIENT_PAGE),
    ("/patients/{patient}/edit/", What.PATIENT_EDIT),
    ("/results/{result}/history/", What.RESULT_HISTORY),
    ("/guidance/findings/{finding}/", What.FINDING),
    ("/patients/{patient}/charts/k.svg", What.TREND_CHART),
    ("/patients/{patient}/summary/", What.SUMMARY),
    ("/patients/{patient}/summary.pdf", What.SUMMARY_PDF),
    ("/patients/{patient}/results.csv", What.RESULTS_CSV),
    ("/patients/{patient}/fhir/", What.FHIR),
]


@pytest.mark.parametrize(("url", "what"), PATIENT_READS)
def test_each_read_of_a_patient_writes_one_entry(clinician_client, clinician, patient, low_potassium, url, what):
    result, finding = low_potassium
    url = url.format(patient=patient.pk, result=result.pk, finding=finding.pk)
    before = timezone.now()

    response = clinician_client.get(url)

    assert response.status_code == 200
    entry = AccessLogEntry.objects.get()
    assert (entry.user, entry.patient, entry.what, entry.path, entry.client_ip) == (
        clinician,
        patient,
        what,
        url,
        "127.0.0.1",
    )
    assert before <= entry.accessed_at <= timezone.now()


def test_a_cohort_export_is_logged_with_no_patient(admin_client_, administrator, low_potassium):
    url = "/exports/cohort.csv?from=2026-01-01&to=2026-12-31&abnormal=1"

    response = admin_client_.get(url)
    b"".join(response.streaming_content)

    assert response.status_code == 200
    entry = AccessLogEntry.objects.get()
    assert (entry.user, entry.patient, entry.what, entry.path) == (administrator, None, What.COHORT_CSV, url)


def test_showing_a_patient_in_the_admin_is_logged(admin_client_, administrator, patient):
    response = admin_client_.get(f"/admin/patients/patient/{patient.pk}/change/")

    assert response.status_code == 200
    entry = AccessLogEntry.objects.get()
    assert (entry.user, entry.patient, entry.what) == (administrator, patient, What.ADMIN_PATIENT)


@pytest.mark.parametrize(
    "url",
    [
        "/patients/",
        "/patients/?q=smith",
        "/",
        "/?plans=everyone",
        "/guidance/worklist/awaiting/",
    ],
)
def test_lists_of_several_patients_are_not_logged_per_patient(clinician_client, low_potassium, url):
    assert clinician_client.get(url).status_code == 200
    assert AccessLogEntry.objects.count() == 0


def test_refused_reads_write_nothing(client, clinician, patient, low_potassium, roles):
    result, finding = low_potassium
    urls = [url.format(patient=patient.pk, result=result.pk, finding=finding.pk) for url, _ in PATIENT_READS]
    no_role = UserFactory(username="dave")

    client.logout()
    assert {client.get(url).status_code for url in urls} == {302}  # to the login page
    client.force_login(no_role)
    assert {client.get(url).status_code for url in urls} == {403}
    client.force_login(clinician)
    assert client.get("/exports/cohort.csv?from=2026-01-01&to=2026-12-31").status_code == 403
    missing = patient.pk + 1000
    assert client.get(f"/patients/{missing}/").status_code == 404
    assert client.get(f"/patients/{missing}/summary.pdf").status_code == 404
    assert client.get(f"/patients/{patient.pk}/charts/ck.svg").status_code == 404  # no CK results to chart

    assert AccessLogEntry.objects.count() == 0


def test_log_access_is_one_insert(rf, clinician, patient, django_assert_num_queries):
    request = rf.get(f"/patients/{patient.pk}/")
    request.user = clinician

    with django_assert_num_queries(1):
        log_access(request, patient, What.PATIENT_PAGE)


def test_a_long_address_is_cut_to_fit(rf, clinician, patient):
    request = rf.get(f"/patients/{patient.pk}/?page=" + "9" * 400)
    request.user = clinician

    entry = log_access(request, patient, What.PATIENT_PAGE)

    assert len(entry.path) == 300
    assert entry.path.startswith(f"/patients/{patient.pk}/?page=999")


def test_only_reads_that_span_patients_may_leave_the_patient_empty(rf, clinician):
    request = rf.get("/")
    request.user = clinician

    with pytest.raises(IntegrityError), transaction.atomic():
        log_access(request, None, What.PATIENT_PAGE)


# --- where from ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy", "remote_addr", "forwarded_for", "expected"),
    [
        # No proxy trusted (BEHIND_TLS_PROXY off): the forwarding header is the client's word, ignored.
        (False, "192.0.2.10", "", "192.0.2.10"),
        (False, "192.0.2.10", "198.51.100.7", "192.0.2.10"),
        # Behind the TLS proxy: the address the proxy appended last; the client's own entries before it.
        (True, "10.0.0.2", "198.51.100.7", "198.51.100.7"),
        (True, "10.0.0.2", "6.6.6.6, 198.51.100.7", "198.51.100.7"),
        (True, "10.0.0.2", "", "10.0.0.2"),
        (True, "10.0.0.2", "2001:db8::1", "2001:db8::1"),
        # Not an address at all (a unix socket, a forged header): nothing is recorded.
        (False, "", "", None),
        (True, "10.0.0.2", "6.6.6.6, not-an-address", None),
    ],
)
def test_client_ip(proxy, remote_addr, forwarded_for, expected):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers)
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https") if proxy else None):
        assert client_ip(request) == expected


# --- append-only ---------------------------------------------------------------------------------


@pytest.fixture
def entry(rf, clinician, patient):
    request = rf.get(f"/patients/{patient.pk}/")
    request.user = clinician
    return log_access(request, patient, What.PATIENT_PAGE)


def test_an_entry_cannot_be_changed_or_deleted_through_the_model(entry):
    entry.what = What.FHIR
    with pytest.raises(PermissionDenied, match="append-only"):
        entry.save()
    with pytest.raises(PermissionDenied, match="append-only"):
        entry.delete()
    with pytest.raises(PermissionDenied, match="append-only"):
        AccessLogEntry.objects.filter(pk=entry.pk).update(what=What.FHIR)
    with pytest.raises(PermissionDenied, match="append-only"):
        AccessLogEntry.objects.all().delete()

    assert AccessLogEntry.objects.get().what == What.PATIENT_PAGE


def test_postgresql_refuses_changes_in_sql(entry):
    """On PostgreSQL a trigger refuses UPDATE and DELETE whatever the client. SQLite has none (its test
    database is emptied with DELETE, which the trigger would refuse): there the model and admin guard it."""
    refused = []
    for statement in ("UPDATE patients_accesslogentry SET what = 'fhir'", "DELETE FROM patients_accesslogentry"):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)
                raise _RolledBack
        except DatabaseError as error:
            assert "append-only" in str(error)
            refused.append(True)
        except _RolledBack:
            refused.append(False)

    assert refused == [connection.vendor == "postgresql"] * 2
    assert AccessLogEntry.objects.get().what == What.PATIENT_PAGE


class _RolledBack(Exception):
    """Raised inside an atomic block to undo a statement that was allowed."""


def test_the_admin_cannot_add_change_or_delete(admin_client_, entry):
    base = "/admin/patients/accesslogentry/"

    assert admin_client_.get(base).status_code == 200
    assert admin_client_.get(f"{base}{entry.pk}/change/").status_code == 200  # read only
    assert admin_client_.get(f"{base}add/").status_code == 403
    assert admin_client_.post(f"{base}{entry.pk}/change/", {"what": "fhir"}).status_code == 403
    assert admin_client_.get(f"{base}{entry.pk}/delete/").status_code == 403
    assert admin_client_.post(f"{base}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    response = admin_client_.post(base, {"action": "delete_selected", "_selected_action": [entry.pk]})
    assert response.status_code == 200  # the changelist again: there is no delete action

    assert AccessLogEntry.objects.get().what == What.PATIENT_PAGE


def test_a_superuser_cannot_change_or_delete_either(client, entry):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    enrol_authenticator_app(root)  # staff sign in with a second factor
    client.force_login(root)
    base = "/admin/patients/accesslogentry/"

    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{entry.pk}/change/", {"what": "fhir"}).status_code == 403
    assert client.post(f"{base}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AccessLogEntry.objects.count() == 1


def test_clinicians_do_not_see_the_log(clinician_client, entry):
    response = clinician_client.get("/admin/patients/accesslogentry/")
    assert response.status_code == 302 and response.url.startswith("/admin/login/")


# --- who viewed this patient ---------------------------------------------------------------------


def test_the_patient_admin_page_shows_who_viewed(admin_client_, clinician, patient, patient_factory):
    other = patient_factory(created_by=patient.created_by)
    clinician_client = Client()  # admin_client_ is the `client` fixture, logged in as the administrator
    clinician_client.force_login(clinician)
    clinician_client.get(f"/patients/{patient.pk}/")
    clinician_client.get(f"/patients/{patient.pk}/summary/")
    clinician_client.get(f"/patients/{other.pk}/")

    page = admin_client_.get(f"/admin/patients/patient/{patient.pk}/change/").content.decode()

    assert "Who viewed this patient" in page
    assert page.count("Alice Clinician") == 2
    assert "<td>Patient page</td>" in page and "<td>Summary (print view)</td>" in page
    assert "<td>Bob Admin</td><td>Patient in the admin</td>" in page  # this very view, logged first
    link = f"/admin/patients/accesslogentry/?patient__id__exact={patient.pk}"
    assert f'<a href="{link}">Every read of this patient (3 in all)</a>' in page

    listed = admin_client_.get(link)
    assert listed.status_code == 200
    assert {entry.patient for entry in listed.context["cl"].result_list} == {patient}
    assert len(listed.context["cl"].result_list) == 3


def test_who_viewed_is_shown_only_to_those_who_may_read_the_log(client, patient, roles):
    staff = UserFactory(username="erin", is_staff=True)
    enrol_authenticator_app(staff)
    staff.user_permissions.add(Permission.objects.get(codename="view_patient"))
    client.force_login(staff)

    page = client.get(f"/admin/patients/patient/{patient.pk}/change/").content.decode()

    assert patient.mrn in page
    assert "Who viewed this patient" not in page


# --- exporting a period --------------------------------------------------------------------------

EXPORT = "/admin/patients/accesslogentry/export/"


def _logged(user, patient, what, at, *, ip="192.0.2.10", path="/patients/1/"):
    return AccessLogEntry.objects.create(user=user, patient=patient, what=what, accessed_at=at, client_ip=ip, path=path)


def test_export_of_a_period_as_csv(admin_client_, administrator, clinician, patient_factory):
    anna = patient_factory(mrn="MRN-100", created_by=clinician)
    eve = UserFactory(username="@eve", first_name="Eve", last_name="=cmd")
    london = datetime.timezone(datetime.timedelta(0))  # GMT in January in Europe/London
    _logged(clinician, anna, What.PATIENT_PAGE, datetime.datetime(2025, 12, 31, 23, 59, tzinfo=london))
    _logged(clinician, anna, What.PATIENT_PAGE, datetime.datetime(2026, 1, 1, 0, 0, tzinfo=london), path="/a/")
    _logged(eve, anna, What.RESULTS_CSV, datetime.datetime(2026, 1, 31, 9, 30, tzinfo=london), ip="2001:db8::1")
    _logged(administrator, None, What.COHORT_CSV, datetime.datetime(2026, 1, 31, 23, 59, 59, tzinfo=london), ip=None)
    _logged(clinician, anna, What.FHIR, datetime.datetime(2026, 2, 1, 0, 0, tzinfo=london))

    response = admin_client_.get(EXPORT + "?start=2026-01-01&end=2026-01-31")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="myolab-access-log-2026-01-01-to-2026-01-31.csv"'
    assert b"".join(response.streaming_content).decode("utf-8").split("\r\n") == [
        "\ufeffaccessed at,user,user's name,patient MRN,patient id,what,address read,client IP,API client",
        f"2026-01-01T00:00:00+00:00,alice,Alice Clinician,MRN-100,{anna.pk},Patient page,/a/,192.0.2.10,",
        f"2026-01-31T09:30:00+00:00,'@eve,Eve =cmd,MRN-100,{anna.pk},Results (CSV),/patients/1/,2001:db8::1,",
        "2026-01-31T23:59:59+00:00,bob,Bob Admin,,,Cohort results (CSV),/patients/1/,,",
        "",
    ]
    # The export is itself a read, logged now (after the period exported).
    newest = AccessLogEntry.objects.first()
    assert (newest.user, newest.patient, newest.what) == (administrator, None, What.ACCESS_LOG_CSV)
    assert newest.path == EXPORT + "?start=2026-01-01&end=2026-01-31"


def test_the_changelist_links_to_the_export(admin_client_):
    page = admin_client_.get("/admin/patients/accesslogentry/").content.decode()
    assert f'<a href="{EXPORT}">Export a period (CSV)</a>' in page


def test_the_export_form(admin_client_):
    response = admin_client_.get(EXPORT)

    assert response.status_code == 200
    page = response.content.decode()
    assert '<label for="id_start">From:</label>' in page and '<label for="id_end">To (inclusive):</label>' in page
    assert AccessLogEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?end=2026-01-31", "Enter the first day of the period (YYYY-MM-DD)."),
        ("?start=2026-01-01", "Enter the last day of the period (YYYY-MM-DD)."),
        ("?start=soon&end=2026-02-01", "The first day must be a date written YYYY-MM-DD, e.g. 2026-01-31."),
        ("?start=2026-01-01&end=2026-02-30", "The last day must be a date written YYYY-MM-DD, e.g. 2026-12-31."),
        (
            "?start=2026-02-01&end=2026-01-31",
            "The last day (31 Jan 2026) is before the first day (01 Feb 2026); swap them.",
        ),
        (
            "?start=2025-01-01&end=2026-01-02",
            "The period is 367 days; choose at most 366 days (export a longer period a year at a time).",
        ),
        ("?start=2099-01-01&end=2099-01-02", "The first day (01 Jan 2099) is after today"),
    ],
)
def test_export_refuses_bad_periods_saying_why(admin_client_, query, message):
    response = admin_client_.get(EXPORT + query)

    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
    assert AccessLogEntry.objects.count() == 0


def test_a_year_with_a_leap_day_is_allowed(admin_client_):
    response = admin_client_.get(EXPORT + "?start=2024-01-01&end=2024-12-31")
    assert response.status_code == 200


def test_export_needs_the_view_permission(client, clinician, roles):
    staff_without = UserFactory(username="frank", is_staff=True)
    enrol_authenticator_app(staff_without)

    client.force_login(clinician)  # not staff: the admin sends them to its login
    assert client.get(EXPORT + "?start=2026-01-01&end=2026-01-31").status_code == 302
    client.force_login(staff_without)
    assert client.get(EXPORT + "?start=2026-01-01&end=2026-01-31").status_code == 403
    client.logout()
    assert client.get(EXPORT + "?start=2026-01-01&end=2026-01-31").status_code == 302

    assert AccessLogEntry.objects.count() == 0
