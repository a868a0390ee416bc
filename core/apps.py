from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Installed for its template library ({% load core %}); it has no models."""

    name = "core"
