"""django-q2 entry points. Ids in; the services re-read everything."""

from __future__ import annotations

from agents import runs


def execute_run(run_id: str) -> str:
    return runs.execute_run(run_id)
