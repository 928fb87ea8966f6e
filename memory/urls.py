"""The ADE's memory pages, mounted at the site root by config.urls."""

from __future__ import annotations

from django.urls import path

from memory import views

app_name = "memory"

urlpatterns = [
    path("blocks/<str:block_id>/", views.block_detail, name="block_detail"),
    path("blocks/<str:block_id>/edit/", views.block_edit, name="block_edit"),
    path("blocks/<str:block_id>/history/", views.block_history, name="block_history"),
    path("blocks/<str:block_id>/revert/", views.block_revert, name="block_revert"),
]
