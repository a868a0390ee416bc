import datetime
import io
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from pypdf import PdfReader

from exports.models import PatientExport
from exports.services import record_export
from guidance import services as guidance_services
from guidance.models import ActionType, Finding
from labs.models import AnalyteUnit
from patients.roles import ADMINISTRATOR, CLINICIAN

from .exports_support import BASE, record_series, result_of
from .factories import PatientFactory, UserFactory
from .recording import record

PATIENT_EXPORTS = [
    ("summary/", PatientExport.Format.SUMMARY, "text/html; charset=utf-8"),
    ("summary.pdf", PatientExport.Format.SUMMARY_PDF, "application/pdf"),
    ("results.csv", PatientExport.Format.RESULTS_CSV, "text/csv; charset=utf-8"),
    ("fhir/", PatientExport.Format.FHIR, "application/fhir+json; charset=utf-8"),
]
NOTICE = "Myolab supports and does not replace clinical judgement."


@pytest.fixture
def summarised_patient(clinician, other_clinician):
    """Potassium low (open finding + repeat-test plan), magnesium normal, CK corrected, calcium withdrawn."""
    patient = PatientFactory(mrn="S-42", given_name="Zoë", family_name="Ødegård", created_by=clinician)
    record(
        patient,
        {"k": ("3.1", "mmol/L"), "mg": ("2.0", "mg/dL"), "ck": ("900", "U/L"), "ca": ("9.0", "mg/dL")},
        by=clinician,
        at=BASE,
    )
    guidance_services.correct_result(
        result_of(patient, "ck"),
        value=Decimal("120"),
        unit=AnalyteUnit.objects.get(analyte__code="ck", unit="U/L"),
        reason="Transcription error",
        by=clinician,
    )
    guidance_services.mark_entered_in_error(result_of(patient, "ca"), reason="Wrong tube", by=clinician)
    finding = Finding.objects.get(result=result_of(patient, "k"), partner_result=None)
    guidance_services.create_plan(
        finding,
        action_type=ActionType.REPEAT_TEST,
        analyte=result_of(patient, "k").analyte,
        due_date=datetime.date(2026, 3, 15),
        owner=other_clinician,
        details="Repeat potassium with magnesium",
        by=clinician,
    )
    return patient


# --- who may export ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "export_format", "content_type"), PATIENT_EXPORTS)
@pytest.mark.parametrize("role", ["clinician", "administrator"])
def test_clinicians_and_administrators_export_a_patient_and_it_is_logged(
    client, request, summarised_patient, path, export_format, content_type, role
):
    user = request.getfixturevalue(role)
    client.force_login(user)

    response = client.get(f"/patients/{summarised_patient.pk}/{path}")

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    [export] = PatientExport.objects.all()
    assert (export.patient, export.user, export.format) == (summarised_patient, user, export_format)


@pytest.mark.parametrize(("path", "export_format", "content_type"), PATIENT_EXPORTS)
def test_anonymous_visitors_are_sent_to_log_in(client, patient, path, export_format, content_type):
    response = client.get(f"/patients/{patient.pk}/{path}")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert not PatientExport.objects.exists()


@pytest.mark.parametrize(("path", "export_format", "content_type"), PATIENT_EXPORTS)
def test_a_user_without_a_role_gets_403(client, patient, path, export_format, content_type):
    client.force_login(UserFactory(username="norole"))

    assert client.get(f"/patients/{patient.pk}/{path}").status_code == 403
    assert not PatientExport.objects.exists()


@pytest.mark.parametrize(("path", "export_format", "content_type"), PATIENT_EXPORTS)
def test_an_unknown_patient_is_404(clinician_client, db, path, export_format, content_type):
    assert clinician_client.get(f"/patients/999999/{path}").status_code == 404


def test_only_administrators_export_a_cohort(client, clinician, administrator):
    url = "/exports/cohort.csv?from=2026-01-01&to=2026-01-31"
    assert client.get("/exports/cohort/").status_code == 302
    assert client.get(url).status_code == 302
    client.force_login(clinician)
    assert client.get("/exports/cohort/").status_code == 403
    assert client.get(url).status_code == 403
    assert not PatientExport.objects.exists()
    client.force_login(administrator)
    assert client.get("/exports/cohort/").status_code == 200
    assert client.get(url).status_code == 200
    [export] = PatientExport.objects.all()
    assert (export.patient, export.user, export.format) == (None, administrator, PatientExport.Format.COHORT_CSV)
    assert export.detail == "collected 2026-01-01 to 2026-01-31"


def test_roles_grant_the_cohort_export_to_administrators_only(roles):
    assert roles[ADMINISTRATOR].permissions.filter(codename="export_cohort").exists()
    assert not roles[CLINICIAN].permissions.filter(codename="export_cohort").exists()


def test_cohort_form_page_shows_the_date_fields(admin_client_):
    page = admin_client_.get("/exports/cohort/").content.decode()

    assert 'name="from"' in page and 'name="to"' in page and 'name="abnormal"' in page
    assert 'method="get"' in page


def test_the_cohort_form_sends_its_dates_to_the_csv_download(admin_client_, clinician, patient):
    """The form page and the file are two URLs: the form must go to the file. It went back to its own
    page, which showed the form again, so no cohort CSV could be downloaded from it."""
    record(patient, {"k": ("3.0", "mmol/L")}, by=clinician, at=BASE)  # 1 March 2026
    page = admin_client_.get("/exports/cohort/").content.decode()
    [form] = re.findall(r'<form [^>]*method="get"[^>]*>', page)
    action = re.search(r'action="([^"]*)"', form)
    # No action attribute sends the form to the page it is on.
    url = action.group(1) if action else "/exports/cohort/"

    response = admin_client_.get(url, {"from": "2026-03-01", "to": "2026-03-31", "submit": "Download CSV"})

    assert url == "/exports/cohort.csv"
    assert response.get("Content-Disposition") == 'attachment; filename="myolab-cohort-2026-03-01-to-2026-03-31.csv"'
    assert patient.mrn in b"".join(response.streaming_content).decode("utf-8-sig")


# --- the export log in the admin --------------------------------------------------------------------


def test_administrators_read_the_export_log_but_cannot_change_it(admin_client_, clinician, patient):
    clinician_export = PatientExport.objects.create(patient=patient, user=clinician, format="fhir")

    listing = admin_client_.get("/admin/exports/patientexport/")
    assert listing.status_code == 200
    assert patient.mrn in listing.content.decode()
    assert admin_client_.get(f"/admin/exports/patientexport/{clinician_export.pk}/delete/").status_code == 403
    assert admin_client_.get("/admin/exports/patientexport/add/").status_code == 403
    response = admin_client_.post(
        f"/admin/exports/patientexport/{clinician_export.pk}/change/", {"format": "summary", "detail": "x"}
    )
    assert response.status_code == 403
    clinician_export.refresh_from_db()
    assert clinician_export.format == "fhir"


def test_clinicians_cannot_open_the_export_log(clinician_client):
    assert clinician_client.get("/admin/exports/patientexport/").status_code == 302


def test_export_log_refuses_a_single_patient_format_without_a_patient(clinician):
    with pytest.raises(ValidationError) as error:
        record_export(patient=None, format=PatientExport.Format.FHIR, by=clinician)
    assert error.value.message_dict == {
        "patient": ["Name the patient: a FHIR R4 bundle (JSON) export is of one patient."]
    }
    assert not PatientExport.objects.exists()


# --- what the summary shows -------------------------------------------------------------------------


def test_summary_print_view_shows_what_a_colleague_needs(clinician_client, summarised_patient):
    page = clinician_client.get(f"/patients/{summarised_patient.pk}/summary/").content.decode()

    assert "Patient summary: Zoë Ødegård" in page
    assert "MRN <strong>S-42</strong>" in page
    assert "by Alice Clinician" in page
    # The latest value of each test with flag and range (calcium was withdrawn: not listed).
    assert "<strong>3.1</strong> mmol/L" in page and "3.5–5.2 mmol/L" in page and ">Low</span>" in page
    assert "<strong>2.00</strong> mg/dL" in page and "1.70–2.60 mg/dL" in page
    assert "<strong>120</strong> U/L" in page
    assert "Calcium" not in page.split('id="cumulative-heading"')[0]
    # Results over time, as on the patient page: the withdrawn calcium struck through.
    over_time = page.split('id="cumulative-heading"')[1].split('id="findings-heading"')[0]
    assert "<s>9.0 mg/dL</s> <small>entered in error</small>" in over_time
    assert "<strong>3.1</strong> <small>mmol/L</small>" in over_time
    # The open finding with its short explanation, and the plan.
    finding = Finding.objects.get(result=result_of(summarised_patient, "k"), partner_result=None)
    assert finding.summary in page
    assert finding.topic.summary in page
    assert "Repeat potassium with magnesium" in page and "Carol Clinician" in page and "15 Mar 2026" in page
    # A chart per analyte, linked (not embedded), with a text alternative and the table of values.
    assert page.count(f'src="/patients/{summarised_patient.pk}/charts/') == 3
    assert "data:image" not in page
    assert 'alt="Trend of Potassium: 1 of 1 results plotted' in page
    assert NOTICE in page


def test_summary_pdf_contains_the_summary(clinician_client, summarised_patient):
    response = clinician_client.get(f"/patients/{summarised_patient.pk}/summary.pdf")

    assert response["Content-Disposition"].startswith('attachment; filename="myolab-S-42-summary-')
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Patient summary" in text
    assert "Zoë Ødegård · MRN S-42" in text
    assert "3.1 mmol/L" in text and "Low" in text and "3.5–5.2 mmol/L" in text
    assert "2.00 mg/dL" in text and "1.70–2.60 mg/dL" in text
    assert "Repeat potassium with magnesium" in text
    assert "Alice Clinician" in text
    assert NOTICE in text
    finding = Finding.objects.get(result=result_of(summarised_patient, "k"), partner_result=None)
    assert finding.topic.summary.split()[0] in text
    # Three trend charts, embedded as images.
    assert sum(len(page.images) for page in reader.pages) == 3


def test_summary_of_a_patient_without_results(clinician_client, patient):
    page = clinician_client.get(f"/patients/{patient.pk}/summary/").content.decode()
    pdf = clinician_client.get(f"/patients/{patient.pk}/summary.pdf")

    assert "No results recorded." in page
    assert "No open findings." in page
    assert "No results to chart yet." in page
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "No results recorded." in text and "No open findings." in text


@pytest.mark.parametrize("count", [2, 30])
def test_summary_query_count_does_not_grow_with_results(client, clinician, patient, count, django_assert_num_queries):
    # The newest potassium is low, so its finding stays open (the older ones are superseded) and is shown.
    record_series(patient, clinician, "k", ["4.0", "3.0"] * (count // 2), "mmol/L")
    client.force_login(clinician)
    client.get(f"/patients/{patient.pk}/summary/")  # draws and caches the chart

    # session, user, user permissions, group permissions, patient; the access log insert; the plans; contributing factors;
    # the analytes with result counts; the latest results per analyte (the charts are images of their
    # own URL: no cache read); the notes on those latest results; the open findings counted by kind, and the newest of
    # each kind; the critical results' communication records; the export
    # log: savepoint, patient exists, user exists, savepoint, constraint check, release, insert, release;
    # the user's roles (menu); the rendered trend section (cache read); the cumulative view's newest page
    # (five, tests/test_labs_cumulative.py).
    with django_assert_num_queries(29):
        client.get(f"/patients/{patient.pk}/summary/")


@pytest.mark.parametrize("count", [2, 30])
def test_summary_pdf_query_count_does_not_grow_with_results(
    client, clinician, patient, count, django_assert_num_queries
):
    record_series(patient, clinician, "k", ["4.0", "3.0"] * (count // 2), "mmol/L")
    client.force_login(clinician)
    client.get(f"/patients/{patient.pk}/summary.pdf")

    # As the print view, less the menu's roles query, plus the cache read of the charts' JPEGs.
    with django_assert_num_queries(28):
        client.get(f"/patients/{patient.pk}/summary.pdf")


def test_export_buttons_link_every_format(clinician_client, patient):
    html = render_to_string(
        "exports/includes/export_buttons.html",
        {"patient": patient, "perms": {"patients": {"view_patient": True}}},
    )

    for path, _, _ in PATIENT_EXPORTS:
        assert f'href="/patients/{patient.pk}/{path}"' in html


def test_summary_groups_repeated_findings_of_one_kind(clinician_client, clinician, patient):
    # Critical and not acknowledged, so none is superseded by the next: three open findings of one kind.
    record_series(patient, clinician, "k", ["2.5", "2.4", "2.3"], "mmol/L")

    page = clinician_client.get(f"/patients/{patient.pk}/summary/").content.decode()

    findings = " ".join(page.split('id="findings-heading"')[1].split('id="plans-heading"')[0].split())
    assert findings.count("3 open findings") == 1
    # The newest of the three (15 Mar, 2.3 mmol/L) stands for the group.
    newest = Finding.objects.filter(patient=patient, partner_result=None).latest("id")
    assert newest.result.value == Decimal("2.3")
    assert f"Latest, collected 15 Mar 2026 (awaiting review): {newest.summary}" in findings


def test_pdf_prints_names_with_markup_characters_as_text(clinician_client, clinician):
    patient = PatientFactory(mrn="X-1", given_name="Seán", family_name="O'Brien & <Sons>", created_by=clinician)
    record(patient, {"k": ("4.0", "mmol/L")}, by=clinician, at=BASE)

    response = clinician_client.get(f"/patients/{patient.pk}/summary.pdf")

    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "Seán O'Brien & <Sons> · MRN X-1" in text


def test_the_menu_links_the_cohort_export_for_administrators_only(client, clinician, administrator):
    client.force_login(administrator)
    assert 'href="/exports/cohort/">Cohort export</a>' in client.get("/patients/").content.decode()
    client.force_login(clinician)
    assert "Cohort export" not in client.get("/patients/").content.decode()


# --- the trend chart images of the patient page and the summary ---------------------------------------


NO_STORE = "max-age=0, no-cache, no-store, must-revalidate, private"


def chart_url(client, patient, code):
    """The chart's URL as the patient page links it."""
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    [url] = re.findall(rf'src="(/patients/{patient.pk}/charts/{code}\.svg\?v=[^"]+)"', page)
    return url


@pytest.mark.parametrize("role", ["clinician", "administrator"])
def test_the_patient_page_links_a_chart_that_no_browser_keeps(client, request, summarised_patient, role):
    client.force_login(request.getfixturevalue(role))
    url = chart_url(client, summarised_patient, "k")

    response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<?xml")
    assert b"Potassium (mmol/L)" in response.content
    # A shared workstation's browser cache must not show it to the next person without a login.
    assert response["Cache-Control"] == NO_STORE
    # Not an export: viewing the patient's page logs nothing.
    assert not PatientExport.objects.exists()
    # Asking again with the ETag: nothing is sent.
    again = client.get(url, headers={"if-none-match": response["ETag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_a_chart_asked_for_by_an_old_version_is_the_current_one(clinician_client, clinician, summarised_patient):
    old_url = chart_url(clinician_client, summarised_patient, "k")
    old = clinician_client.get(old_url)
    record(
        summarised_patient,
        {"k": ("4.4", "mmol/L")},
        by=clinician,
        at=datetime.datetime(2026, 4, 1, 9, tzinfo=datetime.UTC),
    )
    new_url = chart_url(clinician_client, summarised_patient, "k")
    assert new_url != old_url

    response = clinician_client.get(old_url, headers={"if-none-match": old["ETag"]})

    assert response.status_code == 200, "the old ETag no longer matches: the new chart is sent"
    assert response.content != old.content
    assert response["ETag"] != old["ETag"]
    assert response["Cache-Control"] == NO_STORE
    assert clinician_client.get(new_url)["Cache-Control"] == NO_STORE


def test_chart_images_need_a_login_and_the_role(client, summarised_patient):
    url = f"/patients/{summarised_patient.pk}/charts/k.svg"

    anonymous = client.get(url)
    client.force_login(UserFactory(username="norole"))
    no_role = client.get(url)

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/?next=")
    assert no_role.status_code == 403


@pytest.mark.parametrize(
    "path", ["999999/charts/k.svg", "{pk}/charts/ca.svg", "{pk}/charts/vitd25.svg", "{pk}/charts/x.svg"]
)
def test_no_chart_image_of_an_unknown_patient_or_a_test_without_results(clinician_client, summarised_patient, path):
    # Calcium's only result was withdrawn; no vitamin D was measured; "x" is no test.
    response = clinician_client.get("/patients/" + path.format(pk=summarised_patient.pk))

    assert response.status_code == 404


@pytest.mark.parametrize("count", [2, 30])
def test_chart_image_query_count_does_not_grow_with_results(
    clinician_client, clinician, patient, count, django_assert_num_queries
):
    record_series(patient, clinician, "k", ["3.0", "4.0"] * (count // 2), "mmol/L")
    clinician_client.get(f"/patients/{patient.pk}/charts/k.svg")  # draws and caches the chart

    # session, user, user permissions, group permissions, patient; the analyte with its result count and
    # newest change; the cache read; the access log insert.
    with django_assert_num_queries(8):
        response = clinician_client.get(f"/patients/{patient.pk}/charts/k.svg")

    assert response.status_code == 200
