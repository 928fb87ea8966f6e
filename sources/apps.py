from __future__ import annotations

from django.apps import AppConfig


class SourcesConfig(AppConfig):
    name = "sources"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # What the sources app adds to an agent's page, its state and its Agent File.
        # Here, not at import: these read the app's models.
        from agents.agentfile import register_sources
        from agents.contexts import register_page_part
        from agents.schemas import register_state_part
        from sources.agentfile import export_sources, import_sources
        from sources.contexts import sources_context
        from sources.schemas import SourceOut

        register_page_part(sources_context)
        register_sources(export_sources, import_sources)
        register_state_part(
            "sources",
            lambda agent: [
                SourceOut.from_orm(source).model_dump() for source in agent.sources.all()
            ],
        )
