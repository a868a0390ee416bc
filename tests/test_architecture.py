"""The layout docs/architecture.md describes, checked: apps import only downwards, each route is
registered once, and a result is never saved without its findings."""

import ast
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import URLPattern, URLResolver, get_resolver

from guidance.models import Finding
from labs.models import Panel, Result
from patients.models import Patient

ROOT = Path(__file__).resolve().parent.parent
# Lowest first: a module may import from its own app and from the apps before it, never after it.
LAYERS = ["core", "patients", "labs", "guidance", "exports", "interfaces", "api", "benchmarks"]


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_imports_only_from_itself_and_the_apps_below_it(app):
    allowed = set(LAYERS[: LAYERS.index(app) + 1])
    upward = {
        str(path.relative_to(ROOT)): sorted(imported_apps(path) - allowed)
        for path in (ROOT / app).rglob("*.py")
        if imported_apps(path) - allowed
    }
    assert upward == {}


def test_the_layers_are_the_installed_apps_in_order(settings):
    assert [app for app in settings.INSTALLED_APPS if app in LAYERS] == LAYERS


def routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def test_each_route_is_registered_once():
    every = list(routes(get_resolver().url_patterns))
    assert len(every) > 40  # the walk reached the apps' patterns
    assert sorted({route for route in every if every.count(route) > 1}) == []


@pytest.mark.django_db
def test_labs_saves_no_results_guidance_is_the_one_write_path():
    import labs.services

    assert not {"record_panel", "correct_result", "mark_entered_in_error"} & set(vars(labs.services))


@pytest.mark.django_db
def test_findings_built_while_saving_results_are_checked_before_they_are_saved(record, patient, monkeypatch):
    """guidance.services._check_built runs each bulk-built finding's full_clean(): a finding that fails
    its checks stops the whole panel, results included."""

    def refuse(finding):
        raise ValidationError("refused by Finding.clean")

    monkeypatch.setattr(Finding, "clean", refuse)
    with pytest.raises(ValidationError, match="refused by Finding.clean"):
        record(patient, {"k": ("3.1", "mmol/L")})
    assert not Panel.objects.exists() and not Result.objects.exists() and not Finding.objects.exists()


@pytest.mark.django_db
def test_saving_results_moves_the_patient_up_the_last_activity_list(clinician_client, patient_factory, record):
    quiet = patient_factory(family_name="Quiet")
    busy = patient_factory(family_name="Busy")
    Patient.objects.update(last_activity_at="2026-01-01T09:00Z")
    Patient.objects.filter(pk=busy.pk).update(last_activity_at="2026-02-01T09:00Z")

    def order():
        page = clinician_client.get("/patients/?sort=activity").content.decode()
        return sorted(["Quiet", "Busy"], key=page.index)

    assert order() == ["Busy", "Quiet"]
    record(quiet, {"k": ("4.0", "mmol/L")})
    assert order() == ["Quiet", "Busy"]
