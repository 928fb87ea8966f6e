from __future__ import annotations

from django.apps import AppConfig


class ReverieConfig(AppConfig):
    """The project's own app: the processes (`manage.py runstack`, `manage.py worker`)
    and the system checks that look at the whole deployment. No models."""

    name = "config"
    label = "reverie"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers system checks)
