from django.urls import path

from . import views

app_name = "interfaces"

urlpatterns = [
    path("lab-messages/", views.message_list, name="message_list"),
    path("lab-messages/upload/", views.upload_file, name="upload"),
    path("lab-messages/imports/", views.import_jobs, name="import_jobs"),
    path("lab-messages/imports/<int:pk>/", views.import_job, name="import_job"),
    path("lab-messages/imports/<int:pk>/progress/", views.import_job_progress, name="import_job_progress"),
    path("lab-messages/imports/<int:pk>/resume/", views.resume_import_job, name="resume_import_job"),
    path("lab-messages/<int:pk>/", views.message_detail, name="message_detail"),
    path("lab-messages/<int:pk>/match/", views.match, name="match"),
    path("lab-messages/<int:pk>/reprocess/", views.reprocess, name="reprocess"),
    path("lab-messages/<int:pk>/reject/", views.reject, name="reject"),
]
