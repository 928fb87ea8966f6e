"""The ADE's agent pages, mounted at the site root by config.urls."""

from __future__ import annotations

from django.urls import path

from agents import views

app_name = "agents"

urlpatterns = [
    path("agents/", views.agent_list, name="list"),
    path("agents/new/", views.agent_create, name="create"),
    path("agents/<str:agent_id>/", views.agent_detail, name="detail"),
    path("agents/<str:agent_id>/delete/", views.agent_delete, name="delete"),
    path("agents/<str:agent_id>/messages/", views.agent_send_message, name="send_message"),
]
