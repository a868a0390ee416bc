"""The admin for guidance: administrators edit topics and rules (with history), see findings and plans
read only, and nobody deletes anything."""

import pytest

from guidance.models import Finding, Rule, Topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def finding(record, patient):
    record(patient, {"k": ("3.1", "mmol/L")})
    return Finding.objects.get()


def test_administrator_edits_a_topic_and_it_keeps_history(admin_client_, administrator):
    topic = Topic.objects.get(slug="raised-ck")
    url = f"/admin/guidance/topic/{topic.pk}/change/"
    assert admin_client_.get(url).status_code == 200
    data = {name: getattr(topic, name) for name in ["title", "slug", "summary"] + [n for n, _ in Topic.SECTIONS]}
    response = admin_client_.post(url, {**data, "active": "on", "summary": "Edited summary."})
    assert response.status_code == 302
    topic.refresh_from_db()
    assert (topic.summary, topic.updated_by) == ("Edited summary.", administrator)
    latest = topic.history.latest()
    assert (latest.summary, latest.history_user) == ("Edited summary.", administrator)
    assert admin_client_.get(f"/admin/guidance/topic/{topic.pk}/history/").status_code == 200


def test_administrator_opens_rules_and_cannot_delete(admin_client_):
    rule = Rule.objects.get(code="ck-over-10x")
    assert admin_client_.get("/admin/guidance/rule/").status_code == 200
    assert admin_client_.get(f"/admin/guidance/rule/{rule.pk}/change/").status_code == 200
    assert admin_client_.get(f"/admin/guidance/rule/{rule.pk}/delete/").status_code == 403


def test_findings_and_plans_are_read_only_in_the_admin(admin_client_, finding):
    assert admin_client_.get("/admin/guidance/finding/").status_code == 200
    response = admin_client_.get(f"/admin/guidance/finding/{finding.pk}/change/")
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert admin_client_.get(f"/admin/guidance/finding/{finding.pk}/history/").status_code == 200
    assert admin_client_.get("/admin/guidance/finding/add/").status_code == 403
    assert admin_client_.get("/admin/guidance/followupplan/").status_code == 200


def test_clinician_cannot_edit_guidance_content(clinician_client):
    # Clinicians are not staff: the admin sends them to its login page.
    response = clinician_client.get("/admin/guidance/topic/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    "role_fixture, allowed, refused",
    [
        (
            "clinician",
            ["guidance.change_finding", "guidance.add_followupplan", "guidance.view_rule"],
            ["guidance.change_topic", "guidance.change_rule"],
        ),
        (
            "administrator",
            ["guidance.change_topic", "guidance.add_rule", "guidance.view_finding"],
            ["guidance.change_finding", "guidance.add_followupplan"],
        ),
    ],
)
def test_roles_carry_the_guidance_permissions(request, role_fixture, allowed, refused):
    user = request.getfixturevalue(role_fixture)
    assert all(user.has_perm(perm) for perm in allowed)
    assert not any(user.has_perm(perm) for perm in refused)
