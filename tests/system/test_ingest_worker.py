"""A worker killed in the middle of digesting a document: another one resumes it.

The document agent reads a file window by window (`sources.ingest.DIGEST_WINDOW_TOKENS`
tokens each) and every finished window is a checkpoint. Here the worker is SIGKILLed while
the scripted model holds the request for the second window; the clock of a fresh worker
notices the stale heartbeat (RUN_STALE_SECONDS is 3 in the workers' environment) and hands
the file on, and the digest goes on from the window that was in flight. Everything is
observed through the HTTP API and the model's recorded requests.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from sources.ingest import DIGEST_WINDOW_TOKENS
from tests.factories import TEST_EMBEDDING, TEST_MODEL
from tests.live import active_run_ids, wait_until
from tests.sources.pdfs import text_pdf

PAGES = 12
WORDS_PER_PAGE = 600
VOCABULARY = (
    "policy employee manager approval leave holiday salary review office remote travel "
    "expense security badge training benefit pension health dental vision parking "
    "schedule overtime contract notice probation equipment laptop canteen"
).split()
PART = re.compile(r"Part (\d+) of (\d+) of ")


@pytest.fixture(autouse=True)
def _runs_settle(django_db_blocker: Any) -> Any:
    yield
    with django_db_blocker.unblock():
        wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


def page_text(number: int) -> str:
    """About WORDS_PER_PAGE words of handbook-like prose, different on every page."""
    lines, words, step = [f"Section {number}: rules of chapter {number}."], 0, 0
    while words < WORDS_PER_PAGE:
        length = 8 + (number * 7 + step) % 7
        sentence = [
            VOCABULARY[(number * 31 + step * 17 + i * i) % len(VOCABULARY)] for i in range(length)
        ]
        lines.append(" ".join(sentence).capitalize() + f" (rule {number}.{step}).")
        words += length
        step += 1
    return "\n".join(lines)


def window_numbers(requests: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(window, total) of each document-agent request, from the part header it was sent."""
    found = []
    for request in requests:
        [user] = [m for m in request["messages"] if m["role"] == "user"]
        match = PART.search(str(user["content"]))
        assert match, f"not a window: {str(user['content'])[:200]}"
        found.append((int(match.group(1)), int(match.group(2))))
    return found


def test_a_worker_killed_mid_digest_resumes_at_the_window_in_flight(
    live_server_url, api_key, worker, llm, tmp_path: Path
):
    client = Letta(base_url=live_server_url, api_key=api_key)
    agent = client.agents.create(
        name="reader",
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[{"label": "human", "value": "Name: ?"}],
        enable_sleeptime=True,
    )
    folder = client.folders.create(
        name="long_handbook", description="The long handbook", embedding=TEST_EMBEDDING
    )
    client.agents.folders.attach(folder_id=folder.id, agent_id=agent.id)
    pdf = tmp_path / "handbook.pdf"
    pdf.write_bytes(text_pdf([page_text(n) for n in range(1, PAGES + 1)]))

    def state() -> Any:
        return client.folders.files.retrieve(file_id, folder_id=folder.id)

    lane = llm.sleeper
    lane.hold()
    try:
        with open(pdf, "rb") as file:
            file_id = client.folders.files.upload(file=file, folder_id=folder.id).id
        # The first window is asked for and held; let it through and hold the second.
        lane.wait_for_waiting(1, timeout=20)
        lane.release()
        lane.hold()
        wait_until(lambda: state().windows_digested >= 1, timeout=10, what="window 1 digested")
        lane.wait_for_waiting(1, timeout=10)
        before = state()
        assert before.processing_status == "digesting", before
        assert before.windows_digested == 1
        total = before.total_windows
        assert total >= 3, f"{total} windows of {DIGEST_WINDOW_TOKENS} tokens: make more text"
        assert window_numbers(lane.requests) == [(1, total), (2, total)]
        # The ephemeral document agent does the reading meanwhile.
        names = sorted(a.name for a in client.agents.list().items)
        assert names == ["reader", "reader-doc-sleeptime", "reader-sleeptime"], names

        worker.kill()
        assert not worker.alive()
    finally:
        lane.release()
        worker.start()

    done = wait_until(
        lambda: (current := state()).processing_status in ("completed", "error") and current,
        timeout=30,
        interval=0.2,
        what="the resumed file to be processed",
    )

    assert done.processing_status == "completed", done
    assert done.error_message is None
    assert done.windows_digested == done.total_windows == total
    # Windows 1..N each read once, except window 2: in flight at the kill, read again.
    reads = [number for number, _ in window_numbers(lane.requests)]
    assert reads == [1, 2, *range(2, total + 1)], reads
    assert Counter(reads)[2] == 2 and all(Counter(reads)[n] == 1 for n in range(3, total + 1))

    # One digest run, resumed rather than started afresh: each window recorded once.
    runs = [r for r in client.get("/v1/runs", cast_to=object) if r["trigger"] == "digest"]
    [run] = runs
    assert run["status"] == "completed", run
    assert run["metadata"]["next_window"] == total
    detail = client.get(f"/v1/runs/{run['id']}", cast_to=object)
    parts = Counter(int(n) for n, _ in PART.findall(detail["transcript"]))
    assert parts == Counter(range(1, total + 1)), parts
    assert [call["name"] for call in detail["tool_calls"]] == ["memory_finish_edits"] * total

    # The ephemeral document agent is gone; the pair remains.
    names = sorted(a.name for a in client.agents.list().items)
    assert names == ["reader", "reader-sleeptime"], names

    # The passages were stored once: parsing and embedding were not redone.
    passages = client.get(
        f"/v1/sources/{folder.id}/passages", cast_to=object, options={"params": {"limit": 1000}}
    )
    assert len(passages) == done.total_chunks
    assert len({p["id"] for p in passages}) == len({p["text"] for p in passages}) == len(passages)
    assert len(client.agents.passages.list(agent.id, limit=1000)) == done.total_chunks
