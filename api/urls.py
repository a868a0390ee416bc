"""The API's routes: FHIR R4 under /fhir/, CDS Hooks under /cds-services. Token-authenticated
(api.auth), so open to no browser session and exempt from the login redirect and CSRF."""

from django.urls import path

from . import cds, views

app_name = "api"

urlpatterns = [
    path("fhir/metadata", views.metadata, name="metadata"),
    path("fhir/Patient", views.patient_search, name="patient_search"),
    path("fhir/Patient/<int:pk>", views.patient_read, name="patient"),
    path("fhir/Patient/<int:pk>/$everything", views.patient_everything, name="patient_everything"),
    path("fhir/Observation", views.observation_search, name="observation_search"),
    path("fhir/Observation/<int:pk>", views.observation_read, name="observation"),
    path("fhir/Task", views.task_search, name="task_search"),
    path("fhir/Task/<int:pk>", views.task_read, name="task"),
    path("fhir/Bundle", views.bundle_import, name="bundle_import"),
    # Anything else under /fhir/: a 404 OperationOutcome rather than the HTML page.
    path("fhir/<path:rest>", views.unknown, name="unknown"),
    path("fhir/", views.unknown, name="root"),
    path("cds-services", cds.discovery, name="cds_discovery"),
    path("cds-services/<str:service_id>", cds.service, name="cds_service"),
]
