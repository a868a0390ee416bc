"""How a system calls the API: `Authorization: Bearer <token>` of an active ApiClient, within its rate
limit, never with a browser's session. Each refusal is an ApiError the views answer as OperationOutcome
(or, on the CDS Hooks routes, as the same JSON shape)."""

import functools
import time

import orjson
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Case, F, Value, When
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from .models import ApiClient, token_hash

FHIR_JSON = "application/fhir+json; charset=utf-8"


class ApiError(Exception):
    """A refusal: the HTTP status, the FHIR issue code and the sentence saying what was wrong."""

    def __init__(self, status: int, code: str, text: str, *, expression: str = "", headers=None):
        super().__init__(text)
        self.status, self.code, self.text, self.expression = status, code, text, expression
        self.headers = headers or {}


def outcome(issues: list[dict]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": issues}


def issue(severity: str, code: str, text: str, expression: str = "") -> dict:
    found = {"severity": severity, "code": code, "diagnostics": text}
    if expression:
        found["expression"] = [expression]
    return found


def json_response(body, *, status: int = 200, content_type: str = FHIR_JSON, headers=None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type=content_type)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(error: ApiError, *, content_type: str = FHIR_JSON) -> HttpResponse:
    body = outcome([issue("error", error.code, error.text, error.expression)])
    response = json_response(body, status=error.status, content_type=content_type, headers=error.headers)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="myolab"'
    return response


def authenticate(request, *, write: bool = False) -> ApiClient:
    """The active client whose token the request carries (one query), within its rate limit; with
    `write`, one that may import. Sets request.user to the client's service account, whom the access
    log names. A browser's session cookie counts for nothing here."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, "login", "Authorization is missing: send 'Authorization: Bearer <token>' with an API client's token."
        )
    client = ApiClient.objects.select_related("user").filter(token_hash=token_hash(token.strip())).first()
    if client is None:
        raise ApiError(401, "login", "The bearer token is not one Myolab issued.")
    if not client.is_active:
        raise ApiError(401, "login", f"The token of API client '{client.name}' was revoked.")
    check_rate(client)
    if write and not client.can_import:
        raise ApiError(
            403, "forbidden", f"API client '{client.name}' may only read: importing needs a client that may import."
        )
    request.user = client.user
    request.api_client = client
    return client


def check_rate(client: ApiClient) -> None:
    """At most API_REQUESTS_PER_MINUTE requests per client per clock minute: one UPDATE of the client's
    row that counts the request unless the minute's count is already at the limit (0 rows: refused).
    Exact across server processes, since the database does the counting."""
    minute = int(time.time() // 60)
    limit = settings.API_REQUESTS_PER_MINUTE
    counted = (
        ApiClient.objects.filter(pk=client.pk)
        .exclude(rate_minute=minute, rate_count__gte=limit)
        .update(
            rate_count=Case(When(rate_minute=minute, then=F("rate_count") + 1), default=Value(1)),
            rate_minute=minute,
        )
    )
    if not counted:
        wait = 60 - int(time.time()) % 60
        raise ApiError(
            429,
            "throttled",
            f"API client '{client.name}' has made {limit} requests this minute, its limit; try again in {wait} "
            "seconds.",
            headers={"Retry-After": str(wait)},
        )


def api_view(*, methods=("GET",), write: bool = False, content_type: str = FHIR_JSON):
    """A view for systems: token-authenticated (never the login session, so no login redirect and no
    CSRF check: a cross-site form cannot send the Authorization header), refusals as OperationOutcome.
    The view is called as view(request, client, **kwargs)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                client = authenticate(request, write=write and request.method in methods)
                if request.method not in methods:
                    raise ApiError(
                        405,
                        "not-supported",
                        f"{request.method} is not served here (allowed: {', '.join(methods)}).",
                        headers={"Allow": ", ".join(methods)},
                    )
                return view(request, client, *args, **kwargs)
            except ApiError as error:
                return error_response(error, content_type=content_type)

        return login_not_required(csrf_exempt(wrapper))

    return decorate
