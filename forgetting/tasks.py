"""django-q2 entry points. Ids in; the services re-read everything."""

from __future__ import annotations

from forgetting import services


def run_forget_job(job_id: str) -> str:
    return services.run_forget_job(job_id)
