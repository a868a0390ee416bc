"""Hostile values posted to every form of the app, clinicians' and administrators': empty, 100,000
characters, NaN, Infinity, 1e308, -1, digits of other scripts, null bytes, absurd dates, ids of other
records or of none, a tampered hidden plan version. Each must be refused — a 4xx, or the form again with
a message the page shows — never a 5xx, and nothing in the database may change.

Each form is a `Case`: the page, what its untouched form posts (`test_the_untouched_form_is_accepted`
proves those values are accepted, so a refusal below is the hostile value's doing) and, per field, the
values that must be refused. Hypothesis picks a field and a value; the whole database but the access log
(every page shown is a read, refused forms too) and the sign-in records is compared with its state before.
"""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.test import Client
from django.utils import timezone
from django.utils.html import escape
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.two_factor import PENDING_BACKEND, PENDING_USER
from guidance import services
from guidance.models import ActionType, Finding, Rule, Topic
from labs.models import Analyte, AnalyteUnit, ReferenceRange
from patients.models import AccessLogEntry, ContributingFactor

from .conftest import app_code, enrol_authenticator_app
from .factories import UserFactory

pytestmark = pytest.mark.django_db


class Huge(str):
    """100,000 characters, shown short in a failing example's report."""

    def __repr__(self):
        return "'x' * 100_000"


HUGE = Huge("x" * 100_000)
NUL = "\x00"
# Refused wherever a text is required: nothing, only spaces, too long, a null byte.
TEXT = ["", "   ", HUGE, f"a{NUL}b", NUL]
# Refused in an optional text field.
LONG_OR_NUL = [HUGE, f"note{NUL}"]
# Refused in a number field that may not be empty (lab values, the admin's limits).
NUMBER = ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e308", "-1", "0x10", "4" + NUL, HUGE]
# Refused in a date field.
DATE = ["", "0001-01-01", "9999-12-31", "2026-02-30", "NaN", "-1", "1970-01-01" + NUL, HUGE]
# Ids of no record, or not ids at all.
NO_SUCH_ID = ["0", "-1", "99999999", "99999999999999999999", "NaN", "1e308", "1.5", NUL, HUGE]

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def other_digits(text) -> list[str]:
    """`text` written with Arabic-Indic and with full-width digits: Python reads both as the same number."""
    return [str(text).translate(ARABIC_INDIC), str(text).translate(FULL_WIDTH)]


# A number with at least one digit of another script ("4٫2", "１０", "٣"), whatever else it has.
OTHER_SCRIPT_NUMBER = st.tuples(
    st.text("0123456789.", max_size=3),
    st.characters(categories=["Nd"], exclude_characters="0123456789"),
    st.text("0123456789.", max_size=3),
).map("".join)


def refused(*values, numbers=False):
    """The strategy for one field's hostile values: these, and with `numbers` any number in other digits."""
    listed = st.sampled_from([value for group in values for value in group])
    return listed | OTHER_SCRIPT_NUMBER if numbers else listed


@dataclass(repr=False)
class Case:
    client: Client
    url: str
    data: Callable[[], dict]  # what the untouched form posts (or the query string of a GET form)
    hostile: dict  # field name → strategy of the values that must be refused
    form: str | None = "form"  # the page's form in the context; None for the admin (its "errors")
    method: str = "post"
    before_each: Callable[[], None] = lambda: None
    # The control test's change to the untouched form (the admin saves nothing when nothing changed).
    control_change: dict = field(default_factory=dict)
    # How the control test tells a 200 that accepted the form (the recovery codes shown) from a refusal.
    accepted: Callable | None = None

    def __repr__(self):
        return f"Case({self.url})"

    def _repr_pretty_(self, printer, cycle):  # Hypothesis' report of a failing example
        printer.text(repr(self))


def with_key(client, url) -> dict:
    """The one-time key of the form at `url`, for a form whose repetition would save a second record
    (core.form_keys): an edit form has none, and then nothing is added."""
    match = re.search(r'name="form_key" value="([^"]+)"', client.get(url).content.decode())
    return {"form_key": match.group(1)} if match else {}


def send(case, url, data):
    return getattr(case.client, case.method)(url, data)


# --- what the database holds -------------------------------------------------------------------------

WATCHED_APPS = ["auth", "patients", "labs", "guidance", "exports", "otp_totp", "otp_static"]
# Written by refused requests too, and rightly: the access log (every page shown is a read) and the
# authenticator app's failure counter and last-used time (a wrong code is counted).
NOT_WATCHED = {AccessLogEntry}
ONLY_FIELDS = {TOTPDevice: ("id", "user_id", "confirmed", "key", "name")}


def database_state():
    state = {}
    for label in WATCHED_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if model not in NOT_WATCHED:
                rows = model._default_manager.order_by("pk").values_list(*ONLY_FIELDS.get(model, ()))
                state[model._meta.label] = list(rows)
    return state


def error_messages(response, form_name):
    """Every message of the form (and, in the admin, of its inline forms) the page was rendered with."""
    if form_name is None:
        return [message for errors in response.context["errors"] for message in errors]
    return [message for errors in response.context[form_name].errors.values() for message in errors]


def assert_refused(response, form_name):
    assert response.status_code < 500
    if 400 <= response.status_code < 500:
        return
    assert response.status_code == 200, (response.status_code, response.get("Location"))
    messages = error_messages(response, form_name)
    assert messages, "the form was shown again without saying what is wrong"
    html = response.content.decode()
    assert all(escape(message) in html for message in messages)


# --- the forms ----------------------------------------------------------------------------------------


def ids(queryset):
    return [str(pk) for pk in queryset.values_list("pk", flat=True)]


def unit_pk(code, unit):
    return AnalyteUnit.objects.get(analyte__code=code, unit=unit).pk


def admin_form_data(client, url):
    """What the admin's change page posts when saved untouched: its form's and its inline forms' values."""
    context = client.get(url).context
    forms = [context["adminform"].form]
    data = {}
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        forms.extend(formset.forms)
        management = formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is True:
                data[form.add_prefix(name)] = "on"
            elif isinstance(value, list | tuple):
                data[form.add_prefix(name)] = [str(item) for item in value]
            elif value not in (None, False):
                data[form.add_prefix(name)] = str(value)
    return data


# How a critical result was communicated, for the acknowledgements the cases start from.
CALL = {"told": "Dr A. Patel, on-call GP", "method": "phone", "told_at": None, "read_back": True}  # told now


@pytest.fixture
def critical_finding(record, patient):
    record(patient, {"k": "2.7"}, lab_name="City Lab", accession_number="ACC-1")
    return Finding.objects.get()


@pytest.fixture
def plan(critical_finding, clinician):
    services.acknowledge(critical_finding, comment="Phoned the patient", call=CALL, by=clinician)
    return services.create_plan(
        critical_finding,
        action_type=ActionType.REPEAT_TEST,
        analyte=critical_finding.result.analyte,
        due_date=timezone.localdate() + datetime.timedelta(days=7),
        owner=clinician,
        by=clinician,
    )


def patient_form_case(client, patient, url):
    """Registering and editing a patient: the same form."""
    factor = ContributingFactor.objects.filter(active=True).first()
    retired = ContributingFactor.objects.create(code="retired", name="Retired factor", active=False)
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    return Case(
        client=client,
        url=url,
        data=lambda: {
            **with_key(client, url),
            "mrn": "FUZZ-1",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "date_of_birth": "1980-05-04",
            "sex": "female",
            "contributing_factors": [str(factor.pk)],
            "notes": "",
        },
        hostile={
            "mrn": refused(TEXT, ["MRN 1", "<b>1</b>", "M" * 33, patient.mrn.lower()]),
            "given_name": refused(TEXT),
            "family_name": refused(TEXT),
            "date_of_birth": refused(DATE, [tomorrow, "1899-12-31"], other_digits("1980-05-04")),
            "sex": refused(["", "alien", f"female{NUL}", HUGE]),
            "contributing_factors": refused([[str(retired.pk)]], [[pk] for pk in NO_SUCH_ID + other_digits(factor.pk)]),
            "notes": refused(LONG_OR_NUL),
        },
    )


def case_patient_register(request):
    client, patient = request.getfixturevalue("clinician_client"), request.getfixturevalue("patient")
    return patient_form_case(client, patient, "/patients/new/")


def case_patient_edit(request):
    client = request.getfixturevalue("clinician_client")
    patient = request.getfixturevalue("patient_factory")(mrn="OTHER-1", created_by=request.getfixturevalue("clinician"))
    editing = request.getfixturevalue("patient")
    return patient_form_case(client, patient, f"/patients/{editing.pk}/edit/")


def case_result_entry(request):
    client, patient = request.getfixturevalue("clinician_client"), request.getfixturevalue("patient")
    request.getfixturevalue("critical_finding")  # a panel with accession number ACC-1 from City Lab
    k_unit = unit_pk("k", "mmol/L")
    return Case(
        client=client,
        url=f"/patients/{patient.pk}/results/new/",
        data=lambda: {
            **with_key(client, f"/patients/{patient.pk}/results/new/"),
            "collected_at": f"{timezone.localtime() - datetime.timedelta(days=1):%Y-%m-%dT%H:%M}",
            "lab_name": "City Lab",
            "accession_number": "",
            "k_value": "4.0",
            "k_unit": str(k_unit),
        },
        hostile={
            "collected_at": refused(
                [value + "T10:00" for value in DATE if value],
                ["", "1900-01-01T00:00"],
                other_digits("2026-01-05T10:00"),
            ),
            "k_value": refused([""], NUMBER, numbers=True),
            # Calcium's mg/dL for a potassium value: another analyte's unit.
            "k_unit": refused(["", str(unit_pk("ca", "mg/dL"))], NO_SUCH_ID, other_digits(k_unit)),
            "lab_name": refused(LONG_OR_NUL),
            "accession_number": refused(LONG_OR_NUL, ["ACC-1", "acc-1"]),
        },
    )


def case_correction(request):
    client, finding = request.getfixturevalue("clinician_client"), request.getfixturevalue("critical_finding")
    k_unit = unit_pk("k", "mmol/L")
    return Case(
        client=client,
        url=f"/results/{finding.result_id}/correct/",
        data=lambda: {"value": "4.2", "unit": str(k_unit), "reason": "The lab phoned a corrected value"},
        hostile={
            "value": refused(TEXT, NUMBER, numbers=True),
            "unit": refused(["", str(unit_pk("ca", "mg/dL"))], NO_SUCH_ID, other_digits(k_unit)),
            "reason": refused(TEXT),
        },
    )


def text_case(request, url, field_name, text, form="form"):
    """A form of one required text about the critical finding or its result (`url` names them)."""
    finding = request.getfixturevalue("critical_finding")
    return Case(
        client=request.getfixturevalue("clinician_client"),
        url=url.format(result=finding.result_id, finding=finding.pk),
        data=lambda: {field_name: text},
        hostile={field_name: refused(TEXT)},
        form=form,
    )


def case_entered_in_error(request):
    return text_case(request, "/results/{result}/entered-in-error/", "reason", "Another patient's sample")


def case_acknowledge(request):
    url = "/guidance/findings/{finding}/acknowledge/"
    case = text_case(request, url, "comment", "Phoned the patient", form="acknowledge_form")
    # A critical result: the record of its call comes with the acknowledgement (NPSG.02.03.01).
    told_at = f"{timezone.localtime() - datetime.timedelta(minutes=5):%Y-%m-%dT%H:%M}"
    call = {"told": "Dr A. Patel, on-call GP", "method": "phone", "told_at": told_at, "read_back": "on"}
    case.data = lambda: {"comment": "Phoned the patient", **call}
    return case


def case_no_action(request):
    case = text_case(request, "/guidance/findings/{finding}/no-action/", "reason", "Known and stable", "no_action_form")
    finding = request.getfixturevalue("critical_finding")
    services.acknowledge(finding, comment="Phoned the patient", call=CALL, by=request.getfixturevalue("clinician"))
    return case


def plan_hostile(clinician, analyte):
    nobody = UserFactory(username="norole")  # a user without the clinician role: not an owner
    return {
        "action_type": refused(["", "magic", f"repeat-test{NUL}", HUGE]),
        "analyte": refused([""], NO_SUCH_ID, other_digits(analyte.pk)),
        "due_date": refused(DATE, other_digits(timezone.localdate().isoformat())),
        "owner": refused(["", str(nobody.pk)], NO_SUCH_ID, other_digits(clinician.pk)),
        "details": refused(LONG_OR_NUL),
    }


def plan_data(clinician, analyte, **extra):
    due = (timezone.localdate() + datetime.timedelta(days=14)).isoformat()
    return lambda: {
        "action_type": "repeat-test",
        "analyte": str(analyte.pk),
        "due_date": due,
        "owner": str(clinician.pk),
        "details": "",
        **extra,
    }


def case_plan_create(request):
    client, finding = request.getfixturevalue("clinician_client"), request.getfixturevalue("critical_finding")
    clinician, analyte = request.getfixturevalue("clinician"), finding.result.analyte
    services.acknowledge(finding, comment="Phoned the patient", call=CALL, by=clinician)
    return Case(
        client=client,
        url=f"/guidance/findings/{finding.pk}/plans/new/",
        data=lambda: {
            **plan_data(clinician, analyte)(),
            **with_key(client, f"/guidance/findings/{finding.pk}/plans/new/"),
        },
        hostile=plan_hostile(clinician, analyte),
    )


def tampered_versions(version):
    """The hidden `version` of a plan's forms, tampered with: missing, stale, ahead, not a number."""
    return refused(["", "0", str(version + 1), "-1", "1.5", "NaN", "1e308"], other_digits(version), NO_SUCH_ID)


def case_plan_edit(request):
    client, plan = request.getfixturevalue("clinician_client"), request.getfixturevalue("plan")
    clinician, analyte = request.getfixturevalue("clinician"), plan.analyte
    return Case(
        client=client,
        url=f"/guidance/plans/{plan.pk}/edit/",
        data=plan_data(clinician, analyte, version=str(plan.version)),
        hostile={**plan_hostile(clinician, analyte), "version": tampered_versions(plan.version)},
    )


def plan_close_case(request, action):
    client, plan = request.getfixturevalue("clinician_client"), request.getfixturevalue("plan")
    return Case(
        client=client,
        url=f"/guidance/plans/{plan.pk}/{action}/",
        data=lambda: {"outcome": "Potassium back to normal", "version": str(plan.version)},
        hostile={"outcome": refused(TEXT), "version": tampered_versions(plan.version)},
    )


def case_plan_complete(request):
    return plan_close_case(request, "complete")


def case_plan_cancel(request):
    return plan_close_case(request, "cancel")


def case_cohort_export(request):
    return Case(
        client=request.getfixturevalue("admin_client_"),
        url="/exports/cohort.csv",
        method="get",
        data=lambda: {"from": "2025-01-01", "to": "2025-12-31"},
        hostile={"from": refused(DATE, other_digits("2025-01-01")), "to": refused(DATE, other_digits("2025-12-31"))},
    )


def case_access_log_export(request):
    today = timezone.localdate()
    return Case(
        client=request.getfixturevalue("admin_client_"),
        url="/admin/patients/accesslogentry/export/",
        method="get",
        data=lambda: {"start": (today - datetime.timedelta(days=30)).isoformat(), "end": today.isoformat()},
        hostile={"start": refused(DATE, other_digits(today.isoformat())), "end": refused(DATE)},
    )


def admin_case(request, url, hostile, control_change, **fields):
    """An admin change page; `fields` replace what the page shows (a used range's change needs a new date)."""
    client = request.getfixturevalue("admin_client_")
    data = {**admin_form_data(client, url), **fields}
    return Case(
        client=client, url=url, data=lambda: dict(data), hostile=hostile, form=None, control_change=control_change
    )


def case_admin_reference_range(request):
    # A range already applied to a result (its changes are saved as a new version) and limits of its own.
    request.getfixturevalue("critical_finding")
    reference_range = ReferenceRange.objects.used().filter(analyte__code="k").first()
    limits = refused(NUMBER, numbers=True)
    return admin_case(
        request,
        f"/admin/labs/referencerange/{reference_range.pk}/change/",
        {
            "normal_low": limits,
            "normal_high": limits,
            "critical_low": limits,
            "critical_high": limits,
            "effective_from": refused(DATE, other_digits((timezone.localdate()).isoformat())),
            "source": refused([f"Lab{NUL}"]),
        },
        {"normal_high": "5.4"},
        effective_from=timezone.localdate().isoformat(),
    )


def case_admin_unused_reference_range(request):
    # A range not applied yet: who it applies to can still be changed.
    request.getfixturevalue("roles")
    reference_range = ReferenceRange.objects.exclude(pk__in=ReferenceRange.objects.used()).first()
    ages = refused(["-1", "1.5", "99999999", "NaN", "1e308", HUGE], numbers=True)
    return admin_case(
        request,
        f"/admin/labs/referencerange/{reference_range.pk}/change/",
        {
            "analyte": refused([""], NO_SUCH_ID, other_digits(reference_range.analyte_id)),
            "sex": refused(["alien", HUGE, f"female{NUL}"]),
            "age_min_years": ages,
            "age_max_years": ages,
            "normal_low": refused(NUMBER, numbers=True),
        },
        {"source": "Changed by the control test"},
    )


def case_admin_analyte(request):
    request.getfixturevalue("roles")
    analyte = Analyte.objects.get(code="k")
    numbers = refused([""], NUMBER, numbers=True)
    small_numbers = refused(["", "-1", "1.5", "99999999", "NaN", "1e308", HUGE], numbers=True)
    return admin_case(
        request,
        f"/admin/labs/analyte/{analyte.pk}/change/",
        {
            "name": refused(TEXT),
            "code": refused(TEXT, ["has space", "../k"]),
            "loinc": refused(["not-a-loinc", HUGE, f"2823-3{NUL}"]),
            "plausible_low": numbers,
            "plausible_high": numbers,
            "display_decimal_places": small_numbers,
            # Any order up to 32,767 sorts (PostgreSQL's smallint; SQLite stores larger ones too).
            "sort_order": refused(["", "-1", "1.5", "NaN", "1e308", HUGE], numbers=True),
            "units-0-factor": numbers,
            "units-0-decimal_places": small_numbers,
        },
        {"sort_order": "7"},
    )


def case_admin_rule(request):
    request.getfixturevalue("roles")
    rule = Rule.objects.filter(value_below__isnull=False).first() or Rule.objects.first()
    factor = ContributingFactor.objects.filter(active=True).first().pk
    limits = refused(NUMBER, numbers=True)
    return admin_case(
        request,
        f"/admin/guidance/rule/{rule.pk}/change/",
        {
            "code": refused(TEXT, ["has space"]),
            "summary": refused(TEXT),
            "analyte": refused([""], NO_SUCH_ID, other_digits(rule.analyte_id)),
            "topic": refused([""], NO_SUCH_ID, other_digits(rule.topic_id)),
            "value_below": limits,
            "value_above": limits,
            "uln_multiple_above": limits,
            # Any priority up to 32,767 sorts (PostgreSQL's smallint; SQLite stores larger ones too).
            "priority": refused(["-1", "1.5", "NaN", HUGE], numbers=True),
            "retest_days": refused(["-1", "1.5", "99999999", "NaN", HUGE], numbers=True),
            "severity": refused(["", "apocalyptic", HUGE]),
            "action_type": refused(["", "magic", HUGE]),
            "relevant_factors": refused([[pk] for pk in [*NO_SUCH_ID, *other_digits(factor)]]),
        },
        {"summary": "Changed by the control test"},
    )


def case_admin_topic(request):
    request.getfixturevalue("roles")
    topic = Topic.objects.order_by("pk").first()
    return admin_case(
        request,
        f"/admin/guidance/topic/{topic.pk}/change/",
        {
            "title": refused(TEXT),
            "slug": refused(TEXT, ["has space", "../x"]),
            "summary": refused(TEXT),
            **{name: refused([f"Text{NUL}"]) for name, _ in Topic.SECTIONS},
        },
        {"summary": "Changed by the control test"},
    )


WRONG_CODES = ["", HUGE, NUL, "12345\x00", "NaN", "1e308", "-1", "12345", "1234567", "abcdef"]


def case_two_factor_setup(request):
    client = request.getfixturevalue("clinician_client")
    client.get("/account/two-factor/")  # makes the app's key, still unconfirmed
    device = TOTPDevice.objects.get(user=request.getfixturevalue("clinician"), confirmed=False)
    return Case(
        client=client,
        url="/account/two-factor/",
        data=lambda: {"code": app_code(device)},
        hostile={"code": refused(WRONG_CODES, numbers=True)},
        accepted=lambda response: b"recovery codes" in response.content.lower(),
    )


def case_two_factor_code(request):
    clinician = request.getfixturevalue("clinician")
    device = enrol_authenticator_app(clinician)
    client = Client()
    assert client.post("/login/", {"username": "alice", "password": "correct-horse-battery"}).url == "/login/code/"

    def awaiting_the_code():
        # Each wrong code counts towards the lock-out; start each example from none, with the password typed.
        AccessAttempt.objects.all().delete()
        session = client.session
        session[PENDING_USER], session[PENDING_BACKEND] = clinician.pk, "config.permissions.PermissionBackend"
        session.save()

    return Case(
        client=client,
        url="/login/code/",
        data=lambda: {"code": app_code(device)},
        hostile={"code": refused(WRONG_CODES, numbers=True)},
        before_each=awaiting_the_code,
    )


CASES = {name.removeprefix("case_"): value for name, value in list(globals().items()) if name.startswith("case_")}


@pytest.fixture(params=sorted(CASES))
def case(request):
    built = CASES[request.param](request)
    built.before_each()
    return built


def test_the_untouched_form_is_accepted(case):
    """The control: the values every hostile example starts from are accepted, so each refusal in the
    test below is the hostile value's doing."""
    before = database_state()
    response = send(case, case.url, {**case.data(), **case.control_change})
    if case.method == "get":
        assert (response.status_code, response["Content-Type"]) == (200, "text/csv; charset=utf-8")
    elif case.accepted:
        assert response.status_code == 200 and case.accepted(response)
    else:
        assert response.status_code == 302, error_messages(response, case.form)
        assert database_state() != before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choice=st.data())
def test_a_hostile_value_is_refused_and_changes_nothing(case, choice):
    before = database_state()
    case.before_each()
    name = choice.draw(st.sampled_from(sorted(case.hostile)), label="field")
    value = choice.draw(case.hostile[name], label="value")
    response = send(case, case.url, {**case.data(), name: value})
    assert_refused(response, case.form)
    # Users are watched too: a wrong code that signed someone in would change their last_login.
    assert database_state() == before


@pytest.mark.parametrize(
    "url",
    [
        "/patients/99999999/edit/",
        "/patients/99999999/results/new/",
        "/results/99999999/correct/",
        "/results/99999999/entered-in-error/",
        "/guidance/findings/99999999/acknowledge/",
        "/guidance/findings/99999999/no-action/",
        "/guidance/findings/99999999/plans/new/",
        "/guidance/plans/99999999/edit/",
        "/guidance/plans/99999999/complete/",
        "/guidance/plans/99999999/cancel/",
        "/guidance/plans/99999999999999999999/cancel/",
    ],
)
def test_a_form_for_a_record_that_does_not_exist_is_404(clinician_client, critical_finding, url):
    before = database_state()
    response = clinician_client.post(url, {"reason": "x", "comment": "x", "outcome": "x", "version": "1"})
    assert response.status_code == 404
    assert database_state() == before


@pytest.mark.parametrize("model", ["labs/referencerange", "labs/analyte", "guidance/rule", "guidance/topic"])
def test_the_admin_form_of_a_record_that_does_not_exist_changes_nothing(admin_client_, model):
    before = database_state()
    response = admin_client_.post(f"/admin/{model}/99999999/change/", {"source": "x", "summary": "x"})
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert database_state() == before


# --- the defects these tests found, each with the message it now gives ---------------------------------


def test_patient_notes_are_at_most_4000_characters(clinician_client, patient):
    data = {"mrn": "FUZZ-1", "given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1980-05-04"}
    response = clinician_client.post("/patients/new/", {**data, "sex": "female", "notes": "x" * 4001})
    assert response.context["form"].errors["notes"] == ["Ensure this value has at most 4000 characters (it has 4001)."]
    data.update(with_key(clinician_client, "/patients/new/"))
    assert clinician_client.post("/patients/new/", {**data, "sex": "female", "notes": "x" * 4000}).status_code == 302


def test_a_contributing_factor_id_too_large_for_any_row_is_not_a_choice(clinician_client, patient):
    data = {"mrn": "FUZZ-1", "given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1980-05-04"}
    # Before: OverflowError from SQLite, a 500.
    response = clinician_client.post(
        "/patients/new/", {**data, "sex": "female", "contributing_factors": ["99999999999999999999"]}
    )
    assert response.context["form"].errors["contributing_factors"] == ["“99999999999999999999” is not a valid value."]


@pytest.mark.parametrize(
    "url, field, value",
    [
        ("/guidance/findings/{finding}/plans/new/", "analyte", "{analyte}"),
        ("/guidance/findings/{finding}/plans/new/", "owner", "{owner}"),
        ("/patients/{patient}/results/new/", "collected_at", "２０２６-０１-０５T１０:００"),
    ],
)
def test_ids_and_dates_in_other_digits_are_refused_in_the_clinicians_forms(
    clinician_client, clinician, critical_finding, url, field, value
):
    services.acknowledge(critical_finding, comment="Phoned the patient", call=CALL, by=clinician)
    ids_ = {"finding": critical_finding.pk, "patient": critical_finding.patient_id}
    typed = value.format(analyte=critical_finding.result.analyte_id, owner=clinician.pk).translate(ARABIC_INDIC)
    data = {"action_type": "repeat-test", "due_date": timezone.localdate().isoformat(), "k_value": "4.0"}
    data |= {"analyte": critical_finding.result.analyte_id, "owner": clinician.pk, "k_unit": unit_pk("k", "mmol/L")}
    data |= {"collected_at": f"{timezone.localtime() - datetime.timedelta(days=1):%Y-%m-%dT%H:%M}", field: typed}
    response = clinician_client.post(url.format(**ids_), data)
    assert (
        f"“{typed}” has digits other than 0–9: type it with the digits 0–9." in response.context["form"].errors[field]
    )


@pytest.mark.parametrize("version", ["١", "1.5", "NaN"])
@pytest.mark.parametrize("action", ["edit", "complete", "cancel"])
def test_a_tampered_plan_version_is_refused_with_a_message_the_page_shows(
    clinician_client, clinician, plan, action, version
):
    data = {"action_type": "other", "due_date": timezone.localdate().isoformat(), "owner": clinician.pk}
    response = clinician_client.post(
        f"/guidance/plans/{plan.pk}/{action}/", {**data, "outcome": "Done", "version": version}
    )
    assert response.context["form"].non_field_errors() == [
        "This form did not say which version of the plan it edits (the page was changed or is incomplete), so "
        "nothing was saved. Reload the plan and make your changes again."
    ]
    assert "This form did not say which version of the plan it edits" in response.content.decode()
    plan.refresh_from_db()
    assert (plan.status, plan.version) == ("planned", 1)


@pytest.mark.parametrize(
    "model, pk_of, field, value, message",
    [
        (
            "labs/analyte",
            "analyte",
            "plausible_low",
            "-1",
            "The plausible low limit (-1) is negative; a lab value cannot be below zero: enter 0 or more.",
        ),
        (
            "labs/analyte",
            "analyte",
            "display_decimal_places",
            "5",
            "5 decimal places is more than values are stored with: choose 0 to 4.",
        ),
        (
            "labs/analyte",
            "analyte",
            "units-0-decimal_places",
            "99999999",
            "99999999 decimal places is more than values are stored with: choose 0 to 4.",
        ),
        (
            "labs/referencerange",
            "range",
            "age_max_years",
            "151",
            "Maximum age (years, exclusive): 151 is not an age; enter 0 to 150 years.",
        ),
        (
            "guidance/rule",
            "rule",
            "retest_days",
            "1826",
            "A retest in 1826 days is too far ahead: a follow-up is due at most five years ahead, so choose at most 1825 days.",
        ),
        (
            "guidance/rule",
            "rule",
            "uln_multiple_above",
            "-1",
            "Multiple of the upper reference limit (-1) is negative; lab values are 0 or more: enter 0 or more.",
        ),
        # Before: OverflowError from SQLite, a 500 (any many-to-many choice in the admin).
        (
            "guidance/rule",
            "rule",
            "relevant_factors",
            ["99999999999999999999"],
            "“99999999999999999999” is not a valid value.",
        ),
    ],
)
def test_absurd_catalogue_values_are_refused_in_the_admin(admin_client_, model, pk_of, field, value, message):
    pk = {
        "analyte": lambda: Analyte.objects.get(code="k").pk,
        "range": lambda: ReferenceRange.objects.filter(analyte__code="k").first().pk,
        "rule": lambda: Rule.objects.filter(retest_days__isnull=False).first().pk,
    }[pk_of]()
    url = f"/admin/{model}/{pk}/change/"
    before = database_state()
    response = admin_client_.post(url, {**admin_form_data(admin_client_, url), field: value})
    assert response.status_code == 200
    assert message in error_messages(response, None)
    assert database_state() == before
