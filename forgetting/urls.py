"""The ADE's forgetting page, mounted at the site root by config.urls."""

from __future__ import annotations

from django.urls import path

from forgetting import views

app_name = "forgetting"

urlpatterns = [
    path("agents/<str:agent_id>/forget/", views.forget_page, name="page"),
    path("agents/<str:agent_id>/forget/tool/", views.forget_tool, name="tool"),
]
