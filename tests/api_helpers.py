"""Helpers for the API tests: an issued client and its bearer header, validation with fhir.resources,
and a patient with a long history written in bulk (the test of paging needs 1,000 results, not the
findings 1,000 panels would open)."""

import datetime
from decimal import Decimal

from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from api.services import issue_client
from labs.models import Analyte, Panel, Result


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def issue(by, name="Ward EHR", can_import=False):
    client, token = issue_client(name=name, can_import=can_import, by=by)
    return client, token


def validate(resource: dict):
    """Parse `resource` with fhir.resources' R4B model of its type; raises if it is not valid FHIR."""
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def long_history(patient, count, *, by, start=None, analyte_code="k"):
    """`count` normal results of one analyte, an hour apart, oldest first from `start`: panels and
    results inserted in bulk (no findings: every value is normal)."""
    analyte = Analyte.objects.get(code=analyte_code)
    start = start or timezone.make_aware(datetime.datetime(2020, 1, 1, 8, 0))
    times = [start + datetime.timedelta(hours=n) for n in range(count)]
    panels = Panel.objects.bulk_create([Panel(patient=patient, collected_at=at, entered_by=by) for at in times])
    results = Result.objects.bulk_create(
        [
            Result(
                panel=panel,
                patient=patient,
                collected_at=panel.collected_at,
                analyte=analyte,
                value_entered=Decimal("4.1"),
                unit_entered=analyte.canonical_unit,
                value=Decimal("4.1"),
                flag="N",
                range_low=Decimal("3.5"),
                range_high=Decimal("5.2"),
                updated_by=by,
            )
            for panel in panels
        ]
    )
    return results
