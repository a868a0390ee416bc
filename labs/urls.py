from django.urls import path

from . import views

app_name = "labs"

urlpatterns = [
    path("patients/<int:pk>/results/new/", views.enter_results, name="enter_results"),
    path("results/<int:pk>/correct/", views.correct_result, name="correct_result"),
    path("results/<int:pk>/entered-in-error/", views.mark_entered_in_error, name="mark_entered_in_error"),
    path("results/<int:pk>/history/", views.result_history, name="result_history"),
]
