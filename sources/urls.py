"""The ADE's sources panel, mounted at the site root by config.urls."""

from __future__ import annotations

from django.urls import path

from sources import views

app_name = "sources"

urlpatterns = [
    path("agents/<str:agent_id>/sources/", views.sources_panel, name="panel"),
    path("agents/<str:agent_id>/sources/attach/", views.source_attach, name="attach"),
    path("agents/<str:agent_id>/sources/new/", views.source_create, name="create"),
    path(
        "agents/<str:agent_id>/sources/<str:source_id>/detach/",
        views.source_detach,
        name="detach",
    ),
    path(
        "agents/<str:agent_id>/sources/<str:source_id>/trust/",
        views.source_trust,
        name="trust",
    ),
    path("sources/<str:source_id>/upload/", views.file_upload, name="upload"),
    path(
        "sources/<str:source_id>/files/<str:file_id>/delete/",
        views.file_delete,
        name="file_delete",
    ),
]
