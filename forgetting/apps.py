from __future__ import annotations

from django.apps import AppConfig


class ForgettingConfig(AppConfig):
    name = "forgetting"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Here, not at import: the tools import the app's services, and so its models.
        from forgetting.tools import register_tools

        register_tools()
