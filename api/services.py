"""Issuing and revoking API client credentials (the admin calls these)."""

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .models import ApiClient, token_hash

TOKEN_PREFIX = "myo_"  # noqa: S105 - a marker that says what a token is, not a secret


@transaction.atomic
def issue_client(*, name: str, can_import: bool = False, by) -> tuple[ApiClient, str]:
    """A new client and its bearer token, which is returned here once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(
        name=name.strip(),
        can_import=can_import,
        token_hash=token_hash(token),
        token_prefix=token[:12],
        created_at=timezone.now(),
        created_by=by,
    )
    client.full_clean(exclude=["user"])
    user = get_user_model()(
        username=f"api-client-{secrets.token_hex(4)}",
        first_name="API client",
        last_name=client.name[:150],
        is_active=False,
    )
    user.set_unusable_password()
    user.full_clean()
    user.save()
    client.user = user
    client.save()
    return client, token


@transaction.atomic
def revoke_client(client: ApiClient, *, by) -> ApiClient:
    """The client's token stops working at its next request; the record stays, with who revoked it."""
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    if client.revoked_at is None:
        client.revoked_at, client.revoked_by = timezone.now(), by
        client.full_clean()
        client.save(update_fields=["revoked_at", "revoked_by"])
    return client
