"""A newer valid result of the same test supersedes an older finding still awaiting a decision: the
finding leaves the worklist with the reason and a link to the newer result; a critical result not yet
acknowledged never does; withdrawing the newer result brings the finding back."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections, transaction
from django.utils import timezone

from guidance import services
from guidance.models import ActionType, Finding, FollowUpPlan
from labs.models import Result

from .recording import PHONED

pytestmark = pytest.mark.django_db

JUNE = timezone.make_aware(datetime.datetime(2026, 6, 1, 9))
NOVEMBER = timezone.make_aware(datetime.datetime(2026, 11, 1, 9))
DECEMBER = timezone.make_aware(datetime.datetime(2026, 12, 1, 9))

Status = Finding.Status


def acknowledge(finding, clinician):
    services.acknowledge(finding, comment="Phoned the patient", call=PHONED, by=clinician)


def decide(finding, clinician):
    services.decide_no_action(finding, reason="Known and stable", by=clinician)


def plan(finding, clinician):
    # Not a repeat test, which the newer result would meet (a change of the plan of its own).
    services.create_plan(
        finding,
        action_type=ActionType.MEDICATION_REVIEW,
        due_date=datetime.date(2026, 12, 1),
        owner=clinician,
        by=clinician,
    )


def nothing(finding, clinician):
    pass


# (case, June's values, what happens to June's potassium finding, November's values, its status after)
CASES = [
    ("open, newer low", {"k": "3.1"}, nothing, {"k": "3.2"}, Status.SUPERSEDED),
    ("open, newer normal", {"k": "3.1"}, nothing, {"k": "4.1"}, Status.SUPERSEDED),
    ("acknowledged", {"k": "3.1"}, acknowledge, {"k": "3.2"}, Status.SUPERSEDED),
    ("critical, not acknowledged", {"k": "6.6"}, nothing, {"k": "4.1"}, Status.OPEN),
    ("critical, acknowledged", {"k": "6.6"}, acknowledge, {"k": "4.1"}, Status.SUPERSEDED),
    ("decided: no action", {"k": "3.1"}, decide, {"k": "3.2"}, Status.NO_ACTION),
    ("decided: follow-up planned", {"k": "3.1"}, plan, {"k": "3.2"}, Status.FOLLOW_UP_PLANNED),
    ("another test", {"k": "3.1"}, nothing, {"mg": "1.5"}, Status.OPEN),
]


@pytest.mark.parametrize("case, june, before, november, expected", CASES, ids=[case[0] for case in CASES])
def test_a_newer_result_of_the_same_test_supersedes_an_undecided_finding(
    record, patient, clinician, case, june, before, november, expected
):
    record(patient, june, at=JUNE)
    older = Finding.objects.get(rule__analyte__code="k")
    before(older, clinician)
    plans_before = list(FollowUpPlan.objects.values_list("pk", "status", "version"))
    record(patient, november, at=NOVEMBER)

    older.refresh_from_db()
    assert older.status == expected
    assert list(FollowUpPlan.objects.values_list("pk", "status", "version")) == plans_before
    if expected == Status.SUPERSEDED:
        newer = Result.objects.get(collected_at=NOVEMBER, analyte__code="k")
        assert older.superseded_by == newer
        newest = older.history.order_by("-history_id").first()
        assert (newest.status, newest.history_change_reason, newest.history_user) == (
            "superseded",
            "superseded by a newer result of the same test",
            clinician,
        )
        assert older not in Finding.objects.awaiting_decision()


def test_another_patients_result_supersedes_nothing(record, patient, patient_factory, clinician):
    record(patient, {"k": "3.1"}, at=JUNE)
    record(patient_factory(created_by=clinician), {"k": "3.2"}, at=NOVEMBER)
    assert Finding.objects.get(patient=patient).status == Status.OPEN


def test_a_result_entered_late_with_an_earlier_date_is_superseded_at_once(record, patient):
    record(patient, {"k": "3.2"}, at=NOVEMBER)
    record(patient, {"k": "3.1"}, at=JUNE)  # the June report reaches the clinic after November's
    june, november = (Finding.objects.get(result__collected_at=at) for at in (JUNE, NOVEMBER))
    assert (june.status, june.superseded_by_id) == (Status.SUPERSEDED, november.result_id)
    assert november.status == Status.OPEN


# (case, what happened to June's finding before November's result came, its status after the withdrawal)
WITHDRAWALS = [
    ("was open", nothing, Status.OPEN),
    ("was acknowledged", acknowledge, Status.ACKNOWLEDGED),
]


@pytest.mark.parametrize("case, before, expected", WITHDRAWALS, ids=[case[0] for case in WITHDRAWALS])
def test_withdrawing_the_newer_result_brings_the_superseded_finding_back(
    record, patient, clinician, other_clinician, case, before, expected
):
    record(patient, {"k": "3.1"}, at=JUNE)
    older = Finding.objects.get()
    before(older, clinician)
    record(patient, {"k": "3.2"}, at=NOVEMBER)
    newer = Result.objects.get(collected_at=NOVEMBER)
    services.mark_entered_in_error(newer, reason="Wrong patient", by=other_clinician)

    older.refresh_from_db()
    assert (older.status, older.superseded_by, older.superseded_at) == (expected, None, None)
    assert older in Finding.objects.awaiting_decision()
    newest = older.history.order_by("-history_id").first()
    assert (newest.history_change_reason, newest.history_user) == (
        "the newer result was entered in error: awaiting a decision again",
        other_clinician,
    )


def test_withdrawing_the_result_in_between_links_the_next_newer_one(record, patient, clinician):
    for at, value in [(JUNE, "3.1"), (NOVEMBER, "3.2"), (DECEMBER, "3.3")]:
        record(patient, {"k": value}, at=at)
    june, november = (Finding.objects.get(result__collected_at=at) for at in (JUNE, NOVEMBER))
    assert june.superseded_by == november.result
    services.mark_entered_in_error(november.result, reason="Haemolysed sample", by=clinician)

    june.refresh_from_db()
    assert june.status == Status.SUPERSEDED
    assert june.superseded_by == Result.objects.get(collected_at=DECEMBER)


def test_a_correction_that_opens_a_finding_on_an_older_result_supersedes_it(record, patient, clinician):
    record(patient, {"k": "4.1"}, at=JUNE)
    record(patient, {"k": "4.2"}, at=NOVEMBER)
    june = Result.objects.get(collected_at=JUNE)
    services.correct_result(
        june, value=Decimal("3.1"), unit=june.analyte.units.get(unit="mmol/L"), reason="Typo", by=clinician
    )
    finding = Finding.objects.get()
    assert (finding.status, finding.superseded_by) == (Status.SUPERSEDED, Result.objects.get(collected_at=NOVEMBER))


@pytest.mark.parametrize(
    "decide_on",
    [
        lambda finding, by: services.acknowledge(finding, comment="Seen", by=by),
        lambda finding, by: services.decide_no_action(finding, reason="Stable", by=by),
        lambda finding, by: services.create_plan(
            finding, action_type=ActionType.OTHER, due_date=datetime.date(2026, 12, 1), owner=by, by=by
        ),
    ],
    ids=["acknowledge", "no action", "plan"],
)
def test_a_superseded_finding_takes_no_review(record, patient, clinician, decide_on):
    record(patient, {"k": "3.1"}, at=JUNE)
    record(patient, {"k": "3.2"}, at=NOVEMBER)
    older = Finding.objects.get(result__collected_at=JUNE)
    with pytest.raises(ValidationError, match="superseded by a newer result"):
        decide_on(older, clinician)
    older.refresh_from_db()
    assert (older.status, older.acknowledged_at, older.decided_at) == (Status.SUPERSEDED, None, None)
    assert not FollowUpPlan.objects.exists()


def test_the_finding_page_names_the_newer_result(clinician_client, record, patient):
    record(patient, {"k": "3.1"}, at=JUNE)
    record(patient, {"k": "3.2"}, at=NOVEMBER)
    older = Finding.objects.get(result__collected_at=JUNE)
    html = clinician_client.get(older.get_absolute_url()).content.decode()
    assert "Superseded by a newer result" in html
    newer = Result.objects.get(collected_at=NOVEMBER)
    assert f'href="/results/{newer.pk}/history/"' in html
    assert "1 Nov 2026 09:00" in html
    # Nothing left to review on it.
    assert "Acknowledge" not in html


@pytest.mark.parametrize(
    "action, data",
    [("acknowledge", {"comment": "Seen"}), ("no-action", {"reason": "Known"})],
)
def test_reviewing_a_superseded_finding_in_the_browser_is_refused_with_the_reason(
    clinician_client, record, patient, action, data
):
    record(patient, {"k": "3.1"}, at=JUNE)
    record(patient, {"k": "3.2"}, at=NOVEMBER)
    older = Finding.objects.get(result__collected_at=JUNE)
    response = clinician_client.post(f"{older.get_absolute_url()}{action}/", data)
    assert response.status_code == 200
    assert (
        "Nothing was saved. This finding is already superseded by a newer result; nothing was changed."
        in response.content.decode()
    )
    older.refresh_from_db()
    assert (older.status, older.acknowledged_at, older.decided_at) == (Status.SUPERSEDED, None, None)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_save_locks_the_findings_it_may_supersede_until_it_commits(record, patient):
    # So a clinician's decision on an older finding, taken meanwhile, waits for the save (and one taken
    # first is seen by it): guidance.services._bring_superseding_in_line reads them FOR UPDATE. A critical
    # potassium not acknowledged is read and left as it is, so only that read can hold its lock.
    record(patient, {"k": "6.6"}, at=JUNE)
    older = Finding.objects.get(rule__analyte__code="k", critical=True)
    if connection.vendor != "postgresql":
        # The embedded database lets one writer in at a time (transaction_mode IMMEDIATE): no row to lock.
        assert not connection.features.has_select_for_update_of
        return
    another_request = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with transaction.atomic():
            record(patient, {"k": "4.1"}, at=NOVEMBER)  # not committed yet
            with pytest.raises(OperationalError, match="could not obtain lock"), another_request.cursor() as cursor:
                cursor.execute("SELECT id FROM guidance_finding WHERE id = %s FOR UPDATE NOWAIT", [older.pk])
        with another_request.cursor() as cursor:  # committed: the lock is gone, the finding still open
            cursor.execute("SELECT status FROM guidance_finding WHERE id = %s FOR UPDATE NOWAIT", [older.pk])
            assert cursor.fetchone() == (Status.OPEN,)
    finally:
        another_request.close()
