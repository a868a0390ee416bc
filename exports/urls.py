"""Export URLs. They are stable (other systems and bookmarks use them) and listed in the README."""

from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("patients/<int:pk>/summary/", views.patient_summary_view, name="summary"),
    path("patients/<int:pk>/summary.pdf", views.patient_summary_pdf, name="summary_pdf"),
    path("patients/<int:pk>/results.csv", views.patient_results_csv, name="results_csv"),
    path("patients/<int:pk>/fhir/", views.patient_fhir, name="fhir"),
    path("exports/cohort/", views.cohort_form, name="cohort_form"),
    path("exports/cohort.csv", views.cohort_csv, name="cohort_csv"),
]
