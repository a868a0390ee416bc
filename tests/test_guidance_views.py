"""The guidance pages: permission matrix, the review flow in the browser, the worklist's order and
query counts, the stale-edit refusal and safe rendering of topic content."""

import datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from guidance import selectors, services
from guidance.models import ActionType, Finding, FollowUpPlan, Topic
from patients.models import ContributingFactor

from .form_keys import form_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def finding(record, patient):
    record(patient, {"k": "3.1"})
    return Finding.objects.get()


@pytest.fixture
def plan(finding, clinician):
    return services.create_plan(
        finding,
        action_type=ActionType.REPEAT_TEST,
        analyte=finding.result.analyte,
        due_date=timezone.localdate(),
        owner=clinician,
        by=clinician,
    )


def page_urls(finding, plan):
    return {
        "worklist": "/",
        "worklist_critical": "/guidance/worklist/critical/",
        "worklist_awaiting": "/guidance/worklist/awaiting/",
        "worklist_plans": "/guidance/worklist/plans/?plans=everyone",
        "index": "/guidance/",
        "topic": "/guidance/potassium-imbalance/",
        "finding": f"/guidance/findings/{finding.pk}/",
        "plan_create": f"/guidance/findings/{finding.pk}/plans/new/",
        "plan_edit": f"/guidance/plans/{plan.pk}/edit/",
        "plan_complete": f"/guidance/plans/{plan.pk}/complete/",
        "plan_cancel": f"/guidance/plans/{plan.pk}/cancel/",
    }


# --- permission matrix -------------------------------------------------------------------------

# page -> (clinician, administrator) status for GET
MATRIX = {
    "worklist": (200, 200),
    "worklist_critical": (200, 200),
    "worklist_awaiting": (200, 200),
    "worklist_plans": (200, 200),
    "index": (200, 200),
    "topic": (200, 200),
    "finding": (200, 200),
    "plan_create": (200, 403),
    "plan_edit": (200, 403),
    "plan_complete": (200, 403),
    "plan_cancel": (200, 403),
}


@pytest.mark.parametrize("name", MATRIX)
def test_clinician_and_administrator_get(client, clinician, administrator, plan, name):
    url = page_urls(plan.finding, plan)[name]
    client.force_login(clinician)
    assert client.get(url).status_code == MATRIX[name][0]
    client.force_login(administrator)
    assert client.get(url).status_code == MATRIX[name][1]


@pytest.mark.parametrize("name", MATRIX)
def test_anonymous_is_sent_to_login(client, plan, name):
    response = client.get(page_urls(plan.finding, plan)[name])
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("action", ["acknowledge", "no-action"])
def test_administrator_and_anonymous_cannot_review(client, administrator, finding, action):
    url = f"/guidance/findings/{finding.pk}/{action}/"
    data = {"comment": "x", "reason": "x"}
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(administrator)
    assert client.post(url, data).status_code == 403
    assert Finding.objects.get().status == Finding.Status.OPEN


def test_administrator_cannot_post_a_plan(admin_client_, finding):
    response = admin_client_.post(f"/guidance/findings/{finding.pk}/plans/new/", {})
    assert response.status_code == 403
    assert not FollowUpPlan.objects.exists()


def test_administrator_sees_the_finding_without_review_forms(admin_client_, finding):
    response = admin_client_.get(f"/guidance/findings/{finding.pk}/")
    assert b"Acknowledge" not in response.content
    assert b"Plan a follow-up" not in response.content


def test_review_actions_need_post(clinician_client, finding):
    assert clinician_client.get(f"/guidance/findings/{finding.pk}/acknowledge/").status_code == 405


def test_missing_finding_and_plan_are_404(clinician_client):
    assert clinician_client.get("/guidance/findings/999/").status_code == 404
    assert clinician_client.get("/guidance/plans/999/edit/").status_code == 404
    assert clinician_client.get("/guidance/no-such-topic/").status_code == 404


# --- the review flow, as a clinician does it ---------------------------------------------------


def test_from_result_to_closed_follow_up_in_the_browser(clinician_client, clinician, record, patient):
    record(patient, {"k": "2.5"}, at=timezone.now() - datetime.timedelta(days=8))
    finding = Finding.objects.get()

    worklist = clinician_client.get("/")
    assert [(row.panel, row.panel.critical_waiting) for row in worklist.context["reports"]] == [
        (finding.result.panel, True)
    ]
    assert patient.get_absolute_url().encode() in worklist.content

    # A critical finding refuses acknowledgement without a comment, and says why.
    response = clinician_client.post(f"/guidance/findings/{finding.pk}/acknowledge/", {"comment": ""})
    assert response.status_code == 200
    assert "write a comment" in response.context["acknowledge_form"].errors["comment"][0]
    assert "Nothing was saved. Correct the fields marked below." in response.content.decode()
    assert Finding.objects.get().status == Finding.Status.OPEN

    # Nor without who was told and how.
    response = clinician_client.post(f"/guidance/findings/{finding.pk}/acknowledge/", {"comment": "ECG normal"})
    assert response.status_code == 200
    errors = response.context["acknowledge_form"].errors
    assert errors["told"] == ["A critical result: say who was told it (name and role)."]
    assert errors["method"] == ["A critical result: say how they were told (phone, in person or message)."]
    assert Finding.objects.get().status == Finding.Status.OPEN

    response = clinician_client.post(
        f"/guidance/findings/{finding.pk}/acknowledge/",
        {
            "comment": "ECG normal",
            "told": "Dr A. Patel, on-call GP",
            "method": "phone",
            "told_at": f"{timezone.localtime():%Y-%m-%dT%H:%M}",
            "read_back": "on",
        },
    )
    assert response.status_code == 302
    reports = clinician_client.get("/").context["reports"]
    assert [(row.panel.critical_waiting, [item.lead for item in row.items]) for row in reports] == [(False, [finding])]

    # The plan form suggests a repeat potassium in 7 days, owned by me.
    form = clinician_client.get(f"/guidance/findings/{finding.pk}/plans/new/").context["form"]
    assert form.initial["action_type"] == ActionType.REPEAT_TEST
    assert form.initial["analyte"] == finding.result.analyte
    assert form.initial["due_date"] == timezone.localdate() + datetime.timedelta(days=7)
    assert form.initial["owner"] == clinician
    plan = {
        "action_type": "repeat-test",
        "analyte": finding.result.analyte.pk,
        "details": "Repeat K and Mg",
        "due_date": (timezone.localdate() - datetime.timedelta(days=30)).isoformat(),
        "owner": clinician.pk,
        "form_key": form_key(clinician_client, f"/guidance/findings/{finding.pk}/plans/new/"),
    }
    response = clinician_client.post(f"/guidance/findings/{finding.pk}/plans/new/", plan)
    assert response.status_code == 302
    # Saved again with the same form (a double click), no second plan.
    again = clinician_client.post(f"/guidance/findings/{finding.pk}/plans/new/", plan)
    assert again.status_code == 200 and "This form was already saved at" in again.content.decode()
    assert FollowUpPlan.objects.count() == 1
    home = clinician_client.get("/")
    assert home.context["reports"] == []
    plan = FollowUpPlan.objects.get()
    assert [p.pk for p in home.context["plans"]] == [plan.pk]  # overdue

    record(patient, {"k": "4.1"}, at=timezone.now() - datetime.timedelta(hours=1))
    plan.refresh_from_db()
    assert plan.met_result.value == Decimal("4.1")

    response = clinician_client.post(
        f"/guidance/plans/{plan.pk}/complete/", {"outcome": "Repeat normal", "version": plan.version}
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.status, plan.closed_by) == (FollowUpPlan.Status.DONE, clinician)
    assert clinician_client.get("/").context["plans"] == []


def test_no_action_without_reason_names_the_field(clinician_client, finding):
    response = clinician_client.post(f"/guidance/findings/{finding.pk}/no-action/", {"reason": "  "})
    assert response.status_code == 200
    assert "Give the reason no action is needed" in response.context["no_action_form"].errors["reason"][0]
    # Said at the top of the page too, as the other forms do: the field is far down the page.
    assert "Nothing was saved. Correct the fields marked below." in response.content.decode()
    assert Finding.objects.get().status == Finding.Status.OPEN


def test_the_finding_page_has_no_error_banner_before_a_submission(clinician_client, finding):
    assert "Nothing was saved" not in clinician_client.get(f"/guidance/findings/{finding.pk}/").content.decode()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("due_date", "31/02/2026", "Due date must be a date such as"),
        ("due_date", "", "Due date is required."),
        ("due_date", "0001-01-01", "Due date 0001-01-01 is out of range: choose a date from"),
        ("due_date", "9999-12-31", "Due date 9999-12-31 is out of range: choose a date from"),
        ("action_type", "magic", "Choose one of the listed actions."),
        ("analyte", "", "A repeat test needs the test to repeat"),
        ("owner", "", "Choose who owns this plan."),
    ],
)
def test_bad_plan_input_names_the_field_and_saves_nothing(clinician_client, clinician, finding, field, value, message):
    data = {
        "action_type": "repeat-test",
        "analyte": finding.result.analyte.pk,
        "due_date": (timezone.localdate() + datetime.timedelta(days=14)).isoformat(),
        "owner": clinician.pk,
    }
    response = clinician_client.post(f"/guidance/findings/{finding.pk}/plans/new/", {**data, field: value})
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    assert b"Nothing was saved" in response.content
    assert not FollowUpPlan.objects.exists()


@pytest.mark.parametrize(
    "today, earliest, latest",
    [
        (datetime.date(2026, 6, 15), datetime.date(2025, 6, 15), datetime.date(2031, 6, 15)),
        # 29 February: a year ago and five years ahead have no such day, so the 28th.
        (datetime.date(2028, 2, 29), datetime.date(2027, 2, 28), datetime.date(2033, 2, 28)),
    ],
)
def test_due_date_from_a_year_ago_to_five_years_ahead(clinician_client, clinician, finding, today, earliest, latest):
    url = f"/guidance/findings/{finding.pk}/plans/new/"
    data = {"action_type": "other", "owner": clinician.pk}
    message = (
        f"is out of range: choose a date from {earliest:%d %b %Y} (a year ago) to {latest:%d %b %Y} (five years ahead)."
    )
    with mock.patch("guidance.forms.timezone.localdate", return_value=today):
        for refused in (earliest - datetime.timedelta(days=1), latest + datetime.timedelta(days=1)):
            response = clinician_client.post(url, {**data, "due_date": refused.isoformat()})
            assert response.context["form"].errors["due_date"] == [f"Due date {refused.isoformat()} {message}"]
        assert not FollowUpPlan.objects.exists()
        for accepted in (earliest, latest):
            key = form_key(clinician_client, url)
            assert (
                clinician_client.post(url, {**data, "due_date": accepted.isoformat(), "form_key": key}).status_code
                == 302
            )
    assert sorted(FollowUpPlan.objects.values_list("due_date", flat=True)) == [earliest, latest]


def test_editing_a_plan_keeps_a_due_date_now_out_of_range(clinician_client, clinician, plan):
    long_ago = timezone.localdate() - datetime.timedelta(days=800)
    FollowUpPlan.objects.filter(pk=plan.pk).update(due_date=long_ago)
    data = {"action_type": "repeat-test", "analyte": plan.analyte_id, "owner": clinician.pk, "version": plan.version}
    response = clinician_client.post(
        f"/guidance/plans/{plan.pk}/edit/", {**data, "due_date": long_ago.isoformat(), "details": "Chased the lab"}
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.details, plan.due_date) == ("Chased the lab", long_ago)


def test_second_save_with_a_stale_version_is_refused(client, clinician, other_clinician, plan):
    data = {
        "action_type": "repeat-test",
        "analyte": plan.analyte_id,
        "due_date": (timezone.localdate() + datetime.timedelta(days=30)).isoformat(),
        "owner": clinician.pk,
    }
    client.force_login(other_clinician)
    assert (
        client.post(f"/guidance/plans/{plan.pk}/edit/", {**data, "details": "Carol's", "version": 1}).status_code == 302
    )
    client.force_login(clinician)
    response = client.post(f"/guidance/plans/{plan.pk}/edit/", {**data, "details": "Alice's", "version": 1})
    assert response.status_code == 200
    assert "Carol Clinician changed this plan" in response.content.decode()
    assert "your changes were not saved" in response.content.decode()
    plan.refresh_from_db()
    assert (plan.details, plan.version) == ("Carol's", 2)


# --- the worklist --------------------------------------------------------------------------------


def test_worklist_orders_critical_first_then_oldest_first(clinician_client, record, patient_factory, clinician):
    first = patient_factory(created_by=clinician)
    second = patient_factory(created_by=clinician)
    record(first, {"vitd25": "15"})
    record(second, {"mg": "1.5"})
    record(second, {"k": "6.5"})  # critical, entered last
    done = patient_factory(created_by=clinician)
    record(done, {"ck": "300"})
    services.decide_no_action(Finding.objects.get(patient=done), reason="After a marathon", by=clinician)

    context = clinician_client.get("/").context
    # One row per report: the one with a critical result first, then the oldest collected.
    rows = [(row.panel.patient, [result.analyte.code for result in row.abnormal]) for row in context["reports"]]
    assert rows == [(second, ["k"]), (first, ["vitd25"]), (second, ["mg"])]
    # Recently entered panels, newest first; each links to its patient.
    assert [p.patient for p in context["panels"]] == [done, second, second, first]


def test_plans_toggle_between_mine_and_everyones(client, clinician, other_clinician, finding):
    mine = services.create_plan(
        finding, action_type=ActionType.OTHER, due_date=timezone.localdate(), owner=clinician, by=clinician
    )
    theirs = services.create_plan(
        finding,
        action_type=ActionType.REFERRAL,
        due_date=timezone.localdate() - datetime.timedelta(days=3),
        owner=other_clinician,
        by=clinician,
    )
    services.create_plan(  # not due yet: not on the worklist
        finding,
        action_type=ActionType.DIETARY_ADVICE,
        due_date=timezone.localdate() + datetime.timedelta(days=3),
        owner=clinician,
        by=clinician,
    )
    client.force_login(clinician)
    assert client.get("/").context["plans"] == [mine]
    assert client.get("/?plans=everyone").context["plans"] == [theirs, mine]


def make_data(record, patient_factory, clinician, size):
    """`size` patients, each with a critical, a pattern, an acknowledged finding and a due plan."""
    for _ in range(size):
        patient = patient_factory(created_by=clinician)
        record(patient, {"k": "2.5", "mg": "1.5", "ca": "8.0", "alb": "3.0"})
        finding = Finding.objects.filter(patient=patient, rule__code="calcium-low").get()
        services.create_plan(
            finding, action_type=ActionType.OTHER, due_date=timezone.localdate(), owner=clinician, by=clinician
        )


@pytest.mark.parametrize("size", [1, 6])
def test_worklist_query_count_does_not_grow(
    clinician_client, django_assert_num_queries, record, patient_factory, clinician, size
):
    make_data(record, patient_factory, clinician, size)
    # 1 session, 2 user, 3 the user's own and group permissions (permission_required; one query,
    # config/permissions.py), 4 count of critical findings, 5 count of undecided findings, 6 recent
    # panels with their counts, 7 the review settings (minutes allowed to acknowledge a critical result),
    # 8 the reports with a critical result waiting, 9 the ids of the other reports shown (fewer than ten
    # are critical), 10 the reports shown, 11 their abnormal results, 12 their findings awaiting a
    # decision, 13 those findings' topics' titles, 14 count of the other reports, 15 plans due, 16 the
    # analytes of their findings' results, 17 count of plans due by today, 18 count of plans due later
    # whose repeat result is back, 19 the user's roles for the navigation bar; and around those, the cache
    # (guidance.selectors.worklist_sections): the newest history ids before, the read (a miss) and the
    # write after (count of entries, savepoint, existing key, insert, release). A second look: 6
    # (tests/test_worklist_cache.py). (A plan's own analyte and a repeat result that came back add
    # up to three more: see tests/test_worklist_lists.py.)
    with django_assert_num_queries(19 + 7):
        response = clinician_client.get("/?plans=everyone")
    assert [row.panel.critical_waiting for row in response.context["reports"]] == [True] * size
    # Each report's six findings awaiting a decision: the low magnesium with the critical potassium and
    # the low magnesium (under it), with the low calcium (its plain finding has a plan), the low calcium
    # with the low albumin and the low albumin (under it).
    assert [row.finding_count for row in response.context["reports"]] == [6] * size
    assert [len(row.items) for row in response.context["reports"]] == [3] * size
    assert len(response.context["plans"]) == size


@pytest.mark.parametrize("size", [1, 6])
def test_finding_page_query_count_does_not_grow(
    clinician_client, django_assert_num_queries, record, patient, clinician, size
):
    patient.contributing_factors.set(ContributingFactor.objects.order_by("pk")[:size])
    for day in range(size):  # earlier potassiums, each in a panel of its own (their findings superseded)
        record(patient, {"k": "3.4"}, at=timezone.now() - datetime.timedelta(days=30 + day))
    # The finding's potassium, with one other result in its panel or four.
    others = {"mg": "2.0", "ca": "9.2", "ck": "100", "vitd25": "30"} if size > 1 else {"mg": "2.0"}
    record(patient, {"k": "3.1", **others})
    finding = Finding.objects.get(status=Finding.Status.OPEN)
    for day in range(size):
        services.create_plan(
            finding,
            action_type=ActionType.OTHER,
            due_date=timezone.localdate() + datetime.timedelta(days=day),
            owner=clinician,
            by=clinician,
        )
    # 1 session, 2 user, 3 the user's own and group permissions, 4 the finding with its patient,
    # result, analyte, panel, topic, rule and who decided, 5 its critical call (none), 6 its plans with
    # owners and analytes, 7 the access log insert, 8 the test's last values up to this one, 9 the rest
    # of its panel, 10 the patient's contributing factors, 11 its history with users, 12 the user's roles
    # for the navigation bar. (A partner result, a previous result or a newer one add a query each.)
    with django_assert_num_queries(12):
        response = clinician_client.get(f"/guidance/findings/{finding.pk}/")
    context = response.context
    assert len(context["finding"].plans.all()) == size
    assert len(context["earlier_values"]) == min(size + 1, 5)
    assert len(context["panel_results"]) == len(others)
    assert len(context["factors"]) == size


@pytest.mark.parametrize("size", [1, 6])
def test_patient_findings_selector_is_three_queries(django_assert_num_queries, record, patient, clinician, size):
    for _ in range(size):
        panel = record(patient, {"k": "3.1", "mg": "1.5"})
        # Planned before the next panel's potassium comes, which would supersede it undecided.
        finding = Finding.objects.get(rule__code="potassium-low", result__panel=panel)
        services.create_plan(
            finding, action_type=ActionType.OTHER, due_date=timezone.localdate(), owner=clinician, by=clinician
        )
    # 1 the findings with their results and analytes, 2 their topics' titles, 3 their plans with owners
    # and analytes. Rendering the include adds none (the plans' and topics' fields it shows are loaded).
    with django_assert_num_queries(3):
        findings, _ = selectors.patient_findings(patient, everything=True)
        html = render_to_string("guidance/includes/patient_findings.html", {"findings": findings})
    assert len(findings) == 3 * size
    assert html.count("Repeat test") + html.count("<strong>Other</strong>") == size


def test_patient_findings_of_every_kind_render_from_the_columns_read(django_assert_num_queries, record, patient):
    """The list reads only the columns it shows: a delta finding (the previous value) and a pattern (the
    partner's analyte) render with no query of their own."""
    record(patient, {"k": "3.6"}, at=timezone.now() - datetime.timedelta(days=3))
    record(patient, {"k": "5.1"}, at=timezone.now() - datetime.timedelta(days=1))  # a delta finding
    record(patient, {"k": "3.1", "mg": "1.5"})  # a pattern of the two
    with django_assert_num_queries(3):
        findings, _ = selectors.patient_findings(patient, everything=True)
        html = " ".join(render_to_string("guidance/includes/patient_findings.html", {"findings": findings}).split())
    assert "Potassium: large change since the previous result (delta check)" in html
    assert "from 3.6 on" in html
    assert "pattern with potassium" in html


def test_patient_findings_lists_undecided_first(record, patient, clinician):
    record(patient, {"k": "3.1"})
    record(patient, {"mg": "1.5"})
    services.decide_no_action(Finding.objects.get(rule__code="magnesium-low"), reason="Known", by=clinician)
    record(patient, {"k": "2.5"})
    findings, _ = selectors.patient_findings(patient)
    statuses = [(f.result.analyte.code, f.status, f.critical, f.delta_rule_id is not None) for f in findings]
    # The critical potassium superseded the earlier one, which no longer needs a decision of its own;
    # potassium 3.1 → 2.5 is also a change beyond its delta rule (−19 %): a finding of its own.
    assert statuses == [
        ("k", "open", True, False),
        ("k", "open", False, True),
        ("mg", "no-action", False, False),
        ("k", "superseded", False, False),
    ]


def test_patient_findings_include_renders(clinician_client, record, patient):
    record(patient, {"mg": "1.5", "k": "3.1"})
    html = render_to_string(
        "guidance/includes/patient_findings.html", {"findings": selectors.patient_findings(patient)[0]}
    )
    assert html.count('href="/guidance/magnesium-deficiency/"') == 2
    assert "correct magnesium first" in html


# --- explanations ------------------------------------------------------------------------------


def test_index_lists_active_topics(clinician_client):
    Topic.objects.filter(slug="raised-ck").update(active=False)
    response = clinician_client.get("/guidance/")
    assert [t.slug for t in response.context["topics"]] == sorted(
        [
            "vitamin-d-deficiency",
            "magnesium-deficiency",
            "low-calcium",
            "potassium-imbalance",
            "carnitine-deficiency",
            "vitamin-e-deficiency",
            "delta-check",
        ],
        key=lambda slug: Topic.objects.get(slug=slug).title,
    )
    assert clinician_client.get("/guidance/raised-ck/").status_code == 404


def test_explanation_page_shows_every_section_and_sources(clinician_client):
    topic = Topic.objects.get(slug="raised-ck")
    response = clinician_client.get(reverse("guidance:topic", args=["raised-ck"]))
    html = response.content.decode()
    for heading in [
        "What it is",
        "Muscle symptoms",
        "Other symptoms",
        "How it affects muscle",
        "Common causes and contributing factors",
        "What to check next",
        "Management options to discuss",
        "When to escalate",
        "Sources",
    ]:
        assert f'<h2 class="h5">{heading}</h2>' in html
    assert topic.title in html
    assert "does not replace clinical judgement" in html


def test_topic_markdown_is_sanitised(admin_client_):
    Topic.objects.filter(slug="low-calcium").update(
        what_it_is=(
            "**Bold** and a [good link](https://example.org).\n\n<script>alert('x')</script>\n\n"
            '<img src="x" onerror="alert(1)">\n\n[bad link](javascript:alert(1))\n\n<a href="javascript:alert(2)">raw</a>'
        )
    )
    html = admin_client_.get("/guidance/low-calcium/").content.decode()
    assert "<strong>Bold</strong>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">good link</a>' in html
    assert "<script>alert" not in html
    assert "onerror" not in html
    assert "javascript:" not in html


def test_the_finding_page_shows_its_result_in_context(clinician_client, record, patient):
    patient.contributing_factors.set(ContributingFactor.objects.filter(code__in=["diuretic", "ckd"]))
    now = timezone.now()
    for days_ago, value in [(90, "4.0"), (60, "3.4"), (30, "3.3")]:
        record(patient, {"k": value}, at=now - datetime.timedelta(days=days_ago))
    record(patient, {"k": "3.1", "mg": "2.0"}, at=now - datetime.timedelta(days=1))
    record(patient, {"k": "3.9"}, at=now)  # newer: not among the values up to this one
    finding = Finding.objects.get(result__value=Decimal("3.1"))
    html = " ".join(clinician_client.get(finding.get_absolute_url()).content.decode().split())
    assert "Potassium: the last 4 values to this one" in html
    for days_ago, value, flag in [(1, "3.1", "Low"), (30, "3.3", "Low"), (60, "3.4", "Low"), (90, "4.0", "Normal")]:
        date = f"{timezone.localtime(now - datetime.timedelta(days=days_ago)):%-d %b %Y}"
        assert f'{date}</span> <span class="value-flag">{value} mmol/L <span class="badge' in html
        assert f">{flag}</span>" in html
    assert "<em>(this result)</em>" in html
    assert "3.9 mmol/L" not in html.split("The rest of the panel")[0].split("In context")[1]
    assert 'Magnesium <span class="value-flag">2.00 mg/dL' in html
    assert 'Contributing factors recorded for the patient</h3> <p class="small mb-0">' in html
    assert "Chronic kidney disease" in html and "Diuretic use" in html
