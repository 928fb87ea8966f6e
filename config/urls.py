from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from accounts import views as accounts_views
from config.api import api
from config.views import home

# An unknown /v1 route answers JSON like every API error (config/views.py).
handler404 = "config.views.not_found"

urlpatterns = [
    path("", home, name="home"),
    path("login/", accounts_views.LoginView.as_view(), name="login"),
    # Django's LogoutView accepts POST only, so a link or a prefetch cannot log anyone out.
    path("logout/", accounts_views.logout, name="logout"),
    path("admin/", admin.site.urls),
    path("v1/", api.urls),
    path("", include("accounts.urls")),
    path("", include("agents.urls")),
    path("", include("memory.urls")),
    path("", include("sources.urls")),
    path("", include("forgetting.urls")),
    path("", include("evaluation.urls")),
]
