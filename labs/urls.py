from django.urls import path

from . import views

app_name = "labs"

urlpatterns = [
    path("results/<int:pk>/history/", views.result_history, name="result_history"),
    # The trend chart images of the patient page and the print summary (not an export: nothing logged).
    path("patients/<int:pk>/charts/<slug:code>.svg", views.trend_chart, name="trend_chart"),
]
