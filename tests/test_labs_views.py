"""Lab pages for the three people who matter: the clinician, the administrator and the anonymous visitor."""

import datetime
from decimal import Decimal as D

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from guidance import services
from labs.models import AnalyteUnit, Panel, ReferenceRange, Result

from .form_keys import form_key

pytestmark = pytest.mark.django_db


def unit_id(code, unit):
    return str(AnalyteUnit.objects.get(analyte__code=code, unit=unit).pk)


def panel_post(values, **extra):
    data = {"collected_at": "2026-01-15T09:30", "lab_name": "City Lab", "accession_number": ""}
    for code, (value, unit) in values.items():
        data[f"{code}_value"], data[f"{code}_unit"] = value, unit_id(code, unit)
    return {**data, **extra}


def post_panel(client, patient, values, *, follow=False, **extra):
    """Open the entry page for its one-time key, then save `values` ({"k": ("3.1", "mmol/L")}) with it."""
    url = f"/patients/{patient.pk}/results/new/"
    return client.post(url, panel_post(values, form_key=form_key(client, url), **extra), follow=follow)


@pytest.fixture
def result(record, patient):
    return record(patient, {"k": ("3.1", "mmol/L")}).results.get()


# --- anonymous visitor -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/patients/{p}/",
        "/patients/{p}/results/new/",
        "/results/{r}/correct/",
        "/results/{r}/entered-in-error/",
        "/results/{r}/history/",
    ],
)
def test_anonymous_is_sent_to_login_and_nothing_changes(client, result, url):
    url = url.format(p=result.patient_id, r=result.pk)
    assert client.get(url)["Location"].startswith("/login/?next=")
    response = client.post(url, {"reason": "x", "value": "4.0", "unit": unit_id("k", "mmol/L")})
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    result.refresh_from_db()
    assert (result.status, Panel.objects.count()) == ("final", 1)


# --- clinician ---------------------------------------------------------------------------------------


def test_clinician_enters_a_panel_and_sees_it_flagged(clinician_client, patient):
    page = clinician_client.get(f"/patients/{patient.pk}/results/new/")
    assert page.status_code == 200 and "Enter results" in page.content.decode()
    response = post_panel(
        clinician_client, patient, {"k": ("2.7", "mmol/L"), "ca": ("2.30", "mmol/L"), "alb": ("30", "g/L")}, follow=True
    )
    assert response.redirect_chain == [(f"/patients/{patient.pk}/", 302)]
    html = response.content.decode()
    assert "Saved 3 results collected 15 Jan 2026 09:30." in html
    assert '<span class="badge flag text-bg-danger">⚠ Critically low</span>' in html  # words and colour
    assert "2.3 mmol/L" in html and "9.2 mg/dL" in html.replace("<strong>", "").replace("</strong>", "")
    assert "8.6–10.0 mg/dL" in html  # the range applied
    assert "Albumin-corrected calcium" in html and "10.02" in html  # 9.2184 + 0.8 × 1.0 = 10.0184 → 10.02
    assert Result.objects.filter(patient=patient).count() == 3


def test_bad_entry_shows_messages_and_saves_nothing(clinician_client, patient):
    response = post_panel(clinician_client, patient, {"k": ("4.0", "mmol/L"), "ca": ("2.3", "mg/dL")})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing was saved" in html
    assert "Calcium, total: 2.3 mg/dL is implausible — did you mean mmol/L?" in html
    assert not Panel.objects.exists()


def test_empty_panel_is_refused_in_the_page(clinician_client, patient):
    response = post_panel(clinician_client, patient, {})
    assert "The panel is empty: enter at least one result." in response.content.decode()
    assert not Panel.objects.exists()


def test_a_wrong_looking_unit_shows_a_confirm_box_and_saves_once_ticked(clinician_client, patient):
    url = f"/patients/{patient.pk}/results/new/"
    key = form_key(clinician_client, url)
    first = clinician_client.post(url, panel_post({"mg": ("0.68", "meq/L")}, form_key=key))
    html = first.content.decode()
    assert "in mmol/L it would be 1.65 mg/dL, low but not critical" in html and 'name="mg_confirm"' in html
    assert not Panel.objects.exists()
    second = clinician_client.post(url, panel_post({"mg": ("0.68", "meq/L")}, form_key=key, mg_confirm="on"))
    assert second.status_code == 302
    assert (Result.objects.get().value, Result.objects.get().unit_entered) == (D("0.8264"), "meq/L")


def test_patient_page_shows_status_reasons_history_links_and_pages_of_ten(clinician_client, patient, record, clinician):
    first = record(
        patient,
        {"k": ("3.1", "mmol/L"), "mg": ("1.9", "mg/dL")},
        at=timezone.now() - datetime.timedelta(days=400),
    )
    potassium, magnesium = first.results.get(analyte__code="k"), first.results.get(analyte__code="mg")
    services.correct_result(
        potassium, value=D("3.6"), unit=potassium.analyte.units.get(unit="mmol/L"), reason="Transcription", by=clinician
    )
    services.mark_entered_in_error(magnesium, reason="Wrong patient's sample", by=clinician)
    for day in range(11):
        record(patient, {"k": ("4.0", "mmol/L")}, at=timezone.now() - datetime.timedelta(days=day + 1))
    page_one = clinician_client.get(f"/patients/{patient.pk}/").content.decode()
    assert page_one.count('<article class="card') == 10 and "Page 1 of 2" in page_one
    page_two = clinician_client.get(f"/patients/{patient.pk}/?page=2").content.decode()
    assert page_two.count('<article class="card') == 2
    assert "Corrected" in page_two and "Transcription" in page_two
    assert "<s>Magnesium</s>" in page_two and "Wrong patient&#x27;s sample" in page_two
    assert f"/results/{potassium.pk}/history/" in page_two
    # A result that counts links its history, correction and withdrawal; one entered in error only its history.
    assert f'href="/results/{potassium.pk}/correct/"' in page_two
    assert f'href="/results/{potassium.pk}/entered-in-error/"' in page_two
    assert f'href="/results/{magnesium.pk}/history/"' in page_two
    assert f"/results/{magnesium.pk}/correct/" not in page_two


def test_clinician_corrects_a_result(clinician_client, result):
    url = f"/results/{result.pk}/correct/"
    assert "Correct a result" in clinician_client.get(url).content.decode()
    refused = clinician_client.post(url, {"value": "4.0", "unit": unit_id("k", "mmol/L"), "reason": ""})
    assert "Give the reason for the correction" in refused.content.decode()
    response = clinician_client.post(url, {"value": "4.0", "unit": unit_id("k", "mmol/L"), "reason": "Typo"})
    assert response["Location"] == f"/patients/{result.patient_id}/"
    result.refresh_from_db()
    assert (result.value, result.flag, result.status, result.status_reason) == (D("4.0000"), "N", "corrected", "Typo")


def test_clinician_marks_entered_in_error_and_cannot_correct_it_after(clinician_client, result):
    url = f"/results/{result.pk}/entered-in-error/"
    assert "Mark a result entered in error" in clinician_client.get(url).content.decode()
    refused = clinician_client.post(url, {"reason": "  "})
    assert "Give the reason the result was entered in error" in refused.content.decode()
    assert clinician_client.post(url, {"reason": "Wrong patient"}).status_code == 302
    result.refresh_from_db()
    assert (result.status, result.status_reason) == ("entered-in-error", "Wrong patient")
    after = clinician_client.post(
        f"/results/{result.pk}/correct/", {"value": "4.0", "unit": unit_id("k", "mmol/L"), "reason": "x"}
    )
    assert after.status_code == 302
    result.refresh_from_db()
    assert result.value_entered == D("3.1")


def test_history_page_shows_every_version_with_who_when_and_why(clinician_client, result, other_clinician):
    services.correct_result(
        result, value=D("3.9"), unit=result.analyte.units.get(unit="mmol/L"), reason="Lab re-issued", by=other_clinician
    )
    html = clinician_client.get(f"/results/{result.pk}/history/").content.decode()
    assert "3.1 mmol/L" in html and "3.9 mmol/L" in html
    assert "Carol Clinician" in html and "Alice Clinician" in html and "Lab re-issued" in html
    assert html.index("3.9 mmol/L") < html.index("3.1 mmol/L")  # newest first


def test_patient_page_query_count_does_not_grow(clinician_client, patient, record, django_assert_num_queries):
    five = {
        "k": ("4.0", "mmol/L"),
        "mg": ("1.9", "mg/dL"),
        "ca": ("9.0", "mg/dL"),
        "alb": ("4.0", "g/dL"),
        "ck": ("100", "U/L"),
    }
    nine = {
        **five,
        "vitd25": ("30.0", "ng/mL"),
        "carn_free": ("30.0", "umol/L"),
        "carn_total": ("40.0", "umol/L"),
        "vite": ("9.0", "mg/L"),
    }
    days = iter(range(1, 1000))

    def add(values, count):
        for _ in range(count):
            record(patient, values, at=timezone.now() - datetime.timedelta(days=next(days)))

    url = f"/patients/{patient.pk}/"
    add(five, 2)
    assert Result.objects.count() == 10
    # The first look after a change: 1 session, 2 user, 3 user's permissions, 4 group permissions,
    # 5 patient, 6 the access log insert, 7 analytes with result counts and newest change, 8 what the
    # findings' version is made of (guidance.selectors.findings_section), 9 the findings summary's cache
    # read, 10 findings (every value here is normal, so there are no topics or plans to fetch:
    # tests/test_guidance_views.py counts those), 11–15 its cache write (the cache's row count, the key's
    # row, the insert, in a savepoint), 16 the trend section's cache read, 17 its latest results, 18–22 its
    # cache write, 23 specimen conditions, 24 the results' sections' cache read
    # (labs.selectors.results_sections), 25–27 the panel count, the page of panels with who entered them
    # and their results with analytes, 28–32 the cumulative view (tests/test_labs_cumulative.py names
    # them), 33–37 the sections' cache write, 38 the user's roles (base.html), 39 contributing factors
    # (header). No session write: the idle expiry moves on at most once a minute (tests/test_sessions.py).
    with django_assert_num_queries(39):
        clinician_client.get(url)
    # The next look reads all three from the cache: 10–15, 17–22 and 25–37 are not needed.
    with django_assert_num_queries(14):
        clinician_client.get(url)
    add(nine, 54)  # 10 + 54 × 9 + 4 = 500
    # Changes too small for a delta rule (potassium +2.5 %), so there are still no findings.
    add({"k": ("4.1", "mmol/L"), "mg": ("1.8", "mg/dL"), "ca": ("9.1", "mg/dL"), "ck": ("90", "U/L")}, 1)
    assert Result.objects.count() == 500
    with django_assert_num_queries(39):
        clinician_client.get(url)
    with django_assert_num_queries(14):
        clinician_client.get(url)


def test_administrator_reads_results_but_cannot_enter_or_correct(admin_client_, result):
    assert admin_client_.get(f"/patients/{result.patient_id}/").status_code == 200
    assert admin_client_.get(f"/results/{result.pk}/history/").status_code == 200
    for url in [
        f"/patients/{result.patient_id}/results/new/",
        f"/results/{result.pk}/correct/",
        f"/results/{result.pk}/entered-in-error/",
    ]:
        assert admin_client_.get(url).status_code == 403
        assert (
            admin_client_.post(url, {"reason": "x", "value": "4.0", "unit": unit_id("k", "mmol/L")}).status_code == 403
        )
    result.refresh_from_db()
    assert (result.status, Panel.objects.count()) == ("final", 1)
    assert "Enter results" not in admin_client_.get(f"/patients/{result.patient_id}/").content.decode()


def test_user_without_a_role_is_refused(client, django_user_model, result):
    client.force_login(django_user_model.objects.create_user("norole", password="x-long-password-1"))
    assert client.get(f"/patients/{result.patient_id}/").status_code == 403
    assert client.get(f"/results/{result.pk}/history/").status_code == 403


def test_missing_result_is_404(clinician_client):
    assert clinician_client.get("/results/999999/correct/").status_code == 404


def test_clinician_cannot_change_ranges_or_catalogue_in_admin(clinician_client, analytes):
    potassium = ReferenceRange.objects.get(analyte=analytes["k"])
    for url in [
        "/admin/labs/referencerange/",
        f"/admin/labs/referencerange/{potassium.pk}/change/",
        f"/admin/labs/analyte/{analytes['k'].pk}/change/",
    ]:
        assert clinician_client.get(url)["Location"].startswith("/admin/login/")
    clinician_client.post(f"/admin/labs/referencerange/{potassium.pk}/change/", {"normal_low": "1"})
    potassium.refresh_from_db()
    assert potassium.normal_low == D("3.5")


def range_form(range_, **changes):
    data = {
        name: "" if getattr(range_, name) is None else str(getattr(range_, name))
        for name in [
            "sex",
            "age_min_years",
            "age_max_years",
            "normal_low",
            "normal_high",
            "critical_low",
            "critical_high",
            "source",
        ]
    }
    data.update(analyte=str(range_.analyte_id), effective_from=range_.effective_from.isoformat())
    return {**data, **changes}


def test_administrator_edits_an_unused_range_in_place(admin_client_, analytes, administrator):
    potassium = ReferenceRange.objects.get(analyte=analytes["k"])
    response = admin_client_.post(
        f"/admin/labs/referencerange/{potassium.pk}/change/", range_form(potassium, normal_low="3.6")
    )
    assert response.status_code == 302
    potassium.refresh_from_db()
    assert (potassium.normal_low, potassium.changed_by) == (D("3.6"), administrator)
    assert ReferenceRange.objects.filter(analyte=analytes["k"]).count() == 1


def test_administrator_change_to_a_used_range_creates_a_new_version(admin_client_, analytes, administrator, result):
    potassium = result.reference_range
    url = f"/admin/labs/referencerange/{potassium.pk}/change/"
    page = admin_client_.get(url).content.decode()
    assert "This range has been applied to results" in page
    same_date = admin_client_.post(url, range_form(potassium, normal_low="3.6"))
    assert "choose an effective date after 01 Jan 2000" in same_date.content.decode()
    response = admin_client_.post(
        url, range_form(potassium, normal_low="3.6", effective_from="2026-02-01"), follow=True
    )
    assert "saved as a new version effective from 01 Feb 2026" in response.content.decode()
    potassium.refresh_from_db()
    new = ReferenceRange.objects.get(analyte=analytes["k"], effective_from=datetime.date(2026, 2, 1))
    assert (potassium.normal_low, new.normal_low, new.changed_by) == (D("3.5"), D("3.6"), administrator)
    result.refresh_from_db()
    assert (result.reference_range, result.range_low) == (potassium, D("3.5"))


ABSURD_RANGE_VALUES = [
    ({"effective_from": "0001-01-01"}, "effective_from", "Effective date 0001-01-01 is out of range"),
    ({"effective_from": "9999-12-31"}, "effective_from", "Effective date 9999-12-31 is out of range"),
    ({"normal_low": "-0.5"}, "normal_low", "The normal low limit (-0.5) is negative"),
    ({"critical_high": "-7"}, "critical_high", "The critical high limit (-7) is negative"),
    # Arabic-Indic and full-width digits: int() and Decimal() read them, the admin refuses them.
    ({"normal_low": "٣.٦"}, "normal_low", "“٣.٦” has digits other than 0–9: type it with the digits 0–9."),
    ({"normal_high": "５.５"}, "normal_high", "“５.５” has digits other than 0–9"),
]


@pytest.mark.parametrize(
    "changes, field, message",
    [*ABSURD_RANGE_VALUES, ({"age_min_years": "١٨"}, "age_min_years", "“١٨” has digits other than 0–9")],
)
def test_admin_refuses_absurd_values_for_an_unused_range(admin_client_, analytes, changes, field, message):
    potassium = ReferenceRange.objects.get(analyte=analytes["k"])
    response = admin_client_.post(
        f"/admin/labs/referencerange/{potassium.pk}/change/", range_form(potassium, **changes)
    )
    assert response.status_code == 200
    assert any(message in error for error in response.context["adminform"].form.errors[field])
    potassium.refresh_from_db()
    assert (potassium.normal_low, potassium.normal_high, potassium.age_min_years) == (D("3.5"), D("5.2"), 18)


# (A date before the used version's own is refused with "choose an effective date after …", tested above.)
@pytest.mark.parametrize("changes, field, message", ABSURD_RANGE_VALUES[1:])
def test_admin_refuses_absurd_values_for_a_new_version_of_a_used_range(
    admin_client_, analytes, result, changes, field, message
):
    potassium = result.reference_range
    # A change to a used range must move the date on, so the refusal here is the value's, not the date's.
    data = range_form(potassium, **{"effective_from": "2026-02-01", **changes})
    response = admin_client_.post(f"/admin/labs/referencerange/{potassium.pk}/change/", data)
    assert response.status_code == 200
    assert any(message in error for error in response.context["adminform"].form.errors[field])
    assert list(ReferenceRange.objects.filter(analyte=analytes["k"]).values_list("normal_low", "effective_from")) == [
        (D("3.5"), datetime.date(2000, 1, 1))
    ]


def test_admin_id_choices_refuse_other_digits(admin_client_, analytes):
    potassium = ReferenceRange.objects.get(analyte=analytes["k"])
    other_digits = str(analytes["ca"].pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    data = range_form(potassium, analyte=other_digits, sex="F", effective_from="2026-02-01")
    response = admin_client_.post("/admin/labs/referencerange/add/", data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["analyte"] == [
        f"“{other_digits}” has digits other than 0–9: type it with the digits 0–9."
    ]
    assert ReferenceRange.objects.count() == ReferenceRange.objects.filter(effective_from__lt="2026-02-01").count()


def test_every_editable_admin_form_of_the_apps_refuses_other_digits():
    from django.contrib import admin

    from core.forms import AsciiDigitsModelForm
    from labs.admin import AnalyteUnitInline

    editable = [
        model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in {"patients", "labs", "guidance", "exports"}
    ]
    assert len(editable) >= 10  # every model the apps register
    for model_admin in editable:
        assert issubclass(model_admin.form, AsciiDigitsModelForm), model_admin
    assert issubclass(AnalyteUnitInline.form, AsciiDigitsModelForm)


def test_administrator_sees_catalogue_with_units_and_history_but_never_deletes(admin_client_, analytes):
    page = admin_client_.get(f"/admin/labs/analyte/{analytes['ca'].pk}/change/").content.decode()
    assert "mmol/L" in page and "4.008" in page
    assert admin_client_.get(f"/admin/labs/analyte/{analytes['ca'].pk}/history/").status_code == 200
    filtered = admin_client_.get(f"/admin/labs/referencerange/?analyte__id__exact={analytes['ca'].pk}").content.decode()
    assert (
        filtered.count("8.6–10.0 mg/dL") == 1
        and filtered.count("8.8–10.2 mg/dL") == 1
        and "3.5–5.2 mmol/L" not in filtered
    )
    potassium = ReferenceRange.objects.get(analyte=analytes["k"])
    assert admin_client_.post(f"/admin/labs/referencerange/{potassium.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ReferenceRange.objects.filter(pk=potassium.pk).exists()


# --- demo data ---------------------------------------------------------------------------------------


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(max_size=30), collected_at=st.text(max_size=25), accession=st.text(max_size=60))
def test_any_typed_input_is_answered_never_a_500(clinician_client, patient, value, collected_at, accession):
    response = post_panel(
        clinician_client, patient, {"k": (value, "mmol/L")}, collected_at=collected_at, accession_number=accession
    )
    assert response.status_code in (200, 302)


def test_child_results_say_no_reference_range_never_normal(clinician_client, record, patient_factory, clinician):
    child = patient_factory(date_of_birth=datetime.date(2015, 5, 1), sex="unknown", created_by=clinician)
    record(child, {"k": ("4.0", "mmol/L"), "ck": ("100", "U/L")})
    html = clinician_client.get(f"/patients/{child.pk}/").content.decode()
    results_section = html.split('id="results-heading"')[1]  # the trend tables above repeat the flags
    assert (
        results_section.count('<span class="badge flag text-bg-secondary">No reference range for this patient</span>')
        == 2
    )
    assert ">Normal</span>" not in html
