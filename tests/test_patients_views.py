import datetime

import pytest
from django.db import connection
from django.urls import reverse

from patients.models import ContributingFactor, Patient

from .factories import PatientFactory
from .form_keys import form_key

pytestmark = pytest.mark.django_db

VALID = {
    "mrn": "NEW-1",
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth": "1956-12-09",
    "sex": "female",
    "notes": "",
}


# --- anonymous visitor -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/", "/patients/", "/patients/new/", "/patients/1/", "/patients/1/edit/"],
)
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_anonymous_cannot_post_a_patient(client):
    response = client.post("/patients/new/", VALID)
    assert response.status_code == 302
    assert not Patient.objects.exists()


def test_login_page_is_styled_and_public(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b"bootstrap.min.css" in response.content
    assert b"does not replace clinical judgement" in response.content


# --- clinician ---------------------------------------------------------------------------------------


def test_clinician_registers_a_patient(clinician_client, clinician):
    statin = ContributingFactor.objects.get(code="statin")
    key = form_key(clinician_client, "/patients/new/")
    response = clinician_client.post("/patients/new/", {**VALID, "contributing_factors": [statin.pk], "form_key": key})
    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/"
    assert patient.created_by == clinician
    assert list(patient.contributing_factors.all()) == [statin]
    # The same form saved again (Back then Save) registers nobody else and says so.
    again = clinician_client.post("/patients/new/", {**VALID, "mrn": "NEW-2", "form_key": key})
    assert again.status_code == 200 and "This form was already saved at" in again.content.decode()
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("mrn", "", "Medical record number is required."),
        ("mrn", "bad mrn!", "may contain only letters, digits"),
        ("given_name", "   ", "Given name is required."),
        ("date_of_birth", "31/31/1999", "Date of birth must be a date such as 1970-03-31."),
        ("date_of_birth", "1850-01-01", "before 1 Jan 1900"),
        ("date_of_birth", "2999-01-01", "is in the future"),
        ("sex", "robot", "Sex must be one of: female, male, other, unknown."),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(clinician_client, field, value, message):
    response = clinician_client.post("/patients/new/", {**VALID, field: value})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(message in error for error in errors[field]), errors
    assert b"Nothing was saved" in response.content
    assert not Patient.objects.exists()


def test_duplicate_mrn_in_other_case_is_refused_on_the_field(clinician_client, clinician):
    PatientFactory(mrn="new-1", created_by=clinician)
    response = clinician_client.post("/patients/new/", VALID)
    assert response.status_code == 200
    assert "already used by another patient" in response.context["form"].errors["mrn"][0]
    assert Patient.objects.count() == 1


def test_clinician_edits_a_patient(clinician_client, patient):
    data = {**VALID, "mrn": patient.mrn, "family_name": "Changed"}
    response = clinician_client.post(f"/patients/{patient.pk}/edit/", data)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.family_name == "Changed"
    assert patient.history.count() == 2


def test_clinician_sees_patient_page(clinician_client, patient):
    response = clinician_client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 200
    assert patient.mrn in response.content.decode()


def test_missing_patient_is_404(clinician_client):
    assert clinician_client.get("/patients/999999/").status_code == 404


def test_no_delete_anywhere_for_clinicians(clinician_client, patient):
    page = clinician_client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Delete" not in page
    assert clinician_client.post(f"/admin/patients/patient/{patient.pk}/delete/").status_code == 302


# --- patient list --------------------------------------------------------------------------------------


def test_list_searches_name_or_mrn_case_insensitive(clinician_client, clinician):
    PatientFactory(mrn="ZZ-100", given_name="Mary", family_name="Shelley", created_by=clinician)
    PatientFactory(mrn="YY-200", given_name="Percy", family_name="Shelley", created_by=clinician)
    PatientFactory(mrn="XX-300", given_name="John", family_name="Keats", created_by=clinician)
    names = lambda r: [p.mrn for p in r.context["page"].object_list]  # noqa: E731
    assert names(clinician_client.get("/patients/?q=shell")) == ["ZZ-100", "YY-200"]
    assert names(clinician_client.get("/patients/?q=yy-2")) == ["YY-200"]
    assert names(clinician_client.get("/patients/?q=mary shelley")) == ["ZZ-100"]


def test_search_results_are_in_name_order(clinician_client, clinician):
    # Search orders by name through its own expressions (patients.views.SEARCH_BY_NAME): the same order
    # as the list, ties on the name broken by the order of registration.
    for mrn, given, family in [("S-1", "Percy", "Shelley"), ("S-2", "Mary", "Shelley"), ("S-3", "Mary", "Shelley")]:
        PatientFactory(mrn=mrn, given_name=given, family_name=family, created_by=clinician)
    PatientFactory(mrn="S-4", given_name="Ashley", family_name="Ashelley", created_by=clinician)
    response = clinician_client.get("/patients/?q=shelley")
    assert [p.mrn for p in response.context["page"].object_list] == ["S-4", "S-2", "S-3", "S-1"]


def test_search_query_count_does_not_grow(clinician_client, clinician, django_assert_num_queries):
    PatientFactory.create_batch(3, family_name="Smith", created_by=clinician)
    # session, user, permissions (one query), count of matches, user's groups, the page of
    # matches. (No session write: the idle expiry moves on at most once a minute, tests/test_sessions.py.)
    with django_assert_num_queries(6):
        clinician_client.get("/patients/?q=smith")
    PatientFactory.create_batch(60, family_name="Smithson", created_by=clinician)
    with django_assert_num_queries(6):
        response = clinician_client.get("/patients/?q=smith")
    assert response.context["page"].paginator.count == 63


def test_search_has_trigram_indexes_on_postgresql_only():
    # Migration patients 0004: icontains on PostgreSQL is UPPER(column) LIKE '%word%', which only a
    # trigram index can serve; SQLite has no pg_trgm, so there the migration adds none.
    with connection.cursor() as cursor:
        indexes = set(connection.introspection.get_constraints(cursor, "patients_patient"))
    trigram = {f"patient_search_{column}_trgm_idx" for column in ("mrn", "given_name", "family_name")}
    assert "patient_list_by_name_idx" in indexes
    if connection.vendor == "postgresql":
        assert trigram <= indexes
    else:
        assert not trigram & indexes


def test_search_indexes_take_new_entries_at_once_on_postgresql():
    # Migration patients 0005: no GIN pending list, whose growth between vacuums turned searches into
    # scans of every patient.
    if connection.vendor != "postgresql":
        assert connection.vendor == "sqlite"  # no trigram indexes there (the test above)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'patient_search_%%_trgm_idx' ORDER BY relname"
        )
        options = cursor.fetchall()
    assert options == [
        ("patient_search_family_name_trgm_idx", ["fastupdate=off"]),
        ("patient_search_given_name_trgm_idx", ["fastupdate=off"]),
        ("patient_search_mrn_trgm_idx", ["fastupdate=off"]),
    ]


def test_list_hides_inactive_patients(clinician_client, clinician):
    PatientFactory(mrn="GONE", is_active=False, created_by=clinician)
    PatientFactory(mrn="HERE", created_by=clinician)
    response = clinician_client.get("/patients/")
    assert [p.mrn for p in response.context["page"].object_list] == ["HERE"]


def test_list_pages_by_50_and_sorts_by_activity(clinician_client, clinician):
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    for n in range(55):
        PatientFactory(
            family_name=f"Name{n:02d}",
            created_by=clinician,
            last_activity_at=now + datetime.timedelta(hours=n),
        )
    first = clinician_client.get("/patients/")
    assert len(first.context["page"].object_list) == 50
    second = clinician_client.get("/patients/?page=2")
    assert [p.family_name for p in second.context["page"].object_list] == [f"Name{n}" for n in range(50, 55)]
    by_activity = clinician_client.get("/patients/?sort=activity")
    assert by_activity.context["page"].object_list[0].family_name == "Name54"


def test_list_query_count_does_not_grow(clinician_client, clinician, django_assert_num_queries):
    PatientFactory.create_batch(3, created_by=clinician)
    # session, user, permissions (one query), count, user's groups (role in the
    # navigation), the page of patients.
    with django_assert_num_queries(6):
        clinician_client.get("/patients/")
    PatientFactory.create_batch(60, created_by=clinician)
    with django_assert_num_queries(6):
        clinician_client.get("/patients/")


# --- administrator -----------------------------------------------------------------------------------


def test_administrator_can_view_but_not_register(admin_client_, patient):
    assert admin_client_.get("/patients/").status_code == 200
    assert admin_client_.get(f"/patients/{patient.pk}/").status_code == 200
    assert admin_client_.get("/patients/new/").status_code == 403


def test_administrator_manages_users_and_roles_in_admin(admin_client_):
    assert admin_client_.get("/admin/auth/user/").status_code == 200
    assert admin_client_.get("/admin/auth/user/add/").status_code == 200


def test_administrator_deactivates_patient_in_admin(admin_client_, patient):
    # The action asks for the reason first: nothing changes until it is given.
    asked = admin_client_.post("/admin/patients/patient/", {"action": "deactivate", "_selected_action": [patient.pk]})
    assert asked.status_code == 200 and "Reason for deactivating" in asked.content.decode()
    refused = admin_client_.post(
        "/admin/patients/patient/",
        {"action": "deactivate", "_selected_action": [patient.pk], "apply": "1", "reason": "  "},
    )
    assert "Give the reason for deactivating" in refused.content.decode()
    patient.refresh_from_db()
    assert patient.is_active
    response = admin_client_.post(
        "/admin/patients/patient/",
        {"action": "deactivate", "_selected_action": [patient.pk], "apply": "1", "reason": "Duplicate of MRN-2"},
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert not patient.is_active
    assert patient.deactivation_reason == "Duplicate of MRN-2"
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_clinician_cannot_open_admin(clinician_client):
    response = clinician_client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_user_without_role_is_refused(client, django_user_model):
    user = django_user_model.objects.create_user("norole", password="x" * 12)
    client.force_login(user)
    assert client.get("/patients/").status_code == 403
    assert reverse("patients:list") == "/patients/"
