from __future__ import annotations

from django.apps import AppConfig


class ForgettingConfig(AppConfig):
    name = "forgetting"
    default_auto_field = "django.db.models.BigAutoField"
