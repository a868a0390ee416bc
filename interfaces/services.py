"""Receiving laboratory messages: store, plan, import, acknowledge; and the queue's actions.

`receive` is what the MLLP listener and the upload call for each message. It stores the raw text first
(status "received", committed), then `process` reads it and, in ONE transaction, records its results
through guidance.services (the only write path for results, so findings open and resolve as for typed
results) and sets the message's status, its acknowledgement and what it created. A message that fails
rolls back whole and is kept with its error. The same message again (MSH-10 with the sending facility)
gets the first answer again and changes nothing.

`plan_message` is the read-only half: what a message would do (the patient matched, the results it
would create, correct or withdraw, what is skipped and every problem). The upload's preview shows it.
"""

import datetime
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from guidance.services import correct_result, mark_entered_in_error, record_results
from labs.interpretation import LabRange, to_canonical
from labs.models import Analyte, AnalyteUnit, Panel, Result
from labs.services import Entry, canonical_or_refuse
from patients.models import Patient

from . import ack as acks
from . import fhir_bundle
from .mapping import (
    ALTERNATIVE_LOINC,
    SEXES,
    Problem,
    flag_disagreement,
    read_birth_date,
    read_range,
    read_time,
    read_value,
    unit_key,
)
from .models import CodeMapping, ImportedResult, InboundMessage
from .oru import Header, Observation, OruMessage, PatientIdentity, Refused, normalise, read_header, read_oru

logger = logging.getLogger(__name__)

Status = InboundMessage.Status
Channel = InboundMessage.Channel
INTERFACE_USERNAME = "lab-interface"
# ORU^R01's results segments have kept their meaning from 2.2 to 2.8.
SUPPORTED_VERSIONS = ("2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2")
# OBX-11 (HL7 table 0085) values that carry no result to import, and why.
NOT_RESULTS = {
    "I": "pending (OBX-11 I)",
    "R": "not yet verified (OBX-11 R)",
    "S": "partial (OBX-11 S)",
    "X": "no result obtained (OBX-11 X)",
    "N": "not asked for (OBX-11 N)",
    "U": "status changed to final without a value (OBX-11 U)",
}
WITHDRAWN = ("W", "D")
# A collection time this far ahead of the server's clock is refused as in the future (clock skew).
CLOCK_SKEW = datetime.timedelta(minutes=5)


def interface_user():
    """Who the listener records results as: an account that cannot sign in."""
    user, created = get_user_model().objects.get_or_create(
        username=INTERFACE_USERNAME,
        defaults={"first_name": "Laboratory", "last_name": "interface", "is_active": False},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


# --- planning: what a message would do (reads only) ------------------------------------------------


class Skipped(Exception):
    """An observation that carries nothing to import (a preliminary result, say): listed, not an error."""


@dataclass
class PlannedResult:
    observation: Observation
    analyte: Analyte
    action: str  # "create", "correct", "replace" (a preliminary result) or "withdraw"
    preliminary: bool = False  # OBX-11 P: recorded as preliminary, replaced by the final result later
    unit: AnalyteUnit | None = None
    value: Decimal | None = None
    comparator: str = ""  # "<", "<=", ">=", ">" for a censored value ("<0.95"); "" for an exact one
    existing: Result | None = None
    lab_range: LabRange | None = None  # the laboratory's normal limits (OBX-7), in the canonical unit


@dataclass
class PlannedPanel:
    accession: str
    collected_at: datetime.datetime
    results: list[PlannedResult] = field(default_factory=list)
    existing: Panel | None = None


@dataclass
class Plan:
    header: Header
    patient: Patient | None = None
    panels: list[PlannedPanel] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the message fails: AE, status error
    holds: list[str] = field(default_factory=list)  # a person can resolve it: AE, status held
    rejection: Refused | None = None  # not a message Myolab takes: AR

    @property
    def results(self) -> list[PlannedResult]:
        return [result for panel in self.panels for result in panel.results]

    @property
    def status(self) -> str:
        if self.rejection:
            return Status.REJECTED
        if self.errors:
            return Status.ERROR
        if self.holds:
            return Status.HELD
        return Status.IMPORTED if self.results else Status.SKIPPED


def plan_message(
    text: str,
    *,
    patient: Patient | None = None,
    now=None,
    fhir: bool = False,
    sender: str = "",
    catalogue: "Catalogue | None" = None,
) -> Plan:
    """What the normalised message `text` would do. Never raises for what the message holds; `patient`
    is a person's match, which replaces the PID checks. `text` is an HL7 v2 message, or with `fhir` a
    FHIR Bundle (interfaces.fhir_bundle, read into the same structure) from `sender` (the API client's
    name, which plays MSH-4). `catalogue`: the analytes and local codes to map with (read afresh without).
    """
    plan = _plan(text, patient=patient, now=now, fhir=fhir, sender=sender, catalogue=catalogue or Catalogue())
    if fhir:  # what the planning says of HL7 fields, in the Bundle's terms
        for reasons in (plan.errors, plan.holds, plan.skipped):
            reasons[:] = [fhir_bundle.in_fhir_terms(reason) for reason in reasons]
    return plan


def _plan(text: str, *, patient, now, fhir: bool, sender: str, catalogue) -> Plan:
    if fhir:
        try:
            oru = fhir_bundle.read_bundle(text, sender=sender)
        except Refused as refusal:
            header = Header(sending_facility=sender, message_type=fhir_bundle.MESSAGE_TYPE)
            return Plan(header=header, rejection=refusal)
        plan = Plan(header=oru.header)
        authorities = settings.FHIR_MRN_SYSTEMS
    else:
        try:
            header = read_header(text)
        except Refused as refusal:
            return Plan(header=Header(), rejection=refusal)
        plan = Plan(header=header)
        plan.rejection = _refusal(header)
        if plan.rejection:
            return plan
        try:
            oru = read_oru(text)
        except Refused as refusal:
            plan.rejection = refusal
            return plan
        authorities = settings.HL7_MRN_AUTHORITIES
    _plan_observations(plan, oru, now=now or timezone.now(), catalogue=catalogue)
    if plan.errors or not plan.results:
        return plan
    plan.patient = patient
    if patient is None:
        plan.patient = _match_patient(plan, oru.patient, authorities)
    if plan.patient is not None and not plan.patient.is_active:
        plan.errors.append(
            f"Patient {plan.patient.mrn} is deactivated: Myolab files no results for a deactivated patient "
            "(an administrator can reactivate them, then reprocess this message)."
        )
    if plan.patient is not None:
        _plan_against_recorded(plan)
    return plan


def _refusal(header: Header) -> Refused | None:
    if header.message_type != "ORU^R01":
        return Refused(
            f"MSH-9 message type '{header.message_type or 'empty'}' is not taken: Myolab takes ORU^R01 (results).",
            code="200",
        )
    if header.version not in SUPPORTED_VERSIONS:
        return Refused(
            f"MSH-12 version '{header.version or 'empty'}' is not supported: Myolab takes HL7 v2.2 to v2.8.2.",
            code="203",
        )
    if not header.control_id:
        return Refused("MSH-10 message control ID is empty: every message needs one.", code="101")
    if header.processing_id[:1] not in settings.HL7_PROCESSING_IDS:
        allowed = ", ".join(settings.HL7_PROCESSING_IDS)
        return Refused(
            f"MSH-11 processing ID '{header.processing_id or 'empty'}' is not taken here (this Myolab takes: "
            f"{allowed}); test and debugging messages are not filed in patients' records.",
            code="202",
        )
    return None


class Catalogue:
    """What planning maps a message's tests with: the analytes (with their units) by LOINC code, the
    catalogue's alternative codes included, and each sending facility's local codes, read when first
    needed. Read for each message as it is received, so an administrator's change applies to the next
    one; a file's preview reads it once for all its messages (interfaces.upload)."""

    def __init__(self):
        self.by_loinc = {a.loinc: a for a in Analyte.objects.prefetch_related("units") if a.loinc}
        by_code = {a.code: a for a in self.by_loinc.values()}
        for alternative, code in ALTERNATIVE_LOINC.items():
            if code in by_code:
                self.by_loinc[alternative] = by_code[code]
        self._local_codes = {}

    def local_codes(self, facility: str) -> dict[str, Analyte]:
        """The facility's local codes (lower-cased) and their analytes (CodeMapping)."""
        key = facility.lower()
        if key not in self._local_codes:
            mappings = CodeMapping.objects.filter(sending_facility__iexact=facility).select_related("analyte")
            self._local_codes[key] = {m.code.lower(): m.analyte for m in mappings}
        return self._local_codes[key]


def _plan_observations(plan: Plan, oru: OruMessage, *, now, catalogue: Catalogue) -> None:
    facility = plan.header.sending_facility
    panels: dict[str, PlannedPanel] = {}
    for number, order in enumerate(oru.orders, start=1):
        for observation in order.observations:
            analyte = _analyte_for(observation, catalogue, facility, plan)
            if analyte is None:
                continue
            try:
                planned = _plan_one(observation, analyte, facility)
                if planned is None:
                    continue
                collected_at = read_time(
                    observation.observed_at or order.observed_at, field="OBX-14" if observation.observed_at else "OBR-7"
                )
            except Skipped as skip:
                plan.skipped.append(f"{observation.label}: {skip}")
                continue
            except Problem as problem:
                (plan.holds if problem.hold else plan.errors).append(f"{observation.label}: {problem}")
                continue
            if collected_at > now + CLOCK_SKEW:
                plan.errors.append(
                    f"{observation.label}: collection time {collected_at:%d %b %Y %H:%M} is in the future."
                )
                continue
            key = order.filler_number.lower() or f"#{number}"
            panel = panels.setdefault(key, PlannedPanel(accession=order.filler_number, collected_at=collected_at))
            if panel.collected_at != collected_at:
                plan.errors.append(
                    f"{observation.label}: OBR-3 accession '{order.filler_number}' has results collected at "
                    "different times; Myolab records one collection time per panel."
                )
                continue
            twin = next((r for r in panel.results if r.analyte.pk == analyte.pk), None)
            if twin is None:
                panel.results.append(planned)
            elif (twin.action, twin.comparator, twin.value, twin.unit) != (
                planned.action,
                planned.comparator,
                planned.value,
                planned.unit,
            ):
                plan.errors.append(
                    f"{observation.label}: sent twice for accession '{order.filler_number}' with different values."
                )
            # The same result repeated in the message (one laboratory repeats whole OBR groups) is kept once.
    plan.panels = [panel for panel in panels.values() if panel.results]


def _analyte_for(observation: Observation, catalogue: Catalogue, facility, plan) -> Analyte | None:
    loinc_codes = [observation.code] if observation.system.upper() in ("LN", "LOINC") else []
    if observation.alt_system.upper() in ("LN", "LOINC"):
        loinc_codes.append(observation.alt_code)
    analyte = next((catalogue.by_loinc[code] for code in loinc_codes if code in catalogue.by_loinc), None)
    if analyte is None and not loinc_codes:
        analyte = catalogue.local_codes(facility).get(observation.code.lower())
        if analyte is None:
            plan.skipped.append(
                f"{observation.label}: local code '{observation.code}' of {facility or 'this sender'} is not "
                "mapped to an analyte (an administrator can map it under Local codes)."
            )
            return None
    if analyte is None:
        plan.skipped.append(f"{observation.label}: not a test Myolab tracks.")
        return None
    if not analyte.active:
        plan.skipped.append(f"{observation.label}: {analyte.name} is inactive in the catalogue.")
        return None
    return analyte


def _plan_one(observation: Observation, analyte: Analyte, facility: str) -> PlannedResult | None:
    status = observation.status.upper() or "F"
    if status in WITHDRAWN:
        return PlannedResult(observation=observation, analyte=analyte, action="withdraw")
    if status not in ("F", "C", "P"):
        if status in NOT_RESULTS:
            raise Skipped(NOT_RESULTS[status])
        raise Problem(f"OBX-11 result status '{status}' is not one HL7 defines (F, C, P, W, D, I, R, S, X, N, U).")
    comparator, value = read_value(observation.value_type, observation.value)
    units = [unit for unit in analyte.units.all() if unit.active]
    unit = next((u for u in units if unit_key(u.unit) == unit_key(observation.units)), None)
    if unit is None:
        accepted = ", ".join(u.unit for u in units)
        sent = f"unit '{observation.units}'" if observation.units else "OBX-6 unit is empty and"
        raise Problem(
            f"{sent} is not an accepted unit of {analyte.name} (accepted: {accepted}); an administrator can add "
            "it to the catalogue, then reprocess this message.",
            hold=True,
        )
    try:
        canonical_or_refuse(analyte, value, unit)
    except ValidationError as error:
        raise Problem(" ".join(error.messages)) from None
    return PlannedResult(
        observation=observation,
        analyte=analyte,
        action="correct" if status == "C" else "create",
        preliminary=status == "P",
        unit=unit,
        value=value,
        comparator=comparator,
        lab_range=_lab_range(observation, unit, facility),
    )


def _lab_range(observation: Observation, unit: AnalyteUnit, facility: str) -> LabRange | None:
    """The laboratory's OBX-7 range in the canonical unit (it is in OBX-6's unit, as the value is), or None
    when it sends none Myolab can read (then Myolab's default applies)."""
    limits = read_range(observation.range_text)
    if limits is None:
        return None
    low, high = (None if limit is None else to_canonical(limit, unit.factor) for limit in limits)
    return LabRange(low, high, f"{facility or 'the laboratory'} (OBX-7 '{observation.range_text.strip()}')")


def _match_patient(plan: Plan, identity: PatientIdentity | None, authorities) -> Patient | None:
    """The one patient PID-3 names whose birth date and sex agree; else None with the hold's reason.
    `authorities`: the assigning authorities (a Bundle's identifier systems) whose MRNs are Myolab's;
    none: any."""
    if identity is None:
        plan.holds.append("The message has no PID segment: match it to a patient.")
        return None
    authorities = {a.lower() for a in authorities}
    ids = [i.id for i in identity.identifiers if not authorities or i.authority.lower() in authorities]
    if not ids:
        plan.holds.append("PID-3 holds no patient identifier Myolab can match: match it to a patient.")
        return None
    found = list(Patient.objects.with_mrn(*ids)[:2])
    named = ", ".join(ids)
    if not found:
        plan.holds.append(f"No patient has the MRN {named} (PID-3): match it to a patient or register one.")
        return None
    if len(found) > 1:
        plan.holds.append(f"PID-3 identifiers {named} name more than one patient: match it to the right one.")
        return None
    patient = found[0]
    try:
        born = read_birth_date(identity.birth_date)
    except Problem as problem:
        plan.holds.append(f"{problem} The birth date must agree with patient {patient.mrn}'s.")
        return None
    if born != patient.date_of_birth:
        plan.holds.append(
            f"PID-7 birth date {born:%d %b %Y} does not agree with patient {patient.mrn}'s "
            f"({patient.date_of_birth:%d %b %Y}): check the patient, then match it."
        )
        return None
    sex = SEXES.get(identity.sex.strip().upper())
    if sex != patient.sex:
        sent = f"'{identity.sex}'" if identity.sex else "empty"
        plan.holds.append(
            f"PID-8 sex {sent} does not agree with patient {patient.mrn}'s ({patient.get_sex_display().lower()}): "
            "check the patient, then match it."
        )
        return None
    return patient


def _plan_against_recorded(plan: Plan) -> None:
    """Compare with what this laboratory's accession numbers already hold: a result sent again changes
    nothing unless OBX-11 says it is a correction (C) or a withdrawal (W, D)."""
    accessions = [panel.accession for panel in plan.panels if panel.accession]
    recorded = {}
    if accessions:
        panels = Panel.objects.with_accession(plan.header.sending_facility, *accessions).prefetch_related("results")
        for panel in panels:
            recorded[panel.accession_number.lower()] = panel
    kept = []
    for planned_panel in plan.panels:
        existing = recorded.get(planned_panel.accession.lower()) if planned_panel.accession else None
        if existing is None:
            # Nothing to withdraw in a panel Myolab never received.
            for result in [r for r in planned_panel.results if r.action == "withdraw"]:
                plan.skipped.append(f"{result.observation.label}: withdrawn (OBX-11 W/D), but never received.")
            planned_panel.results = [r for r in planned_panel.results if r.action != "withdraw"]
        else:
            _plan_against_panel(plan, planned_panel, existing)
        if planned_panel.results:
            kept.append(planned_panel)
    plan.panels = kept


def _plan_against_panel(plan: Plan, planned_panel: PlannedPanel, existing: Panel) -> None:
    planned_panel.existing = existing
    if existing.patient_id != plan.patient.pk:
        plan.errors.append(
            f"Accession '{planned_panel.accession}' of {plan.header.sending_facility} is recorded for another "
            "patient: Myolab never moves results between patients."
        )
        return
    results = {result.analyte_id: result for result in existing.results.all()}
    kept = []
    for planned in planned_panel.results:
        label = planned.observation.label
        recorded = results.get(planned.analyte.pk)
        if recorded is None:
            if planned.action == "withdraw":
                plan.skipped.append(f"{label}: withdrawn (OBX-11 W/D), but never received.")
            else:
                plan.errors.append(
                    f"{label}: accession '{planned_panel.accession}' is already recorded without this result, and "
                    "Myolab adds no result to a recorded panel; enter it by hand."
                )
            continue
        planned.existing = recorded
        if recorded.status == Result.Status.ENTERED_IN_ERROR:
            plan.skipped.append(f"{label}: already marked entered in error; it stays so.")
        elif planned.action == "withdraw":
            kept.append(planned)
        elif recorded.status == Result.Status.PRELIMINARY:
            # The final (or a corrected, or a newer preliminary) result replaces the preliminary one.
            if planned.preliminary and _same_value(recorded, planned):
                plan.skipped.append(f"{label}: already recorded as preliminary with this value; nothing changes.")
            else:
                planned.action = "replace"
                kept.append(planned)
        elif planned.preliminary:
            plan.skipped.append(
                f"{label}: preliminary (OBX-11 P), but Myolab already has the {recorded.get_status_display().lower()} "
                "result; it stays."
            )
        elif _same_value(recorded, planned):
            plan.skipped.append(f"{label}: already recorded with this value; nothing changes.")
        elif planned.action == "create":
            plan.skipped.append(
                f"{label}: already recorded as {recorded.entered_text} {recorded.unit_entered}; "
                "a different value changes it only as a correction (OBX-11 C)."
            )
        else:
            kept.append(planned)
    planned_panel.results = kept


# --- importing: one message, one transaction --------------------------------------------------------


@dataclass
class Receipt:
    """What the sender is answered: the message as stored and its acknowledgement."""

    message: InboundMessage
    ack: str


def decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    # UTF-8 is what HL7 2.8 prefers and what the samples use; bytes that are not UTF-8 are kept visible
    # as U+FFFD, so a unit written in another encoding is refused as unknown instead of guessed.
    return raw.decode("utf-8", errors="replace")


def receive(raw: bytes | str, *, channel: str, by=None, sender: str = "", import_job=None) -> Receipt:
    """Store one message, then process it; never raises for what the message holds. A FHIR Bundle is
    kept as sent (JSON), from `sender` (the API client's name, its sending facility). `import_job`: the
    uploaded file it came in (interfaces.jobs)."""
    text = decode(raw)
    try:
        if channel == InboundMessage.Channel.FHIR:
            header = fhir_bundle.read_header(text, sender=sender)
        else:
            text = normalise(text)
            header = read_header(text)
    except Refused:
        header = Header(sending_facility=sender)
    if header.control_id:
        earlier = InboundMessage.objects.filter(
            sending_facility=header.sending_facility[:200], control_id=header.control_id[:200]
        ).first()
        if earlier is not None:
            return _again(earlier, text, header, channel=channel, by=by, import_job=import_job)
    message = _new_message(text, header, channel=channel, by=by, import_job=import_job)
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:  # the same message arrived at the same moment on another connection
        earlier = InboundMessage.objects.get(sending_facility=message.sending_facility, control_id=message.control_id)
        return _again(earlier, text, header, channel=channel, by=by, import_job=import_job)
    return process(message, by=by)


def _new_message(text: str, header: Header, *, channel: str, by, import_job=None) -> InboundMessage:
    return InboundMessage(
        raw=text,
        channel=channel,
        received_by=by,
        import_job=import_job,
        sending_application=header.sending_application[:200],
        sending_facility=header.sending_facility[:200],
        control_id=header.control_id[:200],
        message_type=header.message_type[:40],
    )


def _again(earlier: InboundMessage, text: str, header: Header, *, channel: str, by, import_job=None) -> Receipt:
    """A control ID this facility used before: the same message gets its first answer again (a lost ACK);
    different content under a used control ID is refused and logged."""
    if earlier.raw == text:
        if earlier.status == Status.RECEIVED:  # its processing was interrupted: finish it now
            return process(earlier, by=by)
        return Receipt(earlier, earlier.ack)
    field = "Bundle.identifier" if header.message_type == fhir_bundle.MESSAGE_TYPE else "MSH-10 control ID"
    refusal = Refused(
        f"{field} '{header.control_id}' was already used by {header.sending_facility or 'this sender'} "
        f"for a different message (received {timezone.localtime(earlier.received_at):%d %b %Y %H:%M}); "
        "every message needs its own control ID.",
        code="205",
    )
    message = _new_message(text, header, channel=channel, by=by, import_job=import_job)
    message.control_id = ""  # the control ID stays the first message's; this one is logged beside it
    _finish(message, Plan(header=header, rejection=refusal))
    message.save()
    return Receipt(message, message.ack)


def process(
    message: InboundMessage, *, by=None, patient: Patient | None = None, note: str = "", review: bool = False
) -> Receipt:
    """Plan and import `message` in one transaction; on any failure nothing changes but the message,
    which is kept with its error. A person's `review` (a match, a reprocessing) keeps the ACK the
    sender was first answered with: the log shows what was sent, and a resend gets that answer again."""
    by = by or interface_user()
    try:
        with transaction.atomic():
            locked = InboundMessage.objects.select_for_update().get(pk=message.pk)
            plan = plan_message(
                locked.raw, patient=patient, fhir=locked.channel == Channel.FHIR, sender=locked.sending_facility
            )
            if plan.status == Status.IMPORTED:
                _import(plan, locked, by=by)
            if review:
                locked.reviewed_by, locked.review_note = by, note
            _finish(locked, plan, answer=not review)
            locked.save()
        return Receipt(locked, locked.ack)
    except Exception as error:  # never let a message stop the listener; keep it with its error
        if isinstance(error, ValidationError):
            reasons = error.messages
        else:
            logger.exception("Processing message %s failed", message.pk)
            reasons = [f"Myolab could not process this message ({type(error).__name__}); it is kept for review."]
        message.refresh_from_db()
        plan = Plan(header=_header_of(message), errors=reasons)
        _finish(message, plan, answer=not review)
        message.save()
        return Receipt(message, message.ack)


def _header_of(message: InboundMessage) -> Header:
    try:
        if message.channel == Channel.FHIR:
            return fhir_bundle.read_header(message.raw, sender=message.sending_facility)
        return read_header(message.raw)
    except Refused:
        return Header(sending_facility=message.sending_facility)


def _same_value(recorded: Result, planned: PlannedResult) -> bool:
    return (recorded.comparator, recorded.value_entered, recorded.unit_entered) == (
        planned.comparator,
        planned.value,
        planned.unit.unit,
    )


def _import(plan: Plan, message: InboundMessage, *, by) -> None:
    reason = f"Laboratory message {plan.header.sending_facility} {plan.header.control_id}"
    created = changed = 0
    views: list[ImportedResult] = []  # the laboratory's view of each result, written in one insert
    for planned_panel in plan.panels:
        new = [r for r in planned_panel.results if r.existing is None]
        if new:
            panel = record_results(
                patient=plan.patient,
                collected_at=planned_panel.collected_at,
                entries=[
                    Entry(
                        analyte=r.analyte,
                        value=r.value,
                        unit=r.unit,
                        comparator=r.comparator,
                        lab_range=r.lab_range,
                        preliminary=r.preliminary,
                    )
                    for r in new
                ],
                by=by,
                lab_name=plan.header.sending_facility[:100],
                accession_number=planned_panel.accession[:50],
                source=Panel.Source.IMPORT,
            )
            saved = {result.analyte_id: result for result in panel.results.all()}
            views += [_lab_view(message, planned, saved[planned.analyte.pk], action="created") for planned in new]
            created += len(new)
        for planned in [r for r in planned_panel.results if r.existing is not None]:
            if planned.action == "withdraw":
                result = mark_entered_in_error(
                    planned.existing,
                    reason=f"Withdrawn by the laboratory (OBX-11 {planned.observation.status}): {reason}",
                    by=by,
                )
                views.append(_lab_view(message, planned, result, action="entered-in-error"))
            elif planned.action == "replace":
                status = Result.Status.PRELIMINARY if planned.preliminary else Result.Status.FINAL
                if planned.observation.status.upper() == "C":
                    status = Result.Status.CORRECTED
                result = correct_result(
                    planned.existing,
                    value=planned.value,
                    comparator=planned.comparator,
                    unit=planned.unit,
                    lab_range=planned.lab_range,
                    status=status,
                    reason=f"The laboratory's {status} result replaces its preliminary one: {reason}",
                    by=by,
                )
                views.append(_lab_view(message, planned, result, action="replaced preliminary"))
            else:
                result = correct_result(
                    planned.existing,
                    value=planned.value,
                    comparator=planned.comparator,
                    unit=planned.unit,
                    lab_range=planned.lab_range,
                    reason=f"Corrected by the laboratory: {reason}",
                    by=by,
                )
                views.append(_lab_view(message, planned, result, action="corrected"))
            changed += 1
    ImportedResult.objects.bulk_create(views)
    message.patient = plan.patient
    message.results_created, message.results_changed = created, changed


def _lab_view(message: InboundMessage, planned: PlannedResult, result: Result, *, action: str) -> ImportedResult:
    observation = planned.observation
    imported = ImportedResult(
        message=message,
        result=result,
        action=action,
        lab_range=observation.range_text[:100],
        lab_flag=observation.flags[:20],
        flag_disagreement=flag_disagreement(observation.flags, result.flag) if action != "entered-in-error" else "",
        notes="\n".join(observation.notes),
    )
    imported.full_clean(exclude=["message", "result"])
    return imported


def _finish(message: InboundMessage, plan: Plan, *, answer: bool = True) -> None:
    """The message's status and reasons from its plan, and (`answer`) the acknowledgement to send."""
    message.status = plan.status
    message.errors = [plan.rejection.text] if plan.rejection else plan.errors + plan.holds
    message.skipped = plan.skipped
    message.processed_at = timezone.now()
    if plan.patient is not None and message.patient_id is None and plan.status != Status.REJECTED:
        message.patient = plan.patient
    if answer:
        message.ack_code, message.ack = acks.for_message(message, plan.header, rejection=plan.rejection)
        if plan.header.message_type == fhir_bundle.MESSAGE_TYPE:
            message.ack = ""  # answered over HTTP by the api app, from the message's status and results


# --- the queue: what a person does with a held message or one in error -----------------------------


def _check_open(message: InboundMessage) -> None:
    if not message.is_open:
        raise ValidationError(
            f"This message is {message.get_status_display().lower()}: only a held message or one in error can be "
            "matched, reprocessed or rejected."
        )


def match_and_import(message: InboundMessage, *, patient: Patient, note: str, by) -> Receipt:
    """A clinician's match of a held message to `patient` (the PID checks are theirs now), then its import."""
    _check_open(message)
    if not note.strip():
        raise ValidationError({"note": "Say why this is the patient (what you checked)."})
    return process(message, by=by, patient=patient, note=f"Matched to {patient.mrn}: {note.strip()}", review=True)


def reprocess(message: InboundMessage, *, by) -> Receipt:
    """Process a held message or one in error again, after its mapping, unit or patient was fixed."""
    _check_open(message)
    return process(message, by=by, review=True, note="Processed again.")


@transaction.atomic
def reject(message: InboundMessage, *, reason: str, by) -> InboundMessage:
    """A person's decision that a held message or one in error is not to be imported, with the reason."""
    message = InboundMessage.objects.select_for_update().get(pk=message.pk)
    _check_open(message)
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for rejecting this message."})
    message.status = Status.REJECTED
    message.reviewed_by, message.review_note = by, f"Rejected: {reason.strip()}"
    message.full_clean()
    message.save()
    return message
