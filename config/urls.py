"""The project's URLs: each app's patterns, included once, plus the home page and the health check.

Each route is registered in one place. The app that serves a page is the one at the top of what the page
needs (docs/architecture.md): the patient page and the result writes are guidance's, the exports are
the exports app's.
"""

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
    path("", include("patients.urls")),
    path("", include("labs.urls")),
    path("", include("guidance.urls")),
    path("", include("exports.urls")),
    path("admin/", admin.site.urls),
    # No trailing slash: SECURE_REDIRECT_EXEMPT matches "healthz" so load balancers can use plain HTTP.
    path("healthz", healthz, name="healthz"),
]
