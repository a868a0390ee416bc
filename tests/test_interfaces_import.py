"""Importing HL7 v2 ORU^R01 messages: every sample in tests/data/hl7/, then each rule of the mapping
and each kind of bad input on a small message built here."""

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from guidance.models import Finding
from interfaces.models import CodeMapping, ImportedResult, InboundMessage
from interfaces.services import receive
from labs.models import Panel, Result
from patients.models import Patient

SAMPLES = Path(__file__).parent / "data" / "hl7"
Status = InboundMessage.Status
pytestmark = pytest.mark.django_db


def sample(name):
    return (SAMPLES / name).read_bytes()


def receive_upload(raw):
    return receive(raw, channel=InboundMessage.Channel.UPLOAD)


def msa(ack):
    """The MSA segment's fields of an acknowledgement."""
    return next(s for s in ack.split("\r") if s.startswith("MSA")).split("|")


# --- the samples ---------------------------------------------------------------------------------


@pytest.fixture
def sample_patients(patient_factory, clinician):
    """The patients the samples name, as this clinic registered them."""
    return {
        "nextlevelseven": patient_factory(
            mrn="002993817", date_of_birth=datetime.date(1952, 1, 1), sex=Patient.Sex.MALE, created_by=clinician
        ),
        "mirth-large": patient_factory(
            mrn="1424589", date_of_birth=datetime.date(1966, 4, 19), sex=Patient.Sex.FEMALE, created_by=clinician
        ),
        "mirth-small": patient_factory(
            mrn="4223161584", date_of_birth=datetime.date(1942, 8, 15), sex=Patient.Sex.MALE, created_by=clinician
        ),
    }


@pytest.fixture
def local_codes(analytes):
    """The local codes an administrator maps for the two senders that send no LOINC codes."""
    for facility, code, analyte in [
        ("DEV", "K", "k"),
        ("DEV", "CA", "ca"),
        ("DEV", "ALB", "alb"),
        ("MIRTH", "84132", "k"),
        ("MIRTH", "82310", "ca"),
        ("MIRTH", "82312", "mg"),
    ]:
        CodeMapping.objects.create(sending_facility=facility, code=code, analyte=analytes[analyte])


# file, processing IDs taken, status, ACK code, the first reason (held, error, rejected) or None
SAMPLE_OUTCOMES = [
    ("python-hl7_samples_sample_hl7_glucose.hl7", ["P"], Status.SKIPPED, "AA", None),
    ("nextlevelseven_MultipleObr_cmp.hl7", ["P"], Status.IMPORTED, "AA", None),
    (
        "mirth_donkey_small_chem.hl7",
        ["P"],
        Status.HELD,
        "AE",
        "PID-7 birth date 'Aug 15, 1942' is not an HL7 date (YYYYMMDD). The birth date must agree with patient "
        "4223161584's.",
    ),
    (
        "mirth_donkey_large_cbc_cmp.hl7",
        ["P"],
        Status.HELD,
        "AE",
        "PID-8 sex empty does not agree with patient 1424589's (female): check the patient, then match it.",
    ),
    (
        "cdc-ti_CA_002_ORU_R01_nbs_carnitine.hl7",
        ["P"],
        Status.REJECTED,
        "AR",
        "MSH-11 processing ID 'D' is not taken here (this Myolab takes: P); test and debugging messages are not "
        "filed in patients' records.",
    ),
    ("cdc-ti_CA_002_ORU_R01_nbs_carnitine.hl7", ["P", "D"], Status.SKIPPED, "AA", None),
    (
        "cdc-ti_NewSTEPs_002_ORU_R01_nbs_carnitine.hl7",
        ["P"],
        Status.REJECTED,
        "AR",
        "MSH-11 processing ID 'D' is not taken here (this Myolab takes: P); test and debugging messages are not "
        "filed in patients' records.",
    ),
    ("cdc-ti_NewSTEPs_002_ORU_R01_nbs_carnitine.hl7", ["P", "D"], Status.SKIPPED, "AA", None),
    (
        "msft-fhirconv_LRI_2.0-NG_CBC_Typ_Message.hl7",
        ["P"],
        Status.REJECTED,
        "AR",
        "MSH-11 processing ID 'T' is not taken here (this Myolab takes: P); test and debugging messages are not "
        "filed in patients' records.",
    ),
    ("msft-fhirconv_LRI_2.0-NG_CBC_Typ_Message.hl7", ["P", "T"], Status.SKIPPED, "AA", None),
]


@pytest.mark.parametrize(("name", "processing_ids", "status", "ack_code", "reason"), SAMPLE_OUTCOMES)
def test_every_sample_is_imported_held_skipped_or_rejected_with_its_reason(
    settings, sample_patients, local_codes, name, processing_ids, status, ack_code, reason
):
    settings.HL7_PROCESSING_IDS = processing_ids
    receipt = receive_upload(sample(name))
    message = receipt.message
    assert (message.status, message.ack_code) == (status, ack_code)
    assert msa(receipt.ack)[1] == ack_code
    if reason is None:
        assert message.errors == []
    else:
        assert message.errors[0] == reason
        assert reason.replace("'", "'") in receipt.ack.replace("\\T\\", "&")
    assert InboundMessage.objects.count() == 1


def test_the_sample_with_several_obr_groups_under_one_accession_imports_one_panel(
    sample_patients, local_codes, clinician
):
    receipt = receive_upload(sample("nextlevelseven_MultipleObr_cmp.hl7"))
    panel = Panel.objects.get()
    assert (panel.lab_name, panel.accession_number, panel.source) == ("DEV", "24603", Panel.Source.IMPORT)
    assert panel.patient == sample_patients["nextlevelseven"]
    assert timezone.localtime(panel.collected_at).strftime("%Y-%m-%d %H:%M") == "2010-03-15 00:29"
    values = {r.analyte.code: (r.value_entered, r.unit_entered, r.flag) for r in panel.results.all()}
    assert values == {
        "k": (Decimal("4.2000"), "mmol/L", "N"),
        "ca": (Decimal("8.6000"), "mg/dL", "N"),  # 8.6 is the low limit at 58 years: normal
        "alb": (Decimal("3.2000"), "g/dL", "L"),
    }
    lab_views = {
        i.result.analyte.code: (i.lab_range, i.lab_flag, i.flag_disagreement) for i in ImportedResult.objects.all()
    }
    assert lab_views == {"k": ("3.5-5.1", "N", ""), "ca": ("8.5-10.1", "N", ""), "alb": ("3.4-5.0", "L", "")}
    assert receipt.message.results_created == 3
    assert msa(receipt.ack)[3] == "Imported: 3 results created, 0 changed."
    # The low albumin opens its finding in the same transaction, as a typed result does.
    assert Finding.objects.filter(result__analyte__code="alb", patient=sample_patients["nextlevelseven"]).count() == 1


def test_without_the_local_codes_the_sample_is_listed_as_skipped_not_an_error(sample_patients):
    message = receive_upload(sample("nextlevelseven_MultipleObr_cmp.hl7")).message
    assert message.status == Status.SKIPPED
    assert (
        "POTASSIUM (K): local code 'K' of DEV is not mapped to an analyte (an administrator can map it under "
        "Local codes)." in message.skipped
    )
    assert not Result.objects.exists()


def test_the_same_message_again_is_acknowledged_again_and_imports_nothing_new(sample_patients, local_codes):
    first = receive_upload(sample("nextlevelseven_MultipleObr_cmp.hl7"))
    again = receive_upload(sample("nextlevelseven_MultipleObr_cmp.hl7"))
    assert again.message.pk == first.message.pk
    assert again.ack == first.ack
    assert (InboundMessage.objects.count(), Result.objects.count()) == (1, 3)


# --- a small message for each rule ------------------------------------------------------------------


def message(*obx, control="CTRL-1", msh_extra="P|2.5.1", pid=None, obr_time="202401150830", accession="ACC-1"):
    """An ORU^R01 from facility LABX for MRN-77 (born 1 May 1960, female), with the OBX segments given."""
    pid = pid or "PID|1||MRN-77^^^CLINIC^MR||Doe^Jane||19600501|F"
    segments = [
        f"MSH|^~\\&|LIS|LABX|MYOLAB|CLINIC|202401151000||ORU^R01|{control}|{msh_extra}",
        pid,
        f"OBR|1||{accession}^LABX|CHEM^Chemistry|||{obr_time}",
        *obx,
    ]
    return "\r".join(segments).encode()


def obx(n, loinc, value, unit, *, range_="", flag="", status="F", value_type="NM", at=""):
    return f"OBX|{n}|{value_type}|{loinc}^Test^LN||{value}|{unit}|{range_}|{flag}|||{status}|||{at}"


@pytest.fixture
def jane(patient_factory, clinician):
    return patient_factory(
        mrn="MRN-77", date_of_birth=datetime.date(1960, 5, 1), sex=Patient.Sex.FEMALE, created_by=clinician
    )


@pytest.mark.parametrize(
    ("unit", "stored"),
    [
        ("mmol/L", "mmol/L"),
        ("MMOL/L", "mmol/L"),
        ("mEq/L", "meq/L"),
        ("mmol/L^millimole per liter^UCUM", "mmol/L"),
    ],
)
def test_units_match_the_accepted_ones_in_any_case(jane, unit, stored):
    receive_upload(message(obx(1, "2823-3", "3.9", unit)))
    assert Result.objects.get().unit_entered == stored


def test_micro_written_as_mu_matches_u(jane):
    receive_upload(message(obx(1, "14286-9", "33", "µmol/L")))
    assert Result.objects.get().unit_entered == "umol/L"


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "analyte"),
    [
        ("1989-3", "25", "ng/mL", "vitd25"),
        ("2601-3", "0.8", "mmol/L", "mg"),
        ("2000-8", "2.3", "mmol/L", "ca"),
    ],
)
def test_the_alternative_loinc_codes_map_to_their_analytes(jane, loinc, value, unit, analyte):
    receive_upload(message(obx(1, loinc, value, unit)))
    assert Result.objects.get().analyte.code == analyte


@pytest.mark.parametrize(
    ("segment", "value"),
    [
        (obx(1, "2823-3", "4.1", "mmol/L", value_type="ST"), Decimal("4.1")),
        (obx(1, "2823-3", "^4.3", "mmol/L", value_type="SN"), Decimal("4.3")),
        (obx(1, "2823-3", "=^4.4", "mmol/L", value_type="SN"), None),
    ],
)
def test_numbers_come_as_nm_st_or_sn(jane, segment, value):
    message_ = receive_upload(message(segment)).message
    if value is None:
        assert message_.status == Status.ERROR
        assert message_.errors == [
            "Test (2823-3): OBX-5 '=4.4' is not a number (digits with an optional decimal point)."
        ]
    else:
        assert Result.objects.get().value_entered == value


@pytest.mark.parametrize(
    ("segment", "comparator", "value", "flag", "shown"),
    [
        # ST "<2.5": every value below 2.5 mmol/L is critically low potassium (the limit is 2.5).
        (obx(1, "2823-3", "<2.5", "mmol/L", value_type="ST"), "<", "2.5", "LL", "<2.5"),
        # SN ">^9.20": every value above 9.20 is critically high (the critical limit is 6.5).
        (obx(1, "2823-3", ">^9.20", "mmol/L", value_type="SN"), ">", "9.20", "HH", ">9.2"),
        # "<4.0" admits 3.4 (low) and 3.6 (normal): not judged, and says so (indeterminate).
        (obx(1, "2823-3", "<4.0", "mmol/L", value_type="ST"), "<", "4.0", "IND", "<4"),
    ],
)
def test_a_censored_value_is_imported_with_its_comparator(jane, segment, comparator, value, flag, shown):
    receipt = receive_upload(message(segment))

    assert receipt.message.status == Status.IMPORTED, receipt.message.errors
    result = Result.objects.get()
    assert (result.comparator, result.value_entered, result.flag) == (comparator, Decimal(value), flag)
    assert result.entered_text == shown


def test_a_censored_value_sent_again_changes_nothing_and_an_exact_one_needs_a_correction(jane):
    receive_upload(message(obx(1, "2823-3", "<2.5", "mmol/L", value_type="ST"), control="C-1"))
    again = receive_upload(message(obx(1, "2823-3", "<2.5", "mmol/L", value_type="ST"), control="C-2"))
    exact = receive_upload(message(obx(1, "2823-3", "2.5", "mmol/L"), control="C-3"))

    assert again.message.skipped == ["Test (2823-3): already recorded with this value; nothing changes."]
    assert exact.message.skipped == [
        "Test (2823-3): already recorded as <2.5 mmol/L; a different value changes it only as a correction (OBX-11 C)."
    ]
    assert Result.objects.get().comparator == "<"


def test_obx14_is_the_collection_time_else_obr7(jane):
    receive_upload(message(obx(1, "2823-3", "4.1", "mmol/L", at="202401150700-0500")))
    assert Result.objects.get().collected_at == datetime.datetime(2024, 1, 15, 12, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("segment", "status", "reason"),
    [
        (
            obx(1, "2823-3", "4.1", "mmol/kg"),
            Status.HELD,
            "Test (2823-3): unit 'mmol/kg' is not an accepted unit of Potassium (accepted: mmol/L, meq/L); an "
            "administrator can add it to the catalogue, then reprocess this message.",
        ),
        (obx(1, "2823-3", "", "mmol/L"), Status.ERROR, "Test (2823-3): OBX-5 is empty: a final result needs a value."),
        (
            obx(1, "2823-3", "4.1 high", "mmol/L", value_type="ST"),
            Status.ERROR,
            "Test (2823-3): OBX-5 '4.1 high' is not a number (digits with an optional decimal point).",
        ),
        (
            obx(1, "2823-3", "41", "mmol/L"),
            Status.ERROR,
            "Test (2823-3): Potassium: 41 mmol/L is implausible; accepted from 1.0 to 10.0 mmol/L.",
        ),
        (
            obx(1, "2823-3", "4.1", "mmol/L", at="209901010000"),
            Status.ERROR,
            "Test (2823-3): collection time 01 Jan 2099 00:00 is in the future.",
        ),
        (
            obx(1, "2823-3", "4.1", "mmol/L", status="Q"),
            Status.ERROR,
            "Test (2823-3): OBX-11 result status 'Q' is not one HL7 defines (F, C, P, W, D, I, R, S, X, N, U).",
        ),
    ],
)
def test_each_bad_value_holds_or_fails_the_message_with_its_reason_and_changes_nothing(jane, segment, status, reason):
    # A good result first: it is not imported either, because one message is one transaction.
    receipt = receive_upload(message(obx(1, "2157-6", "150", "U/L"), segment))
    assert (receipt.message.status, receipt.message.errors) == (status, [reason])
    assert msa(receipt.ack)[1] == "AE"
    assert not Result.objects.exists()
    assert not Panel.objects.exists()


def test_a_preliminary_result_is_recorded_as_preliminary_and_opens_its_findings(jane):
    # A critical preliminary potassium must not wait for the final result.
    receipt = receive_upload(message(obx(1, "2823-3", "6.6", "mmol/L", status="P"), control="P-1"))
    assert (receipt.message.status, receipt.message.results_created) == (Status.IMPORTED, 1)
    result = Result.objects.get()
    assert (result.status, result.flag, result.get_status_display()) == ("preliminary", "HH", "Preliminary")
    finding = Finding.objects.get()
    assert (finding.result, finding.critical, finding.status) == (result, True, Finding.Status.OPEN)


def test_the_final_result_replaces_the_preliminary_one_through_the_correction_service(jane):
    receive_upload(message(obx(1, "2823-3", "6.6", "mmol/L", status="P"), control="P-1"))
    receipt = receive_upload(message(obx(1, "2823-3", "4.4", "mmol/L", status="F"), control="P-2"))
    assert (receipt.message.status, receipt.message.results_created, receipt.message.results_changed) == (
        Status.IMPORTED,
        0,
        1,
    )
    result = Result.objects.get()
    assert (result.status, result.value_entered, result.flag) == ("final", Decimal("4.4000"), "N")
    assert (
        result.status_reason
        == "The laboratory's final result replaces its preliminary one: Laboratory message LABX P-2"
    )
    earliest = result.history.earliest()
    assert (earliest.status, earliest.value_entered) == ("preliminary", Decimal("6.6000"))
    # Back in range: the critical finding of the preliminary value is resolved, with the reason.
    finding = Finding.objects.get()
    assert finding.status == Finding.Status.RESOLVED
    assert finding.resolution_note.startswith("Potassium replaced by the final result 4.4 mmol/L (normal): ")
    assert ImportedResult.objects.order_by("id").last().action == "replaced preliminary"


def test_a_final_result_with_the_preliminary_value_makes_it_final_and_keeps_its_finding(jane):
    receive_upload(message(obx(1, "2823-3", "3.1", "mmol/L", status="P"), control="P-1"))
    receive_upload(message(obx(1, "2823-3", "3.1", "mmol/L", status="F"), control="P-2"))
    result = Result.objects.get()
    assert (result.status, result.flag) == ("final", "L")
    assert Finding.objects.get().status == Finding.Status.OPEN  # still called for: its review is kept


def test_a_correction_of_a_preliminary_result_is_corrected(jane):
    receive_upload(message(obx(1, "2823-3", "3.1", "mmol/L", status="P"), control="P-1"))
    receive_upload(message(obx(1, "2823-3", "3.3", "mmol/L", status="C"), control="P-2"))
    assert Result.objects.get().status == "corrected"


@pytest.mark.parametrize(
    ("first", "second", "status", "skipped"),
    [
        ("P", "P", "preliminary", "Test (2823-3): already recorded as preliminary with this value; nothing changes."),
        (
            "F",
            "P",
            "final",
            "Test (2823-3): preliminary (OBX-11 P), but Myolab already has the final result; it stays.",
        ),
    ],
)
def test_a_preliminary_result_again_or_after_the_final_changes_nothing(jane, first, second, status, skipped):
    receive_upload(message(obx(1, "2823-3", "3.1", "mmol/L", status=first), control="P-1"))
    receipt = receive_upload(message(obx(1, "2823-3", "3.1", "mmol/L", status=second), control="P-2"))
    assert (receipt.message.status, receipt.message.skipped) == (Status.SKIPPED, [skipped])
    assert Result.objects.get().status == status


def test_a_newer_preliminary_value_replaces_the_preliminary_one(jane):
    receive_upload(message(obx(1, "2823-3", "3.1", "mmol/L", status="P"), control="P-1"))
    receive_upload(message(obx(1, "2823-3", "3.4", "mmol/L", status="P"), control="P-2"))
    result = Result.objects.get()
    assert (result.status, result.value_entered) == ("preliminary", Decimal("3.4000"))


def test_preliminary_is_said_wherever_the_result_is_shown(clinician_client, jane):
    receive_upload(message(obx(1, "2823-3", "6.6", "mmol/L", status="P"), control="P-1"))
    result, finding = Result.objects.get(), Finding.objects.get()
    patient_page = clinician_client.get(f"/patients/{jane.pk}/").content.decode()
    assert '<span class="badge text-bg-info">Preliminary</span>' in patient_page  # the results table
    assert '<small title="">preliminary</small>' in patient_page  # the cumulative view's cell
    assert " · preliminary</span>" in clinician_client.get(f"/guidance/findings/{finding.pk}/").content.decode()
    review = clinician_client.get(f"/guidance/reports/{result.panel_id}/").content.decode()
    assert " · preliminary</span>" in review
    from .test_exports_fhir import get_bundle, resources

    [observation] = resources(get_bundle(clinician_client, jane), "Observation")
    assert observation["status"] == "preliminary"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"hello", "Not an HL7 v2 message: it must start with an MSH segment."),
        (b"", "Not an HL7 v2 message: it must start with an MSH segment."),
        (
            b"MSH|^~\\&|LIS|LABX|||2024||ADT^A01|9|P|2.5.1",
            "MSH-9 message type 'ADT^A01' is not taken: Myolab takes ORU^R01 (results).",
        ),
        (
            b"MSH|^~\\&|LIS|LABX|||2024||ORU^R01|9|P|3.0",
            "MSH-12 version '3.0' is not supported: Myolab takes HL7 v2.2 to v2.8.2.",
        ),
        (
            b"MSH|^~\\&|LIS|LABX|||2024||ORU^R01||P|2.5.1",
            "MSH-10 message control ID is empty: every message needs one.",
        ),
    ],
)
def test_a_message_myolab_does_not_take_is_rejected_and_kept(raw, reason):
    receipt = receive_upload(raw)
    assert (receipt.message.status, receipt.message.errors) == (Status.REJECTED, [reason])
    assert msa(receipt.ack)[1] == "AR"
    assert InboundMessage.objects.get().raw == raw.decode()


@pytest.mark.parametrize(
    ("pid", "reason"),
    [
        (
            "PID|1||MRN-99^^^CLINIC^MR||Doe^Jane||19600501|F",
            "No patient has the MRN MRN-99 (PID-3): match it to a patient or register one.",
        ),
        (
            "PID|1||MRN-77^^^CLINIC^MR||Doe^Jane||19600502|F",
            "PID-7 birth date 02 May 1960 does not agree with patient MRN-77's (01 May 1960): check the patient, "
            "then match it.",
        ),
        (
            "PID|1||MRN-77^^^CLINIC^MR||Doe^Jane||19600501|M",
            "PID-8 sex 'M' does not agree with patient MRN-77's (female): check the patient, then match it.",
        ),
    ],
)
def test_a_patient_who_does_not_match_holds_the_message(jane, pid, reason):
    receipt = receive_upload(message(obx(1, "2823-3", "3.0", "mmol/L"), pid=pid))
    assert (receipt.message.status, receipt.message.errors) == (Status.HELD, [reason])
    assert receipt.message.patient is None
    assert not Result.objects.exists()


def test_the_assigning_authority_is_checked_when_configured(settings, jane):
    settings.HL7_MRN_AUTHORITIES = ["OTHERHOSP"]
    receipt = receive_upload(message(obx(1, "2823-3", "3.0", "mmol/L")))
    assert receipt.message.errors == ["PID-3 holds no patient identifier Myolab can match: match it to a patient."]


def test_a_deactivated_patient_is_refused(jane):
    Patient.objects.filter(pk=jane.pk).update(is_active=False)
    receipt = receive_upload(message(obx(1, "2823-3", "3.0", "mmol/L")))
    assert receipt.message.status == Status.ERROR
    assert receipt.message.errors == [
        "Patient MRN-77 is deactivated: Myolab files no results for a deactivated patient (an administrator can "
        "reactivate them, then reprocess this message)."
    ]
    assert not Result.objects.exists()


def test_a_low_potassium_opens_its_finding_with_the_import(jane):
    receive_upload(message(obx(1, "2823-3", "3.0", "mmol/L", range_="3.5-5.1", flag="L")))
    finding = Finding.objects.get()
    assert (finding.patient, finding.result.analyte.code, finding.status) == (jane, "k", Finding.Status.OPEN)


def test_a_flag_that_disagrees_with_myolab_is_said(jane):
    # No range sent: Myolab's default (3.5–5.2) applies, and the laboratory said normal.
    receive_upload(message(obx(1, "2823-3", "5.3", "mmol/L", flag="N")))
    assert ImportedResult.objects.get().flag_disagreement == (
        "The laboratory flagged it N; Myolab's interpretation is high (H)."
    )


def test_the_laboratorys_range_wins_over_the_default_and_the_default_stays_visible(jane):
    # Potassium 5.3: high against Myolab's default 3.5–5.2, normal against the laboratory's 3.5–5.5.
    receive_upload(message(obx(1, "2823-3", "5.3", "mmol/L", range_="3.5-5.5", flag="N")))
    result = Result.objects.get()
    assert (result.flag, result.range_low, result.range_high) == ("N", Decimal("3.5000"), Decimal("5.5000"))
    # Critical limits are still Myolab's: laboratories rarely send them.
    assert (result.range_critical_low, result.range_critical_high) == (Decimal("2.8000"), Decimal("6.2000"))
    assert result.reference_range.normal_high == Decimal("5.2000")  # the default, linked for comparison
    assert result.range_text == ("3.5–5.5 mmol/L (range from LABX (OBX-7 '3.5-5.5'), Myolab default 3.5–5.2 mmol/L)")
    assert ImportedResult.objects.get().flag_disagreement == ""
    assert not Finding.objects.exists()  # normal by the laboratory's range: no finding


def test_a_laboratory_range_in_another_unit_is_converted_to_the_canonical_unit(jane):
    # Calcium 2.12 mmol/L = 8.4970 mg/dL; the laboratory's 2.15–2.55 mmol/L is 8.6172–10.2204 mg/dL.
    receive_upload(message(obx(1, "17861-6", "2.12", "mmol/L", range_="2.15-2.55", flag="L")))
    result = Result.objects.get()
    assert (result.value, result.flag) == (Decimal("8.4970"), "L")
    assert (result.range_low, result.range_high) == (Decimal("8.6172"), Decimal("10.2204"))
    assert (
        result.range_origin == "range from LABX (OBX-7 '2.15-2.55'), Myolab default 8.8–10.2 mg/dL"
    )  # Jane is 63: the 60-and-over band
    finding = Finding.objects.get()
    assert finding.result == result


def test_a_range_myolab_cannot_read_leaves_the_default(jane):
    receive_upload(message(obx(1, "2823-3", "5.3", "mmol/L", range_="see report")))
    result = Result.objects.get()
    assert (result.flag, result.range_high, result.range_source) == ("H", Decimal("5.2000"), "")
    assert ImportedResult.objects.get().lab_range == "see report"  # kept as sent


def test_a_laboratory_upper_limit_alone_and_a_critical_value(jane):
    # "<6.0": the laboratory's upper limit; 6.5 is above it and above Myolab's critical 6.2.
    receive_upload(message(obx(1, "2823-3", "6.5", "mmol/L", range_="<6.0")))
    result = Result.objects.get()
    assert (result.flag, result.range_low, result.range_high) == ("HH", None, Decimal("6.0000"))
    assert Finding.objects.get().critical


def test_fhir_carries_the_range_applied_with_its_origin(clinician_client, jane):
    from .test_exports_fhir import get_bundle, resources

    receive_upload(message(obx(1, "2823-3", "5.3", "mmol/L", range_="3.5-5.5")))
    [observation] = resources(get_bundle(clinician_client, jane), "Observation")
    [reference_range] = observation["referenceRange"]
    assert (reference_range["low"]["value"], reference_range["high"]["value"]) == (3.5, 5.5)
    assert reference_range["text"] == (
        "3.5–5.5 mmol/L (range from LABX (OBX-7 '3.5-5.5'), Myolab default 3.5–5.2 mmol/L)"
    )
    assert observation["interpretation"][0]["coding"][0]["code"] == "N"


def test_the_patient_page_and_the_history_show_whose_range_it_is(clinician_client, jane):
    receive_upload(message(obx(1, "2823-3", "5.3", "mmol/L", range_="3.5-5.5")))
    result = Result.objects.get()
    origin = "range from LABX (OBX-7 &#x27;3.5-5.5&#x27;), Myolab default 3.5–5.2 mmol/L"
    assert origin in clinician_client.get(f"/patients/{jane.pk}/").content.decode()
    assert origin in clinician_client.get(f"/results/{result.pk}/history/").content.decode()


def test_a_laboratory_correction_keeps_reading_against_its_range(jane):
    receive_upload(message(obx(1, "2823-3", "5.3", "mmol/L", range_="3.5-5.5"), control="R-1"))
    receive_upload(message(obx(1, "2823-3", "5.7", "mmol/L", range_="3.5-5.5", status="C"), control="R-2"))
    result = Result.objects.get()
    assert (result.status, result.flag, result.range_high) == ("corrected", "H", Decimal("5.5000"))
    assert result.history.earliest().range_source == "LABX (OBX-7 '3.5-5.5')"


def test_a_correction_goes_through_the_correction_service_naming_the_message(jane):
    receive_upload(message(obx(1, "2823-3", "3.0", "mmol/L"), control="C-1"))
    assert Finding.objects.filter(status=Finding.Status.OPEN).count() == 1
    receipt = receive_upload(message(obx(1, "2823-3", "4.0", "mmol/L", status="C"), control="C-2"))
    result = Result.objects.get()
    assert (result.value_entered, result.status) == (Decimal("4.0000"), Result.Status.CORRECTED)
    assert result.status_reason == "Corrected by the laboratory: Laboratory message LABX C-2"
    assert result.history.earliest().value_entered == Decimal("3.0000")
    assert (receipt.message.results_created, receipt.message.results_changed) == (0, 1)
    # The value is back in range: the finding is resolved in the same transaction.
    assert Finding.objects.get().status == Finding.Status.RESOLVED


def test_a_withdrawn_result_is_marked_entered_in_error(jane):
    receive_upload(message(obx(1, "2823-3", "3.0", "mmol/L"), control="W-1"))
    receive_upload(message(obx(1, "2823-3", "", "mmol/L", status="W"), control="W-2"))
    result = Result.objects.get()
    assert result.status == Result.Status.ENTERED_IN_ERROR
    assert result.status_reason == "Withdrawn by the laboratory (OBX-11 W): Laboratory message LABX W-2"
    assert Finding.objects.get().status == Finding.Status.RESOLVED


def test_a_result_sent_again_in_a_new_message_changes_nothing_unless_it_is_a_correction(jane):
    receive_upload(message(obx(1, "2823-3", "3.0", "mmol/L"), control="R-1"))
    receipt = receive_upload(message(obx(1, "2823-3", "3.4", "mmol/L"), control="R-2"))
    assert receipt.message.status == Status.SKIPPED
    assert receipt.message.skipped == [
        "Test (2823-3): already recorded as 3 mmol/L; a different value changes it only as a correction (OBX-11 C)."
    ]
    assert Result.objects.get().value_entered == Decimal("3.0000")


def test_a_used_control_id_with_different_content_is_rejected_and_logged(jane):
    receive_upload(message(obx(1, "2823-3", "3.0", "mmol/L"), control="D-1"))
    receipt = receive_upload(message(obx(1, "2823-3", "3.9", "mmol/L"), control="D-1", accession="ACC-2"))
    assert receipt.message.status == Status.REJECTED
    assert receipt.message.errors[0].startswith(
        "MSH-10 control ID 'D-1' was already used by LABX for a different message (received "
    )
    assert (InboundMessage.objects.count(), Result.objects.count()) == (2, 1)


def test_a_failure_inside_the_services_rolls_back_and_keeps_the_message_with_its_error(jane, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("interfaces.services._lab_view", fail)
    receipt = receive_upload(message(obx(1, "2823-3", "3.0", "mmol/L")))
    assert receipt.message.status == Status.ERROR
    assert receipt.message.errors == ["Myolab could not process this message (RuntimeError); it is kept for review."]
    assert msa(receipt.ack)[1] == "AE"
    assert (Result.objects.count(), Panel.objects.count(), Finding.objects.count()) == (0, 0, 0)


SIX = [("2823-3", "4.1", "mmol/L"), ("17861-6", "9.4", "mg/dL"), ("19123-9", "2.0", "mg/dL")]
SIX += [("2157-6", "120", "U/L"), ("62292-8", "31", "ng/mL"), ("1751-7", "4.2", "g/dL")]


@pytest.mark.parametrize("results", [2, 6])
def test_a_message_costs_the_same_queries_whatever_its_number_of_results(jane, results, django_assert_num_queries):
    receive_upload(message(obx(1, "2823-3", "4.0", "mmol/L"), control="Q-0", accession="ACC-Q0"))  # the interface user
    observations = [obx(n, code, value, unit) for n, (code, value, unit) in enumerate(SIX[:results], 1)]
    # Receiving: the earlier message with this control ID, the insert, savepoints. Planning: the catalogue
    # with its units (LOINC codes: the sender's local codes are not read), the patient, the panels of its
    # accession numbers. Recording
    # (guidance.services.record_results): the interface user, the catalogue with its ranges, the
    # accession check, the panel and its history row, the results and theirs (one insert each), the
    # patient's activity, the patient's factors (none, so not the rules' relevant ones), the rules, the
    # delta checks (2: the results with their previous and next ones, the rules; a new panel has no
    # findings to read yet), superseded findings, plans. Then the laboratory's view of every result (one
    # insert) and the message's update.
    with django_assert_num_queries(33):
        receipt = receive_upload(message(*observations, control=f"Q-{results}", accession=f"ACC-Q{results}"))
    assert (receipt.message.status, receipt.message.results_created) == (Status.IMPORTED, results)
