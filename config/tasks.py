"""Handing work to the django-q2 workers: the one way every app queues a job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction


def enqueue_on_commit(
    func: str,
    *args: Any,
    task_name: str | None = None,
    on_send: Callable[[], object] | None = None,
) -> None:
    """Queue the job `func` (a dotted path) with `args` once the current transaction
    commits (at once outside one), so a worker never starts on rows it cannot see yet,
    and a rolled-back request queues nothing. `on_send` runs just before the job is
    queued (a run records when it was handed on)."""

    def send() -> None:
        # django_q.tasks loads django-q's models: only once the app registry is ready,
        # which it is by the time any transaction commits.
        from django_q.tasks import async_task

        if on_send is not None:
            on_send()
        options = {"task_name": task_name} if task_name else {}
        async_task(func, *args, **options)

    transaction.on_commit(send)
