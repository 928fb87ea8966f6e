from __future__ import annotations

from django.apps import AppConfig


class SourcesConfig(AppConfig):
    name = "sources"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Here, not at import: the schemas read the app's models.
        from agents.schemas import register_state_part
        from sources.schemas import SourceOut

        register_state_part(
            "sources",
            lambda agent: [
                SourceOut.from_orm(source).model_dump() for source in agent.sources.all()
            ],
        )
