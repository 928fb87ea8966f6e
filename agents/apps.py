from __future__ import annotations

from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents import checks  # noqa: F401  (registers system checks)
        from agents.runs.ledger import settle_review
        from memory import proposals

        # A run awaiting review settles its ledger outcome once a person decides.
        if settle_review not in proposals.on_decided:
            proposals.on_decided.append(settle_review)
