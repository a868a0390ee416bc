from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Myolab administration"
admin.site.site_title = "Myolab admin"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="patients:list"), name="home"),
    path("", include("django.contrib.auth.urls")),
    path("", include("patients.urls")),
    path("admin/", admin.site.urls),
]
