"""A CDS Hooks 2.0 service (https://cds-hooks.hl7.org/2.0/): on `patient-view`, a card per finding of
the patient's that still needs something (a critical result to acknowledge, a decision, a follow-up
still planned), most pressing first, each linking back to the finding's page.

Authorisation: `Authorization: Bearer <token>` of a Myolab API client, on discovery and on calls. The
spec's JWT signed by the EHR is not verified (a JWT sent as the bearer token is refused as unknown).

Which patient: the prefetched Patient's identifier in one of FHIR_MRN_SYSTEMS (its value the MRN);
only without a prefetched Patient is `context.patientId` read as Myolab's patient id. A patient Myolab
does not know gets no cards (200, {"cards": []}), as the spec asks of a service with nothing to say.
"""

import json
import uuid

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from guidance.models import Finding, Severity, Topic
from guidance.selectors import ATTENTION_RANK, ATTENTION_SHOWN, CLOSED_RANK
from patients.models import AccessLogEntry, Patient
from patients.services import log_access

from .auth import ApiError, api_view, json_response

SERVICE_ID = "myolab-findings"
JSON = "application/json"
CARD_NAMESPACE = uuid.UUID("0b7f5a52-3f7e-4c1e-9a0e-2d4c6b8e1f30")
SUMMARY_LENGTH = 139
INDICATORS = {Severity.URGENT: "critical", Severity.PROMPT: "warning", Severity.ROUTINE: "info"}
NEEDS = {0: "Critical result to acknowledge", 1: "Needs a decision", 2: "Follow-up planned"}


@api_view(content_type=JSON)
def discovery(request, client):
    return json_response(
        {
            "services": [
                {
                    "hook": "patient-view",
                    "id": SERVICE_ID,
                    "title": "Myolab: lab findings needing attention",
                    "description": "A card for each of the patient's muscle-related lab findings (vitamin D, "
                    "magnesium, calcium, potassium, CK, carnitine) still awaiting acknowledgement, a decision "
                    "or a planned follow-up, with a link to the finding in Myolab.",
                    "prefetch": {"patient": "Patient/{{context.patientId}}"},
                    "usageRequirements": "Authorization: Bearer <token> of a Myolab API client.",
                }
            ]
        },
        content_type=JSON,
    )


@api_view(methods=("POST",), content_type=JSON)
def service(request, client, service_id):
    if service_id != SERVICE_ID:
        raise ApiError(404, "not-found", f"No CDS service '{service_id}' here (GET /cds-services lists them).")
    body = _body(request)
    patient = _patient(body)
    if patient is None:
        return json_response({"cards": []}, content_type=JSON)
    log_access(request, patient, AccessLogEntry.What.CDS_HOOKS, api_client=client.name)
    findings = list(
        Finding.objects.filter(patient=patient)
        .annotate(rank=ATTENTION_RANK)
        .filter(rank__lt=CLOSED_RANK)
        .select_related("result__analyte", "partner_result__analyte")
        .order_by("rank", "-created_at", "id")[: ATTENTION_SHOWN + 1]
    )
    topics = Topic.objects.only("slug", "title", "sources").in_bulk({f.topic_id for f in findings if f.topic_id})
    for finding in findings:
        if finding.topic_id:
            finding.topic = topics[finding.topic_id]  # its title, without a query per finding
    cards = [_card(request, finding, finding.topic) for finding in findings[:ATTENTION_SHOWN]]
    if len(findings) > ATTENTION_SHOWN:
        cards.append(_more_card(request, patient))
    return json_response({"cards": cards}, content_type=JSON)


def _body(request) -> dict:
    if request.content_type != JSON:
        raise ApiError(
            415,
            "not-supported",
            f"Content-Type '{request.content_type or 'none'}' is not taken: send application/json.",
        )
    try:
        body = json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "invalid", "The body is not JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid", "The body is not a JSON object.")
    if body.get("hook") != "patient-view":
        raise ApiError(
            400,
            "invalid",
            f"hook '{body.get('hook')}' is not served: this service answers patient-view.",
            expression="hook",
        )
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        raise ApiError(400, "invalid", "hookInstance is missing (a UUID for this call).", expression="hookInstance")
    context = body.get("context")
    if not isinstance(context, dict) or not isinstance(context.get("patientId"), str):
        raise ApiError(
            400,
            "invalid",
            "context.patientId is missing (patient-view's context names the patient).",
            expression="context.patientId",
        )
    prefetch = body.get("prefetch")
    if prefetch is not None and not isinstance(prefetch, dict):
        raise ApiError(400, "invalid", "prefetch is not an object.", expression="prefetch")
    return body


def _patient(body: dict) -> Patient | None:
    prefetched = (body.get("prefetch") or {}).get("patient")
    if isinstance(prefetched, dict) and prefetched.get("resourceType") == "Patient":
        mrns = [
            str(identifier["value"])
            for identifier in prefetched.get("identifier") or []
            if isinstance(identifier, dict)
            and identifier.get("system") in settings.FHIR_MRN_SYSTEMS
            and identifier.get("value")
        ]
        found = list(Patient.objects.filter(mrn__in=mrns)[:2]) if mrns else []
        return found[0] if len(found) == 1 else None
    patient_id = body["context"]["patientId"]
    if patient_id.isascii() and patient_id.isdigit() and len(patient_id) < 19:
        return Patient.objects.filter(pk=int(patient_id)).first()
    return None


def _absolute(request, name: str, *args) -> str:
    return request.build_absolute_uri(reverse(name, args=args))


def _card(request, finding: Finding, topic: Topic | None) -> dict:
    result = finding.result
    need = NEEDS[finding.rank]
    summary = f"{finding.title}: {need.lower()}"
    if len(summary) > SUMMARY_LENGTH:
        summary = summary[: SUMMARY_LENGTH - 1].rstrip() + "…"
    paragraphs = [
        finding.summary,
        f"**{result.analyte.name}:** {result.display_value} {result.analyte.canonical_unit} "
        f"({result.get_flag_display().lower()}), collected {timezone.localtime(result.collected_at):%Y-%m-%d %H:%M}.",
        f"**Status in Myolab:** {finding.get_status_display()}; {need.lower()}.",
    ]
    if topic is not None and topic.sources.strip():
        paragraphs += ["**Sources:**", topic.sources.strip()]
    source = {"label": f"Myolab guidance: {topic.title}" if topic else "Myolab guidance"}
    if topic is not None:
        source["url"] = _absolute(request, "guidance:topic", topic.slug)
    indicator = "critical" if finding.critical else INDICATORS[finding.severity]
    return {
        "uuid": str(uuid.uuid5(CARD_NAMESPACE, f"finding/{finding.pk}/{finding.status}")),
        "summary": summary,
        "detail": "\n\n".join(paragraphs),
        "indicator": indicator,
        "source": source,
        "links": [
            {
                "label": "Open the finding in Myolab",
                "url": _absolute(request, "guidance:finding", finding.pk),
                "type": "absolute",
            }
        ],
    }


def _more_card(request, patient: Patient) -> dict:
    return {
        "uuid": str(uuid.uuid5(CARD_NAMESPACE, f"patient/{patient.pk}/more")),
        "summary": f"More findings need attention than the {ATTENTION_SHOWN} shown: open the patient in Myolab.",
        "indicator": "info",
        "source": {"label": "Myolab guidance"},
        "links": [
            {
                "label": "Open the patient in Myolab",
                "url": _absolute(request, "guidance:patient_page", patient.pk),
                "type": "absolute",
            }
        ],
    }
