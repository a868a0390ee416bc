from django.contrib import admin
from django.urls import include, path

from config.views import healthz
from guidance import views as guidance_views

admin.site.site_header = "Myolab administration"
admin.site.site_title = "Myolab admin"

urlpatterns = [
    # The worklist is the home page after login.
    path("", guidance_views.worklist, name="home"),
    path("", include("django.contrib.auth.urls")),
    # Before patients.urls: labs serves the patient page (/patients/<pk>/) with results.
    path("", include("labs.urls")),
    path("", include("patients.urls")),
    path("", include("guidance.urls")),
    path("", include("guidance.exports.urls")),
    path("admin/", admin.site.urls),
    # No trailing slash: SECURE_REDIRECT_EXEMPT matches "healthz" so load balancers can use plain HTTP.
    path("healthz", healthz, name="healthz"),
]
