"""Reading a FHIR R4 Bundle of laboratory Observations into the structure the HL7 v2 path uses.

Pure (no database): `read_bundle` turns a Bundle (type transaction, batch or collection) holding
laboratory Observations for one patient into an `oru.OruMessage`, so interfaces.services plans and
imports it exactly as it does an ORU^R01: the same patient matching, the same idempotency (the
Bundle's identifier plays MSH-10), the same queue, findings and message log.

What each FHIR element becomes:

| FHIR | HL7 v2 equivalent in OruMessage |
|---|---|
| Bundle.identifier.value (else Bundle.id) | MSH-10 control ID (a resend is recognised by it) |
| the API client's name | MSH-4 sending facility (panels' lab name, local code mappings) |
| Patient.identifier (system, value), birthDate, gender (else US Core's individual sex) | PID-3 (authority = system), PID-7, PID-8 |
| Observation.identifier of type ACSN or FILL (v2-0203) | OBR-3 filler (accession) number |
| Observation.code.coding (LOINC, else the first coding) | OBX-3 |
| valueQuantity value / comparator / code (else unit) | OBX-5 (SN when censored) / OBX-6 |
| status final, amended/corrected, entered-in-error, preliminary, registered, cancelled | OBX-11 F, C, W, P, I, X |
| effectiveDateTime (else effectivePeriod.start) | OBX-14 |
| interpretation code, referenceRange text or low–high | OBX-8, OBX-7 |
| note.text | NTE |

Every observation is named "entry N" (its place in Bundle.entry, from 1) in the messages about it, so
the answer can say per entry what became of it. A Bundle that is not readable this way raises
`oru.Refused`, whose text names the element, what it held and what is allowed.
"""

import json
import re

from .oru import Header, Identifier, Observation, Order, OruMessage, PatientIdentity, Refused

MESSAGE_TYPE = "FHIR Bundle"
SENDING_APPLICATION = "FHIR API"
BUNDLE_TYPES = ("transaction", "batch", "collection")
LOINC_SYSTEMS = ("http://loinc.org",)
ACCESSION_TYPES = ("ACSN", "FILL")
# Observation.status (FHIR) to OBX-11 (HL7 table 0085): the same meanings.
STATUSES = {
    "final": "F",
    "amended": "C",
    "corrected": "C",
    "entered-in-error": "W",
    "preliminary": "P",
    "registered": "I",
    "cancelled": "X",
}
GENDERS = {"female": "F", "male": "M", "other": "O", "unknown": "U"}
# Without Patient.gender: US Core's individual sex extension (SNOMED CT codes), the sex the reference
# ranges are chosen by.
INDIVIDUAL_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-individual-sex"
SNOMED_SEXES = {"248152002": "F", "248153007": "M"}
COMPARATORS = ("<", "<=", ">=", ">")
DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$")


# The planning (interfaces.services) names HL7 fields in what it says of an observation or the patient;
# for a Bundle, plan_message says it in FHIR's terms. Longest first, where one contains another.
FHIR_TERMS = [
    ("OBX-11 W/D", "status entered-in-error"),
    ("OBX-11 C", "status corrected or amended"),
    ("OBX-11 P", "status preliminary"),
    ("OBX-11 I", "status registered"),
    ("OBX-11 X", "status cancelled"),
    ("OBX-6 unit is empty and", "valueQuantity has no code or unit and"),
    ("OBX-5", "valueQuantity"),
    ("OBX-14", "effectiveDateTime"),
    ("The message has no PID segment", "The Bundle names no patient"),
    (
        "PID-3 holds no patient identifier Myolab can match",
        "Patient.identifier holds no identifier of FHIR_MRN_SYSTEMS",
    ),
    ("PID-3 identifiers", "Patient.identifier values"),
    ("(PID-3)", "(Patient.identifier)"),
    ("PID-7 birth date", "Patient.birthDate"),
    ("is not an HL7 date (YYYYMMDD)", "is not a date"),
    ("PID-8 sex", "Patient.gender"),
    ("OBR-3 accession", "accession"),
]


def in_fhir_terms(text: str) -> str:
    for hl7_name, fhir_name in FHIR_TERMS:
        text = text.replace(hl7_name, fhir_name)
    return text


def is_fhir(text: str) -> bool:
    """A FHIR JSON resource rather than an HL7 v2 message (which starts with MSH)."""
    return text.lstrip("\ufeff \t\r\n").startswith("{")


def read_header(text: str, *, sender: str) -> Header:
    bundle = _load(text)
    return _header(bundle, sender)


def read_bundle(text: str, *, sender: str) -> OruMessage:
    """The Bundle `text` from the API client `sender` as an OruMessage; raises Refused."""
    bundle = _load(text)
    header = _header(bundle, sender)
    entries = bundle.get("entry") or []
    if not isinstance(entries, list) or not entries:
        raise Refused("Bundle.entry is empty: send the Patient and its laboratory Observations.", code="101")
    patients, observations = [], []
    for number, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise Refused(f"entry {number}: has no resource.", code="101")
        kind = resource.get("resourceType")
        if kind == "Patient":
            patients.append((number, entry, resource))
        elif kind == "Observation":
            observations.append((number, resource))
        else:
            raise Refused(
                f"entry {number}: resourceType '{kind}' is not taken (a Bundle holds one Patient and laboratory "
                "Observations).",
                code="200",
            )
    if len(patients) > 1:
        raise Refused("The Bundle holds more than one Patient: send one patient's results per Bundle.", code="100")
    if not observations:
        raise Refused("The Bundle holds no Observation.", code="101")
    patient = _read_patient(*patients[0]) if patients else None
    subjects = {_subject(number, resource) for number, resource in observations}
    if len(subjects) > 1:
        raise Refused("The Observations name different subjects: send one patient's results per Bundle.", code="100")
    if patient is None:
        patient = _identity_from_subject(observations[0][1])
    elif patients and subjects - {"", *_names_of(patients[0][1], patients[0][2])}:
        raise Refused(
            f"The Observations' subject '{subjects.pop()}' is not the Bundle's Patient (entry {patients[0][0]}).",
            code="100",
        )
    orders: dict[tuple[str, str], Order] = {}
    for number, resource in observations:
        observation = _read_observation(number, resource)
        accession = _accession(resource)
        order = orders.setdefault(
            (accession.lower(), observation.observed_at),
            Order(filler_number=accession, observed_at=observation.observed_at, service=""),
        )
        order.observations.append(observation)
    return OruMessage(header=header, patient=patient, orders=list(orders.values()))


def _load(text: str) -> dict:
    try:
        bundle = json.loads(text)
    except json.JSONDecodeError as error:
        raise Refused(f"Not JSON: {error.msg} at line {error.lineno}, column {error.colno}.", code="102") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        kind = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        raise Refused(f"resourceType '{kind}' is not taken here: send a Bundle.", code="200")
    return bundle


def _header(bundle: dict, sender: str) -> Header:
    kind = bundle.get("type")
    if kind not in BUNDLE_TYPES:
        raise Refused(f"Bundle.type '{kind}' is not taken: send a {', '.join(BUNDLE_TYPES)} Bundle.", code="200")
    identifier = bundle.get("identifier") if isinstance(bundle.get("identifier"), dict) else {}
    control_id = str(identifier.get("value") or bundle.get("id") or "").strip()
    if not control_id:
        raise Refused(
            "Bundle.identifier.value (or Bundle.id) is empty: every Bundle needs one, so that a resend is "
            "recognised and imported once.",
            code="101",
        )
    return Header(
        sending_application=SENDING_APPLICATION,
        sending_facility=sender,
        control_id=control_id,
        message_type=MESSAGE_TYPE,
        processing_id="P",
        version="R4",
    )


def _names_of(entry: dict, patient: dict) -> set[str]:
    """The references an Observation may use for the Bundle's Patient."""
    names = {str(entry.get("fullUrl") or "")}
    if patient.get("id"):
        names.add(f"Patient/{patient['id']}")
    return {name for name in names if name}


def _subject(number: int, observation: dict) -> str:
    subject = observation.get("subject")
    if not isinstance(subject, dict):
        raise Refused(f"entry {number}: Observation.subject is missing: name the patient.", code="101")
    reference = str(subject.get("reference") or "")
    identifier = subject.get("identifier") if isinstance(subject.get("identifier"), dict) else {}
    if not reference and identifier:
        return f"{identifier.get('system', '')}|{identifier.get('value', '')}"
    return reference


def _read_patient(number: int, entry: dict, patient: dict) -> PatientIdentity:
    identifiers = []
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("value"):
            identifiers.append(_identifier(identifier))
    names = [name for name in patient.get("name") or [] if isinstance(name, dict)]
    name = next((n for n in names if n.get("use") in ("official", "usual")), names[0] if names else {})
    return PatientIdentity(
        identifiers=identifiers,
        family_name=str(name.get("family") or ""),
        given_name=" ".join(str(given) for given in name.get("given") or []),
        # PID-7 and PID-8 as HL7 writes them, so interfaces.mapping reads them.
        birth_date=str(patient.get("birthDate") or "").replace("-", ""),
        sex=_sex(patient),
    )


def _sex(patient: dict) -> str:
    """PID-8's letter for Patient.gender, else for the individual sex extension; what was sent if neither
    is known (the match then says it does not agree)."""
    gender = str(patient.get("gender") or "")
    if gender:
        return GENDERS.get(gender, gender)
    for extension in patient.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == INDIVIDUAL_SEX:
            code = str((extension.get("valueCoding") or {}).get("code") or "")
            return SNOMED_SEXES.get(code, code)
    return ""


def _identifier(identifier: dict) -> Identifier:
    codings = (identifier.get("type") or {}).get("coding") or []
    return Identifier(
        id=str(identifier["value"]).strip(),
        authority=str(identifier.get("system") or ""),
        type=str(codings[0].get("code") or "") if codings and isinstance(codings[0], dict) else "",
    )


def _identity_from_subject(observation: dict) -> PatientIdentity:
    """No Patient in the Bundle: the subject's identifier (no birth date or sex, so the match is held)."""
    identifier = observation["subject"].get("identifier")
    identifiers = [_identifier(identifier)] if isinstance(identifier, dict) and identifier.get("value") else []
    return PatientIdentity(identifiers=identifiers, family_name="", given_name="", birth_date="", sex="")


def _accession(observation: dict) -> str:
    for identifier in observation.get("identifier") or []:
        if not isinstance(identifier, dict) or not identifier.get("value"):
            continue
        codes = {c.get("code") for c in (identifier.get("type") or {}).get("coding") or [] if isinstance(c, dict)}
        if codes & set(ACCESSION_TYPES):
            return str(identifier["value"]).strip()
    return ""


def _read_observation(number: int, resource: dict) -> Observation:
    where = f"entry {number}"
    codings = [c for c in (resource.get("code") or {}).get("coding") or [] if isinstance(c, dict) and c.get("code")]
    if not codings:
        raise Refused(f"{where}: Observation.code has no coding: send the test's LOINC code.", code="101")
    coding = next((c for c in codings if c.get("system") in LOINC_SYSTEMS), codings[0])
    status = str(resource.get("status") or "")
    if status not in STATUSES:
        raise Refused(
            f"{where}: Observation.status '{status or 'empty'}' is not one FHIR defines ({', '.join(STATUSES)}).",
            code="103",
        )
    quantity = resource.get("valueQuantity")
    value_type, value, units = "NM", [], ""
    if isinstance(quantity, dict):
        number_value = quantity.get("value")
        if isinstance(number_value, bool) or not isinstance(number_value, int | float):
            raise Refused(f"{where}: Observation.valueQuantity.value '{number_value}' is not a number.", code="102")
        comparator = quantity.get("comparator")
        if comparator is not None and comparator not in COMPARATORS:
            raise Refused(
                f"{where}: valueQuantity.comparator '{comparator}' is not one FHIR defines ({', '.join(COMPARATORS)}).",
                code="103",
            )
        text = _decimal_text(number_value)
        value_type, value = ("SN", [comparator, text]) if comparator else ("NM", [text])
        units = str(quantity.get("code") or quantity.get("unit") or "")
    elif status in ("final", "amended", "corrected"):
        raise Refused(f"{where}: a {status} laboratory Observation needs a valueQuantity.", code="101")
    code_text = (resource.get("code") or {}).get("text") or coding.get("display") or ""
    return Observation(
        set_id=str(number),
        value_type=value_type,
        code=str(coding["code"]),
        text=f"{where}, {code_text}".rstrip(", "),
        system="LN" if coding.get("system") in LOINC_SYSTEMS else str(coding.get("system") or ""),
        alt_code="",
        alt_system="",
        value=value,
        units=units,
        range_text=_range_text(resource),
        flags=_interpretation(resource),
        status=STATUSES[status],
        observed_at=_hl7_time(where, resource),
        notes=[str(note["text"]) for note in resource.get("note") or [] if isinstance(note, dict) and note.get("text")],
    )


def _decimal_text(value) -> str:
    """A JSON number as the decimal text it was written as (7.7 stays 7.7, not 7.7000000000000002)."""
    return repr(value) if isinstance(value, float) else str(value)


def _hl7_time(where: str, resource: dict) -> str:
    """effectiveDateTime (else effectivePeriod.start) as an HL7 timestamp (YYYYMMDDHHMMSS±ZZZZ)."""
    text = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
    if not text:
        raise Refused(f"{where}: Observation.effectiveDateTime is missing: send when the sample was taken.", code="101")
    match = DATE_TIME.match(str(text))
    if not match:
        raise Refused(
            f"{where}: Observation.effectiveDateTime '{text}' is not a FHIR dateTime of a day or an instant "
            "(YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz).",
            code="102",
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    stamp = f"{year}{month}{day}{hour or ''}{minute or ''}{second or ''}{(fraction or '')[:5]}"
    if zone:
        stamp += "+0000" if zone == "Z" else zone.replace(":", "")
    return stamp


def _interpretation(resource: dict) -> str:
    for concept in resource.get("interpretation") or []:
        for coding in (concept or {}).get("coding") or []:
            if isinstance(coding, dict) and coding.get("code"):
                return str(coding["code"])
    return ""


def _range_text(resource: dict) -> str:
    for reference in resource.get("referenceRange") or []:
        if not isinstance(reference, dict):
            continue
        if reference.get("text"):
            return str(reference["text"])
        low, high = (reference.get(end) or {} for end in ("low", "high"))
        if "value" in low or "value" in high:
            return f"{low.get('value', '')}-{high.get('value', '')}"
    return ""
