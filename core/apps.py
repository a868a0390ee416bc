from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared helpers, its template library ({% load core %}) and one model of its own (UsedFormKey)."""

    name = "core"
