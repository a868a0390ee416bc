from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.views import healthz
from guidance import services as guidance_services
from guidance import views as guidance_views
from labs import views as labs_views

admin.site.site_header = "Myolab administration"
admin.site.site_title = "Myolab admin"

urlpatterns = [
    # The worklist is the home page after login.
    path("", guidance_views.worklist, name="home"),
    # Only log in and out. Django's other auth URLs (password reset by e-mail, which any visitor may
    # use, and password change) are not served: administrators set passwords (see the README).
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The patient page and the result writes need both labs and guidance, so the project composes them
    # here: guidance serves the page, and labs' write views call guidance's services, which save the
    # results and open or resolve findings in the same transaction. Listed before labs.urls, whose
    # patterns of the same paths keep their names for reversing.
    path("patients/<int:pk>/", guidance_views.patient_chart, name="patient"),
    path(
        "patients/<int:pk>/results/new/",
        labs_views.enter_results,
        {"record_panel": guidance_services.record_results},
    ),
    path("results/<int:pk>/correct/", labs_views.correct_result, {"correct": guidance_services.correct_result}),
    path(
        "results/<int:pk>/entered-in-error/",
        labs_views.mark_entered_in_error,
        {"mark_in_error": guidance_services.mark_entered_in_error},
    ),
    path("", include("labs.urls")),
    path("", include("patients.urls")),
    path("", include("guidance.urls")),
    path("", include("guidance.exports.urls")),
    path("admin/", admin.site.urls),
    # No trailing slash: SECURE_REDIRECT_EXEMPT matches "healthz" so load balancers can use plain HTTP.
    path("healthz", healthz, name="healthz"),
]

# A lost database connection answers 503 with Retry-After instead of 500 (config/views.py).
handler500 = "config.views.server_error"
