from django.urls import path

from . import views

app_name = "guidance"

urlpatterns = [
    # The patient page (Patient.get_absolute_url) and the pages that write results: a result is saved with
    # its findings (guidance.services), so these pages are this app's.
    path("patients/<int:pk>/", views.patient_page, name="patient_page"),
    path("patients/<int:pk>/results/new/", views.enter_results, name="enter_results"),
    path("patients/<int:pk>/results/interpret/", views.interpret_value, name="interpret_value"),
    path("results/<int:pk>/correct/", views.correct_result, name="correct_result"),
    path("results/<int:pk>/entered-in-error/", views.mark_entered_in_error, name="mark_entered_in_error"),
    path("guidance/", views.topic_index, name="index"),
    path("guidance/worklist/<slug:which>/", views.worklist_list, name="worklist_list"),
    path("guidance/reports/<int:pk>/", views.report_review, name="report"),
    path("guidance/reports/<int:pk>/acknowledge/", views.report_acknowledge, name="report_acknowledge"),
    path("guidance/reports/<int:pk>/decide/", views.report_decide, name="report_decide"),
    path("guidance/findings/<int:pk>/", views.finding_detail, name="finding"),
    path("guidance/findings/<int:pk>/acknowledge/", views.finding_acknowledge, name="acknowledge"),
    path("guidance/findings/<int:pk>/no-action/", views.finding_no_action, name="no_action"),
    path("guidance/findings/<int:pk>/plans/new/", views.plan_create, name="plan_create"),
    path("guidance/plans/<int:pk>/edit/", views.plan_edit, name="plan_edit"),
    path("guidance/plans/<int:pk>/complete/", views.plan_complete, name="plan_complete"),
    path("guidance/plans/<int:pk>/cancel/", views.plan_cancel, name="plan_cancel"),
    path("guidance/<slug:slug>/", views.topic_detail, name="topic"),
]
