from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from config import two_factor
from config.views import healthz
from guidance import services as guidance_services
from guidance import views as guidance_views
from labs import views as labs_views

admin.site.site_header = "Myolab administration"
admin.site.site_title = "Myolab admin"

urlpatterns = [
    # The worklist is the home page after login.
    path("", guidance_views.worklist, name="home"),
    # Two-factor sign-in (config/two_factor.py): the password, then the code for an account with an app.
    # Listed before Django's auth URLs, whose login page would sign in on the password alone.
    path("login/", two_factor.LoginView.as_view(), name="login"),
    path("login/code/", two_factor.login_code, name="login_code"),
    path("account/two-factor/", two_factor.setup, name="two_factor_setup"),
    path("account/two-factor/recovery-codes/", two_factor.new_recovery_codes, name="two_factor_recovery_codes"),
    # The admin's own login page would skip the code too: it sends people to ours, with their ?next=.
    path("admin/login/", login_not_required(RedirectView.as_view(pattern_name="login", query_string=True))),
    path("", include("django.contrib.auth.urls")),
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
