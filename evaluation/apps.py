from __future__ import annotations

from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"

    def ready(self) -> None:
        from agents import governor
        from evaluation import services

        # Evaluations are background work: the organization's budgets count them.
        governor.count_spend_of(services.spend_rows)
