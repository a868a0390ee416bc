"""Critical results are communicated and the communication recorded (The Joint Commission, NPSG.02.03.01):
acknowledging one records who was told, how, when and that the value was read back; it shows in the
finding's history and the summary export; a critical result not acknowledged within the time an
administrator sets is overdue on the worklist."""

import datetime
import io

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from pypdf import PdfReader

from guidance import services
from guidance.models import CriticalCall, Finding, ReviewSettings

from .recording import PHONED

pytestmark = pytest.mark.django_db

TOLD_AT = timezone.make_aware(datetime.datetime(2026, 11, 30, 10, 5))


@pytest.fixture
def critical(record, patient):
    record(patient, {"k": "6.6"})
    return Finding.objects.get()


def test_acknowledging_a_critical_result_records_its_communication(critical, clinician):
    call = {"told": "Dr A. Patel, on-call GP", "method": "phone", "told_at": TOLD_AT, "read_back": True}
    services.acknowledge(critical, comment="Repeat today", call=call, by=clinician)
    record = CriticalCall.objects.get()
    assert (record.finding, record.told, record.method, record.told_at, record.read_back, record.recorded_by) == (
        critical,
        "Dr A. Patel, on-call GP",
        "phone",
        TOLD_AT,
        True,
        clinician,
    )
    assert list(record.history.values_list("history_type", "history_change_reason", "history_user")) == [
        ("+", "critical result communicated", clinician.pk)
    ]
    assert record.description == (
        "Potassium 6.6 mmol/L (critically high), collected "
        f"{timezone.localtime(critical.result.collected_at):%d %b %Y %H:%M}: told Dr A. Patel, on-call GP (phone) "
        "on 30 Nov 2026 10:05, value read back; recorded by Alice Clinician."
    )


def test_a_written_message_needs_no_read_back(critical, clinician):
    call = {"told": "Ward 4 nurse in charge", "method": "message", "told_at": TOLD_AT, "read_back": False}
    services.acknowledge(critical, comment="Sent by secure message", call=call, by=clinician)
    assert CriticalCall.objects.get().read_back is False


# (what is wrong, the call, the field refused, its message)
REFUSED = [
    ("no call at all", None, "told", "A critical result: say who was told it (name and role)."),
    ("nobody named", {**PHONED, "told": "  "}, "told", "A critical result: say who was told it (name and role)."),
    ("no how", {**PHONED, "method": ""}, "method", "A critical result: say how they were told"),
    ("phone, not read back", {**PHONED, "read_back": False}, "read_back", "is read back by whoever took it"),
    (
        "in person, not read back",
        {**PHONED, "method": "in-person", "read_back": False},
        "read_back",
        "is read back by whoever took it",
    ),
    ("unknown how", {**PHONED, "method": "pigeon"}, "method", "is not a valid choice"),
    (
        "in the future",
        {**PHONED, "told_at": "two hours from now"},
        "told_at",
        "cannot be in the future",
    ),
]


@pytest.mark.parametrize("case, call, field, message", REFUSED, ids=[case[0] for case in REFUSED])
def test_a_bad_communication_record_is_refused_and_nothing_changes(critical, clinician, case, call, field, message):
    if call and call["told_at"] == "two hours from now":  # from when the test runs
        call = {**call, "told_at": timezone.now() + datetime.timedelta(hours=2)}
    with pytest.raises(ValidationError) as refused:
        services.acknowledge(critical, comment="Seen", call=call, by=clinician)
    assert message in " ".join(refused.value.message_dict[field])
    critical.refresh_from_db()
    assert (critical.status, critical.acknowledged_at) == (Finding.Status.OPEN, None)
    assert not CriticalCall.objects.exists()


def test_acknowledging_a_report_records_the_call_for_each_critical_result(record, patient, clinician):
    panel = record(patient, {"k": "6.6", "ck": "300", "mg": "0.8"})  # critical potassium and magnesium
    services.acknowledge_report(panel, comment="Phoned", call=PHONED, by=clinician)
    assert sorted(CriticalCall.objects.values_list("finding__result__analyte__code", flat=True)) == ["k", "mg"]
    assert set(Finding.objects.values_list("status", flat=True)) == {"acknowledged"}


def test_the_finding_page_asks_for_the_call_and_shows_it(clinician_client, critical):
    url = critical.get_absolute_url()
    html = clinician_client.get(url).content.decode()
    for name, label in [("told", "Who was told"), ("told_at", "When")]:
        assert f'for="id_{name}" class="form-label requiredField">\n                {label}<span' in html
    assert 'name="method" value="phone"' in html and 'name="method" value="in-person"' in html
    assert 'name="read_back"' in html and "Value read back" in html
    response = clinician_client.post(
        f"{url}acknowledge/",
        {"comment": "Repeat today", "told": "Dr A. Patel", "method": "phone", "told_at": "2026-11-30T10:05"},
    )
    assert response.status_code == 200
    assert response.context["acknowledge_form"].errors["read_back"] == [
        "A critical result told by phone or in person is read back by whoever took it (NPSG.02.03.01): "
        "tick 'Value read back' once they have."
    ]
    assert not CriticalCall.objects.exists()
    response = clinician_client.post(
        f"{url}acknowledge/",
        {
            "comment": "Repeat today",
            "told": "Dr A. Patel",
            "method": "phone",
            "told_at": "2026-11-30T10:05",
            "read_back": "on",
        },
    )
    assert response.status_code == 302
    html = clinician_client.get(url).content.decode()
    assert "Critical result communicated: told Dr A. Patel (phone) on 30 Nov 2026 10:05; value read back." in html


def test_the_summary_and_its_pdf_show_the_call(clinician_client, critical, clinician, patient):
    call = {"told": "Dr A. Patel, on-call GP", "method": "phone", "told_at": TOLD_AT, "read_back": True}
    services.acknowledge(critical, comment="Repeat today", call=call, by=clinician)
    line = CriticalCall.objects.get().description
    html = clinician_client.get(f"/patients/{patient.pk}/summary/").content.decode()
    assert "Critical results communicated (last 90 days)" in html
    assert line in html
    pdf = clinician_client.get(f"/patients/{patient.pk}/summary.pdf").content
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())
    assert "told Dr A. Patel, on-call GP (phone) on 30 Nov 2026 10:05, value read back" in text


# --- overdue on the worklist ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "minutes_allowed, waited, overdue",
    [(60, 59, False), (60, 61, True), (30, 31, True), (90, 61, False)],
)
def test_a_critical_result_not_acknowledged_in_time_is_overdue(
    clinician_client, critical, minutes_allowed, waited, overdue
):
    ReviewSettings.objects.filter(pk=1).update(critical_call_minutes=minutes_allowed)
    Finding.objects.filter(pk=critical.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=waited))
    response = clinician_client.get("/")
    assert [row.overdue for row in response.context["reports"]] == [overdue]
    assert ("Overdue: waiting since" in response.content.decode()) is overdue


def test_an_acknowledged_critical_result_is_not_overdue(clinician_client, critical, clinician):
    Finding.objects.filter(pk=critical.pk).update(created_at=timezone.now() - datetime.timedelta(hours=3))
    services.acknowledge(critical, comment="Seen", call=PHONED, by=clinician)
    assert [row.overdue for row in clinician_client.get("/").context["reports"]] == [False]


def test_the_default_time_is_sixty_minutes_and_an_administrator_sets_it(client, administrator, clinician):
    assert ReviewSettings.current().critical_call_minutes == 60
    client.force_login(administrator)
    response = client.get("/admin/guidance/reviewsettings/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/guidance/reviewsettings/1/change/"
    page = client.get(response["Location"]).content.decode()
    assert "NPSG.02.03.01" in page
    assert client.post("/admin/guidance/reviewsettings/1/change/", {"critical_call_minutes": "0"}).status_code == 200
    assert ReviewSettings.current().critical_call_minutes == 60  # refused: at least one minute
    client.post("/admin/guidance/reviewsettings/1/change/", {"critical_call_minutes": "30"})
    assert ReviewSettings.current().critical_call_minutes == 30
    client.force_login(clinician)
    assert client.get("/admin/guidance/reviewsettings/1/change/").status_code == 302  # not staff: to the login
