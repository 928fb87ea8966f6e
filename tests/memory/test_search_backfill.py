"""Passages stored before full-text search existed get their search vectors afterwards:
in batches, with visible progress, never twice, never waiting for a writer, and from the
command line as from the worker's clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from django_q.models import OrmQ

from config.management.commands import worker
from memory import fulltext, services, tasks
from memory.models import Passage

LOCAL = "local/hashing-bow"
TEXTS = [
    "Ticket AX-4471 was closed on Friday.",
    "The boiler is serviced every March.",
    "Ada's cat is named Pixel.",
    "The wifi password is on the fridge.",
    "Staff get 25 vacation days a year.",
]


def stored_before_full_text(agent: Any, texts: list[str] = TEXTS) -> list[str]:
    """Passages as an older release left them: no search vector."""
    ids = [services.insert_passage(agent, text).pk for text in texts]
    # Only search_vector is set, so the trigger (on changes of the text) leaves it NULL.
    Passage.objects.filter(pk__in=ids).update(search_vector=None)
    return ids


def waiting() -> int:
    return Passage.objects.filter(search_vector__isnull=True).count()


@contextmanager
def in_another_thread(work: Callable[[], object]) -> Iterator[threading.Thread]:
    """Run `work` on a connection of its own, as another process would; joined at the end."""

    def target() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(timeout=30)


def test_the_backfill_fills_waiting_rows_in_batches_with_progress(make_agent):
    agent = make_agent(embedding=LOCAL)
    stored_before_full_text(agent)
    seen: list[tuple[int, int]] = []

    result = fulltext.backfill_search_vectors(
        batch_size=2, progress=lambda filled, total: seen.append((filled, total))
    )

    assert result == {"outcome": "done", "filled": 5, "pending": 0}
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert waiting() == 0
    assert fulltext.backfill_status() == {"passages": 5, "pending": 0, "running": False}


def test_backfilled_passages_are_found_by_their_words(make_agent):
    agent = make_agent(embedding=LOCAL)
    for number in range(4472, 4480):
        services.insert_passage(agent, f"Ticket AX-{number} is open.")
    (old,) = stored_before_full_text(
        agent,
        [
            "After a long review of the supplier contract, the maintenance team closed "
            "ticket AX-4471 on Friday afternoon."
        ],
    )
    assert old not in [p.pk for p in services.search_passages(agent, "AX-4471", top_k=3)]

    fulltext.backfill_search_vectors()

    assert services.search_passages(agent, "AX-4471", top_k=3)[0].pk == old


def test_the_backfill_leaves_the_passages_themselves_unchanged(make_agent):
    agent = make_agent(embedding=LOCAL)
    stored_before_full_text(agent)
    before = list(Passage.objects.order_by("pk").values_list("pk", "text", "updated_at"))

    fulltext.backfill_search_vectors(batch_size=2)

    assert list(Passage.objects.order_by("pk").values_list("pk", "text", "updated_at")) == before


def test_a_backfill_with_too_little_time_pauses_and_the_next_one_goes_on(make_agent):
    agent = make_agent(embedding=LOCAL)
    stored_before_full_text(agent)

    first = fulltext.backfill_search_vectors(batch_size=2, seconds=0)
    second = fulltext.backfill_search_vectors(batch_size=2)

    assert first == {"outcome": "paused", "filled": 2, "pending": 3}
    assert second == {"outcome": "done", "filled": 3, "pending": 0}


def test_the_job_queues_its_next_part_when_it_pauses(
    make_agent, monkeypatch, django_capture_on_commit_callbacks
):
    agent = make_agent(embedding=LOCAL)
    stored_before_full_text(agent)
    monkeypatch.setattr(tasks, "BACKFILL_JOB_SECONDS", 0)
    monkeypatch.setattr(fulltext, "BATCH_SIZE", 2)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.backfill_search() == "paused: 2 filled, 3 waiting"

    assert [q.func() for q in OrmQ.objects.all()] == ["memory.tasks.backfill_search"]


def test_the_clock_queues_the_backfill_only_when_rows_wait(
    make_agent, django_capture_on_commit_callbacks
):
    agent = make_agent(embedding=LOCAL)
    services.insert_passage(agent, "Indexed as it was stored.")
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.queue_search_backfill() is False
    assert not OrmQ.objects.exists()

    stored_before_full_text(agent)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.queue_search_backfill() is True

    assert [q.func() for q in OrmQ.objects.all()] == ["memory.tasks.backfill_search"]


def test_the_worker_clock_queues_the_backfill_on_its_first_beat(
    make_agent, monkeypatch, django_capture_on_commit_callbacks
):
    agent = make_agent(embedding=LOCAL)
    stored_before_full_text(agent)
    monkeypatch.setattr(
        worker, "backfill_search_vectors", worker.Every(60, tasks.queue_search_backfill)
    )

    with django_capture_on_commit_callbacks(execute=True):
        worker.tick()

    assert [q.func() for q in OrmQ.objects.all()] == ["memory.tasks.backfill_search"]


def test_the_clock_takes_a_rare_step_on_its_first_beat_then_once_a_minute():
    taken: list[int] = []
    step = worker.Every(60, lambda: taken.append(1))
    start = timezone.now()

    for seconds in (0, 1, 59, 60, 61, 119, 125):
        step(start + timedelta(seconds=seconds))

    assert len(taken) == 3  # at 0, 60 and 125 seconds


def test_the_command_fills_the_rows_and_reports_progress(make_agent):
    agent = make_agent(embedding=LOCAL)
    stored_before_full_text(agent)
    before, out, after = StringIO(), StringIO(), StringIO()

    call_command("backfill_search", "--status", stdout=before)
    call_command("backfill_search", "--batch-size", "2", stdout=out)
    call_command("backfill_search", "--status", stdout=after)

    assert before.getvalue().splitlines() == [
        "0 of 5 passages have their search vector (0%); 5 waiting.",
        "No backfill is running.",
    ]
    assert out.getvalue().splitlines() == [
        "2 of 5 filled (40%)",
        "4 of 5 filled (80%)",
        "5 of 5 filled (100%)",
        "Filled 5 search vectors; 0 still waiting.",
    ]
    assert after.getvalue().splitlines()[0] == (
        "5 of 5 passages have their search vector (100%); 0 waiting."
    )


@pytest.mark.django_db(transaction=True)
def test_a_second_backfill_while_one_runs_leaves_the_work_to_it(make_agent):
    agent = make_agent(embedding=LOCAL)
    stored_before_full_text(agent)
    first_batch_done, go_on = threading.Event(), threading.Event()
    results: list[fulltext.BackfillResult] = []

    def pause_after_the_first_batch(filled: int, total: int) -> None:
        first_batch_done.set()
        go_on.wait(timeout=10)

    def run_elsewhere() -> None:
        results.append(
            fulltext.backfill_search_vectors(batch_size=2, progress=pause_after_the_first_batch)
        )

    with in_another_thread(run_elsewhere):
        assert first_batch_done.wait(timeout=10)
        status = fulltext.backfill_status()
        second = fulltext.backfill_search_vectors(batch_size=2)
        go_on.set()

    assert status == {"passages": 5, "pending": 3, "running": True}
    assert second == {"outcome": "busy", "filled": 0, "pending": 3}
    assert results == [{"outcome": "done", "filled": 5, "pending": 0}]
    assert fulltext.backfill_status()["running"] is False


@pytest.mark.django_db(transaction=True)
def test_a_row_a_writer_holds_is_skipped_not_waited_for(make_agent):
    agent = make_agent(embedding=LOCAL)
    held_id = stored_before_full_text(agent)[2]
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        with transaction.atomic():
            Passage.objects.select_for_update().filter(pk=held_id).exists()
            locked.set()
            release.wait(timeout=10)

    with in_another_thread(hold_the_row):
        assert locked.wait(timeout=10)
        while_held = fulltext.backfill_search_vectors(batch_size=2)
        release.set()
    afterwards = fulltext.backfill_search_vectors(batch_size=2)

    assert while_held == {"outcome": "done", "filled": 4, "pending": 1}
    assert afterwards == {"outcome": "done", "filled": 1, "pending": 0}
