"""API client credentials: who may call the FHIR API and the CDS Hooks service, and whether they may
import. One concept: an administrator issues a client (a name and its scope), Myolab shows its bearer
token once and keeps only the token's SHA-256; revoking it ends its access at the next request."""

import hashlib

from django.conf import settings
from django.db import models


def token_hash(token: str) -> str:
    # A token is 32 random bytes (api.services.issue_client): a plain SHA-256 cannot be searched back,
    # and it lets a request find its client by one indexed lookup.
    return hashlib.sha256(token.encode()).hexdigest()


class ApiClientQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiClient(models.Model):
    name = models.CharField(
        max_length=100, unique=True, help_text="The system, as the access log and the message log will name it."
    )
    can_import = models.BooleanField(
        "may import results",
        default=False,
        help_text="Write scope: POST /fhir/Bundle imports results. Without it the client only reads.",
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(
        max_length=12, editable=False, help_text="The token's first characters, to tell tokens apart; not a secret."
    )
    # The service account the client acts as: the access log's and the results' history's "who". It
    # cannot sign in (inactive, no usable password).
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_client")
    created_at = models.DateTimeField(editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )

    # The rate limit's count (api.auth.check_rate): requests in the clock minute `rate_minute`.
    rate_minute = models.PositiveBigIntegerField(default=0, editable=False)
    rate_count = models.PositiveIntegerField(default=0, editable=False)

    objects = ApiClientQuerySet.as_manager()

    class Meta:
        verbose_name = "API client"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True, revoked_by__isnull=True)
                | models.Q(revoked_at__isnull=False, revoked_by__isnull=False),
                name="api_client_revoked_with_who",
                violation_error_message="A revoked client records who revoked it and when.",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
