"""The message log and the queue: who may see and act, what a clinician's match, reprocess and reject do,
and that every read of a message is in the access log."""

import datetime

import pytest

from interfaces.models import CodeMapping, InboundMessage
from interfaces.services import receive
from labs.models import AnalyteUnit, Result
from patients.models import AccessLogEntry, Patient

from .factories import UserFactory

Status = InboundMessage.Status
pytestmark = pytest.mark.django_db


def oru(control, *, mrn="MRN-77", unit="mmol/L", code="2823-3^Potassium^LN", value="3.0"):
    return (
        f"MSH|^~\\&|LIS|LABX|MYOLAB|CLINIC|202401151000||ORU^R01|{control}|P|2.5.1\r"
        f"PID|1||{mrn}^^^CLINIC^MR||Doe^Jane||19600501|F\r"
        f"OBR|1||ACC-{control}^LABX|CHEM|||202401150830\r"
        f"OBX|1|NM|{code}||{value}|{unit}|3.5-5.1|L|||F\r"
        "NTE|1||Sample slightly haemolysed\r"
    )


@pytest.fixture
def jane(patient_factory, clinician):
    return patient_factory(
        mrn="MRN-77", date_of_birth=datetime.date(1960, 5, 1), sex=Patient.Sex.FEMALE, created_by=clinician
    )


@pytest.fixture
def held(jane):
    """A message for an MRN this clinic does not know: held in the queue."""
    return receive(oru("H-1", mrn="LAB-0042"), channel=InboundMessage.Channel.MLLP).message


@pytest.fixture
def imported(jane):
    return receive(oru("I-1"), channel=InboundMessage.Channel.MLLP).message


# --- who may do what ------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(client, held):
    for url in ["/lab-messages/", f"/lab-messages/{held.pk}/"]:
        response = client.get(url)
        assert (response.status_code, response["Location"].split("?")[0]) == (302, "/login/")


def test_a_user_without_a_role_is_refused(client, held):
    client.force_login(UserFactory())
    assert client.get("/lab-messages/").status_code == 403
    assert client.get(f"/lab-messages/{held.pk}/").status_code == 403
    assert client.post(f"/lab-messages/{held.pk}/reject/", {"reason": "x"}).status_code == 403
    assert not AccessLogEntry.objects.exists()


def test_clinicians_and_administrators_read_the_log(clinician_client, admin_client_, held):
    for client in (clinician_client, admin_client_):
        response = client.get("/lab-messages/?status=queue")
        assert response.status_code == 200
        assert [m.pk for m in response.context["page"].object_list] == [held.pk]


def test_administrators_read_a_message_but_do_not_file_or_reject_it(admin_client_, held, jane):
    page = admin_client_.get(f"/lab-messages/{held.pk}/")
    assert page.status_code == 200
    assert not page.context["can_act"]
    assert admin_client_.post(f"/lab-messages/{held.pk}/match/", {"mrn": "MRN-77", "note": "x"}).status_code == 403
    assert admin_client_.post(f"/lab-messages/{held.pk}/reject/", {"reason": "x"}).status_code == 403
    assert admin_client_.post(f"/lab-messages/{held.pk}/reprocess/").status_code == 403
    held.refresh_from_db()
    assert held.status == Status.HELD


# --- the pages ------------------------------------------------------------------------------------


def test_a_message_page_shows_the_reasons_the_ack_the_raw_text_and_the_patient_as_sent(clinician_client, held):
    response = clinician_client.get(f"/lab-messages/{held.pk}/")
    text = response.content.decode()
    assert "No patient has the MRN LAB-0042 (PID-3): match it to a patient or register one." in text
    assert "MSA|AE|H-1|Held for review" in text
    assert "OBX|1|NM|2823-3^Potassium^LN||3.0|mmol/L|3.5-5.1|L|||F" in text
    assert "Jane Doe, born 19600501, sex F; identifiers LAB-0042 (CLINIC)" in text
    assert response.context["can_act"]


def test_an_imported_message_shows_the_laboratorys_range_flag_and_notes(clinician_client, imported):
    response = clinician_client.get(f"/lab-messages/{imported.pk}/")
    row = response.context["imported"][0]
    assert (row.lab_range, row.lab_flag, row.notes, row.action) == (
        "3.5-5.1",
        "L",
        "Sample slightly haemolysed",
        "created",
    )
    assert not response.context["can_act"]  # nothing left to do


def test_every_read_of_a_message_is_logged_with_its_patient_or_none(clinician_client, clinician, held, imported):
    clinician_client.get(f"/lab-messages/{held.pk}/")
    clinician_client.get(f"/lab-messages/{imported.pk}/")
    logged = list(AccessLogEntry.objects.order_by("id").values_list("user", "patient__mrn", "what", "path"))
    assert logged == [
        (clinician.pk, None, "lab-message", f"/lab-messages/{held.pk}/"),
        (clinician.pk, "MRN-77", "lab-message", f"/lab-messages/{imported.pk}/"),
    ]


def test_filters(clinician_client, held, imported):
    def shown(query):
        return [m.pk for m in clinician_client.get(f"/lab-messages/?{query}").context["page"].object_list]

    assert shown("") == [imported.pk, held.pk]
    assert shown("status=imported") == [imported.pk]
    assert shown("q=H-1") == [held.pk]
    assert shown("q=mrn-77") == [imported.pk]
    assert shown("facility=labx") == [imported.pk, held.pk]
    assert shown("facility=OTHER") == []


def test_the_list_query_count_does_not_grow(clinician_client, jane, django_assert_num_queries):
    for n in range(3):
        receive(oru(f"Q-{n}"), channel=InboundMessage.Channel.MLLP)
    # session, user, permissions (one query), count, the page of messages with their
    # patients, user's groups (the role in the navigation).
    with django_assert_num_queries(6):
        clinician_client.get("/lab-messages/")
    for n in range(3, 30):
        receive(oru(f"Q-{n}"), channel=InboundMessage.Channel.MLLP)
    with django_assert_num_queries(6):
        clinician_client.get("/lab-messages/")


# --- acting on the queue --------------------------------------------------------------------------


def test_a_clinician_matches_a_held_message_and_it_imports(clinician_client, clinician, held, jane):
    response = clinician_client.post(
        f"/lab-messages/{held.pk}/match/", {"mrn": "mrn-77", "note": "The lab used its own number; DOB checked."}
    )
    assert response.status_code == 302
    held.refresh_from_db()
    assert (held.status, held.patient, held.results_created, held.reviewed_by) == (Status.IMPORTED, jane, 1, clinician)
    assert held.ack_code == "AE"  # what the laboratory was answered stays on record
    assert held.review_note == "Matched to MRN-77: The lab used its own number; DOB checked."
    assert Result.objects.get().patient == jane
    assert Result.objects.get().updated_by == clinician


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        (
            {"mrn": "NOPE-1", "note": "x"},
            "mrn",
            "No patient has the MRN 'NOPE-1'. Register the patient first, then match the message.",
        ),
        ({"mrn": "MRN-77", "note": ""}, "note", "This field is required."),
    ],
)
def test_a_match_needs_a_known_patient_and_a_reason(clinician_client, held, jane, data, field, error):
    response = clinician_client.post(f"/lab-messages/{held.pk}/match/", data)
    assert response.status_code == 400
    assert response.context["match_form"].errors[field] == [error]
    held.refresh_from_db()
    assert held.status == Status.HELD
    assert not Result.objects.exists()


def test_a_deactivated_patient_cannot_be_matched(clinician_client, held, jane):
    Patient.objects.filter(pk=jane.pk).update(is_active=False)
    response = clinician_client.post(f"/lab-messages/{held.pk}/match/", {"mrn": "MRN-77", "note": "x"})
    assert response.context["match_form"].errors["mrn"] == [
        "Patient MRN-77 is deactivated: results are not filed for them."
    ]


def test_a_rejection_keeps_the_reason_and_imports_nothing(clinician_client, clinician, held):
    assert clinician_client.post(f"/lab-messages/{held.pk}/reject/", {"reason": ""}).status_code == 400
    response = clinician_client.post(f"/lab-messages/{held.pk}/reject/", {"reason": "Not our patient."})
    assert response.status_code == 302
    held.refresh_from_db()
    assert (held.status, held.review_note, held.reviewed_by) == (
        Status.REJECTED,
        "Rejected: Not our patient.",
        clinician,
    )
    # A rejected message is closed: it cannot be matched afterwards.
    again = clinician_client.post(f"/lab-messages/{held.pk}/reject/", {"reason": "again"})
    assert again.context["reject_form"].non_field_errors() == [
        "This message is rejected: only a held message or one in error can be matched, reprocessed or rejected."
    ]


def test_a_message_held_for_its_unit_imports_when_reprocessed_after_the_unit_is_added(clinician_client, jane, analytes):
    message = receive(oru("U-1", unit="mmol/kg"), channel=InboundMessage.Channel.MLLP).message
    assert message.status == Status.HELD
    AnalyteUnit.objects.create(analyte=analytes["k"], unit="mmol/kg", factor=1)
    clinician_client.post(f"/lab-messages/{message.pk}/reprocess/")
    message.refresh_from_db()
    assert (message.status, message.results_created) == (Status.IMPORTED, 1)


def test_a_local_code_mapped_afterwards_imports_on_reprocessing_an_erroneous_message(clinician_client, jane, analytes):
    # A deactivated patient puts the message in error; once reactivated, it can be processed again.
    Patient.objects.filter(pk=jane.pk).update(is_active=False)
    message = receive(oru("L-1", code="KAL^Kalium^L"), channel=InboundMessage.Channel.MLLP).message
    assert message.status == Status.SKIPPED  # an unmapped local code is skipped before the patient is checked
    CodeMapping.objects.create(sending_facility="LABX", code="KAL", analyte=analytes["k"])
    second = receive(oru("L-2", code="KAL^Kalium^L"), channel=InboundMessage.Channel.MLLP).message
    assert second.status == Status.ERROR
    Patient.objects.filter(pk=jane.pk).update(is_active=True)
    clinician_client.post(f"/lab-messages/{second.pk}/reprocess/")
    second.refresh_from_db()
    assert second.status == Status.IMPORTED
