"""The project's URLs: each app's patterns, included once, plus the home page and the health check.

Each route is registered in one place. The app that serves a page is the one at the top of what the page
needs (docs/architecture.md): the patient page and the result writes are guidance's, the exports are
the exports app's.
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from config import two_factor
from config.views import healthz
from guidance import views as guidance_views

admin.site.site_header = "Myolab administration"
admin.site.site_title = "Myolab admin"
# The admin's own login page would sign in on the password alone, skipping the code: it sends people to
# ours, with their ?next=.
admin.site.login = login_not_required(RedirectView.as_view(pattern_name="login", query_string=True))

urlpatterns = [
    # The worklist is the home page after login.
    path("", guidance_views.worklist, name="home"),
    # Only these sign-in routes: Django's other auth URLs (password reset by e-mail, which any visitor
    # may use, and password change) are not served; administrators set passwords (see the README).
    # Two-factor sign-in (config/two_factor.py): the password, then the code for an account with an app.
    path("login/", two_factor.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("login/code/", two_factor.login_code, name="login_code"),
    path("account/two-factor/", two_factor.setup, name="two_factor_setup"),
    path("account/two-factor/recovery-codes/", two_factor.new_recovery_codes, name="two_factor_recovery_codes"),
    path("", include("patients.urls")),
    path("", include("labs.urls")),
    path("", include("guidance.urls")),
    path("", include("exports.urls")),
    path("", include("interfaces.urls")),
    path("", include("api.urls")),
    path("admin/", admin.site.urls),
    # No trailing slash: SECURE_REDIRECT_EXEMPT matches "healthz" so load balancers can use plain HTTP.
    path("healthz", healthz, name="healthz"),
]

# A lost database connection answers 503 with Retry-After instead of 500 (config/views.py).
handler500 = "config.views.server_error"
