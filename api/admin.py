from django import forms
from django.contrib import admin, messages

from core.admin import NoDeleteAdmin

from . import services
from .models import ApiClient


class ApiClientForm(forms.ModelForm):
    class Meta:
        model = ApiClient
        fields = ["name", "can_import"]


@admin.register(ApiClient)
class ApiClientAdmin(NoDeleteAdmin):
    """Administrators issue a client (its token is shown once, on the page after saving) and revoke it.
    A client is never edited: a new scope or name is a new client, so the log's names stay true."""

    form = ApiClientForm
    list_display = ["name", "can_import", "token_prefix", "created_at", "created_by", "revoked_at", "revoked_by"]
    list_filter = ["can_import", "revoked_at"]
    search_fields = ["name", "token_prefix"]
    list_select_related = ["created_by", "revoked_by"]
    readonly_fields = [
        "name",
        "can_import",
        "token_prefix",
        "user",
        "created_at",
        "created_by",
        "revoked_at",
        "revoked_by",
    ]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj else ["name", "can_import"]

    def has_change_permission(self, request, obj=None):
        # The change page shows the client read-only; revoking is the list's action.
        return super().has_change_permission(request, obj) and obj is None

    def save_model(self, request, obj, form, change):
        client, token = services.issue_client(
            name=form.cleaned_data["name"], can_import=form.cleaned_data["can_import"], by=request.user
        )
        obj.pk = client.pk
        messages.warning(
            request,
            f"The token of {client.name} is {token} — copy it now into the system that will use it: "
            "Myolab keeps only its hash and cannot show it again.",
        )

    @admin.action(description="Revoke selected API clients", permissions=["revoke"])
    def revoke(self, request, queryset):
        clients = [services.revoke_client(client, by=request.user) for client in queryset]
        self.message_user(request, f"Revoked {len(clients)} API client(s); their tokens no longer work.")

    def has_revoke_permission(self, request):
        return request.user.has_perm("api.change_apiclient")
