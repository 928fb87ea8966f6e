"""django-q2 entry points of evaluations. Ids in; the services re-read everything."""

from __future__ import annotations

from evaluation import services


def run_step(evaluation_id: str) -> str:
    return services.run_step(evaluation_id)
