"""The ADE's evaluation pages, mounted at the site root by config.urls."""

from __future__ import annotations

from django.urls import path

from evaluation import views

app_name = "evaluation"

urlpatterns = [
    path("evaluations/", views.evaluation_list, name="list"),
    path("evaluations/<str:evaluation_id>/", views.evaluation_detail, name="detail"),
    path(
        "evaluations/<str:evaluation_id>/report.json",
        views.evaluation_report_json,
        name="report_json",
    ),
    path(
        "evaluations/<str:evaluation_id>/report.csv",
        views.evaluation_report_csv,
        name="report_csv",
    ),
    path("evaluations/<str:evaluation_id>/cancel/", views.evaluation_cancel, name="cancel"),
    path("evaluations/<str:evaluation_id>/resume/", views.evaluation_resume, name="resume"),
    path("evaluations/<str:evaluation_id>/delete/", views.evaluation_delete, name="delete"),
]
