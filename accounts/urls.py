from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("organization/switch/", views.switch_organization, name="switch"),
    path("organization/", views.organization, name="organization"),
    path("organization/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path(
        "organization/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("keys/", views.api_keys, name="api_keys"),
    path("keys/<str:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
]
