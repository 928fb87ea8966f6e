"""The database fails under a running deployment: nothing acknowledged is lost, and the
processes recover on their own.

The shared test database cannot be restarted or crashed without disturbing other tests,
so this module starts a Postgres cluster of its own (tests/postgres.py), migrates it, and
runs a daphne and a `manage.py worker` on it. The faults are real: the server stopped and
started again, a turn's own connection terminated while the model thinks, and a database
process killed with SIGKILL (the server then resets every connection and recovers from
its log, as after a crash). Each test compares what the client was told with what is
stored afterwards. Neither the web process nor the worker is restarted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.factories import TEST_EMBEDDING, TEST_MODEL
from tests.live import (
    ROOT,
    RUN_STALE_SECONDS,
    SLEEPTIME_RETRY_SECONDS,
    WorkerProcess,
    manage,
    start_daphne,
    stop_process,
    wait_until,
)
from tests.llm_server import ScriptedLLM
from tests.postgres import DedicatedPostgres

ENDED = ("completed", "failed", "cancelled")


@dataclass
class Stack:
    url: str
    api_key: str
    session_cookie: str
    postgres: DedicatedPostgres
    worker: WorkerProcess
    logs: list[Path]

    def log_text(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in self.logs
            if path.exists()
        )


def _manage(env: dict[str, str], *args: str) -> str:
    result = manage(env, *args)
    assert result.returncode == 0, f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


# Run inside the stack's database: a user with a key and a signed-in browser session.
CREDENTIALS = """
from django.conf import settings
from django.test import Client
from accounts.services import create_api_key, get_or_create_user
user, _ = get_or_create_user("faults")
_, key = create_api_key(user)
browser = Client()
browser.force_login(user)
print(key)
print(settings.SESSION_COOKIE_NAME + "=" + browser.cookies[settings.SESSION_COOKIE_NAME].value)
"""


@pytest.fixture(scope="module")
def stack(llm_server: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Under the project, not /tmp/pytest-of-root: started by root, Postgres runs as a
    # system user of its own and must be able to reach its data directory.
    directory = ROOT / "var" / f"faults-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True)
    logs = tmp_path_factory.mktemp("faults")
    postgres: DedicatedPostgres | None = None
    web: subprocess.Popen[bytes] | None = None
    worker: WorkerProcess | None = None
    try:
        postgres = DedicatedPostgres(directory).initdb().start().create_database()
        env = {
            **os.environ,
            "DATABASE_URL": postgres.uri,
            "OPENAI_BASE_URL": llm_server.base_url,
            "OPENAI_API_KEY": "sk-test",
            "LLM_MAX_RETRIES": "1",
            "RUN_STALE_SECONDS": str(RUN_STALE_SECONDS),
            "SLEEPTIME_RETRY_SECONDS": str(SLEEPTIME_RETRY_SECONDS),
            "Q_WORKERS": "2",
            # As `make run` deploys it: the web process pools its connections (the
            # worker, which forks, ignores it); pooled ones must survive the restart too.
            "DATABASE_POOL_SIZE": "10",
        }
        env.pop("LLM_BASE_URL", None)
        env.pop("REDIS_URL", None)  # the channel layer under test is PostgreSQL's LISTEN/NOTIFY
        _manage(env, "migrate", "--no-input", "-v", "0")
        api_key, session_cookie = _manage(env, "shell", "-c", CREDENTIALS).split()[-2:]
        web, url = start_daphne(env, logs / "daphne.log")
        worker = WorkerProcess(env, logs / "worker.log").start()
        yield Stack(
            url, api_key, session_cookie, postgres, worker, [logs / "daphne.log", worker.log_path]
        )
    finally:
        if worker is not None:
            worker.stop()
        if web is not None:
            stop_process(web)
        if postgres is not None:
            postgres.remove()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30
    ) as client:
        yield client


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, (response.request.url, response.status_code, response.text)
    return response.json()


def _receive_until(socket: ClientConnection, wanted: Callable[[str], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            frame = str(socket.recv(timeout=remaining))
        except TimeoutError:
            return False
        if wanted(frame):
            return True


def test_the_app_reconnects_after_postgres_restarts_under_it(
    stack: Stack, api: httpx.Client, llm_server: ScriptedLLM
):
    llm_server.reset()
    sleeper = llm_server.sleeper
    agent = _ok(
        api.post(
            "/v1/agents/",
            json={
                "name": "steadfast",
                "model": TEST_MODEL,
                "embedding": TEST_EMBEDDING,
                "memory_blocks": [{"label": "human", "value": "Name: ?"}],
                "enable_sleeptime": True,
                "sleeptime_agent_frequency": 1,
            },
        )
    )
    block = _ok(api.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human"))

    def edit_block(value: str) -> None:
        _ok(api.patch(f"/v1/blocks/{block['id']}", json={"value": value}))

    def run_of(run_id: str) -> dict[str, Any]:
        return dict(_ok(api.get(f"/v1/runs/{run_id}")))

    def say(text: str) -> list[str]:
        body = {"messages": [{"role": "user", "content": text}]}
        said = _ok(api.post(f"/v1/agents/{agent['id']}/messages", json=body))
        return list(said["usage"]["run_ids"])

    with connect(
        f"{stack.url.replace('http', 'ws', 1)}/ws/agents/{agent['id']}/",
        origin=stack.url,
        additional_headers={"Cookie": stack.session_cookie},
        proxy=None,
    ) as socket:
        for _ in range(4):  # the snapshot: memory blocks, sleep status, chat log, settings
            socket.recv(timeout=10)
        edit_block("Name: Ada")
        assert _receive_until(socket, lambda html: "Name: Ada" in html, 10), stack.log_text()

        # When the database goes, one sleep-time run is in flight, waiting for the model,
        # and a second one is queued behind it (one run per sleep-time agent at a time).
        sleeper.hold()
        [running_id] = say("I moved to Porto")
        sleeper.wait_for_waiting(1, timeout=15)
        [queued_id] = say("I like jazz")
        assert queued_id != running_id
        assert run_of(queued_id)["status"] == "created"

        stack.postgres.stop()
        try:
            during = api.get("/v1/agents/")
            assert during.status_code == 503, during.text
            assert during.json() == {"detail": "The database is unavailable; try again shortly."}
            time.sleep(2)  # the worker's clock and the channel listener meet the outage too
        finally:
            stack.postgres.start()
        sleeper.release()

        # The very next request is served: nobody restarted the web process.
        assert _ok(api.get("/v1/agents/"))[0]["id"] == agent["id"]

        # The channel layer listens again: an edit reaches the open socket. (An event
        # published while the listener was reconnecting is lost, so edit until one lands.)
        def edit_arrives() -> bool:
            value = f"Name: Ada {uuid.uuid4().hex[:6]}"
            edit_block(value)
            return _receive_until(socket, lambda html: value in html, 2)

        wait_until(edit_arrives, timeout=30, what="a block edit to reach the websocket")

        # The run cut off by the restart lost its connection: the clock fails it as lost,
        # and the queued run, which its retry joins, does the work of both.
        queued = wait_until(
            lambda: (run := run_of(queued_id))["status"] in ENDED and run,
            timeout=60,
            what="the queued run to end",
        )
        assert queued["status"] == "completed", (queued, stack.log_text())
        assert "user: I like jazz" in queued["transcript"]
        cut_off = run_of(running_id)
        assert cut_off["status"] in ("failed", "completed"), cut_off
        if cut_off["status"] == "failed":
            assert "user: I moved to Porto" in queued["transcript"]
        assert stack.worker.alive(), stack.log_text()


UNAVAILABLE = {"detail": "The database is unavailable; try again shortly."}


def _backends(stack: Stack, where: str = "true") -> list[int]:
    """Pids of the database processes serving the stack (never this query's own)."""
    with psycopg.connect(stack.postgres.uri, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'"
            f" AND datname = 'reverie' AND pid <> pg_backend_pid() AND ({where})"
        ).fetchall()
    return [row[0] for row in rows]


def _new_agent(api: httpx.Client, name: str) -> dict[str, Any]:
    return dict(
        _ok(
            api.post(
                "/v1/agents/",
                json={
                    "name": name,
                    "model": TEST_MODEL,
                    "embedding": TEST_EMBEDDING,
                    "memory_blocks": [{"label": "human", "value": "Name: ?"}],
                },
            )
        )
    )


def test_a_turn_whose_connection_is_terminated_is_told_so_and_stores_no_reply(
    stack: Stack, api: httpx.Client, llm_server: ScriptedLLM
):
    from agents.loop import TurnLock

    llm_server.reset()
    agent = _new_agent(api, "interrupted")
    key = TurnLock(agent["id"]).keys[0]
    said = {"messages": [{"role": "user", "content": "Remember the blue door."}]}

    llm_server.hold()
    with (
        ThreadPoolExecutor(1) as pool,
        httpx.Client(base_url=stack.url, headers=api.headers, timeout=60) as other,
    ):
        turn = pool.submit(other.post, f"/v1/agents/{agent['id']}/messages", json=said)
        llm_server.main.wait_for_waiting(1, timeout=15)
        # The connection the turn holds while the model thinks: it has the turn lock.
        [pid] = _backends(
            stack,
            "pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            f" AND classid = {key >> 32} AND objid = {key & 0xFFFFFFFF})",
        )
        with psycopg.connect(stack.postgres.uri, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", [pid])
        llm_server.release()
        response = turn.result(timeout=60)

    # Told that it failed, in the API's words, not an HTML page.
    assert response.status_code == 503, response.text
    assert response.json() == UNAVAILABLE
    # Stored: the message as it was written before the fault, and no reply the client
    # never saw.
    stored = _ok(api.get(f"/v1/agents/{agent['id']}/messages"))
    assert [(m["message_type"], m.get("content")) for m in stored] == [
        ("user_message", "Remember the blue door.")
    ]
    # The turn lock went with the connection: the next turn is answered at once.
    llm_server.reply("The blue door, noted.")
    again = _ok(
        api.post(
            f"/v1/agents/{agent['id']}/messages",
            json={"messages": [{"role": "user", "content": "Did you get that?"}]},
        )
    )
    assert [
        m["content"] for m in again["messages"] if m["message_type"] == "assistant_message"
    ] == ["The blue door, noted."]


def test_a_killed_database_process_loses_no_acknowledged_write(
    stack: Stack, api: httpx.Client, llm_server: ScriptedLLM
):
    llm_server.reset()
    agent = _new_agent(api, "durable")
    block = _ok(api.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human"))
    told: list[tuple[str, str, int, Any]] = []  # (kind, value, status, body)
    stop = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=stack.url, headers=api.headers, timeout=30) as client:
            for i in range(2000):
                if stop.is_set():
                    return
                kind = "passage" if i % 2 else "block"
                if kind == "passage":
                    value = f"Fact number {i}: the archive keeps it."
                    path, body = f"/v1/agents/{agent['id']}/archival-memory", {"text": value}
                    method = "POST"
                else:
                    value = f"Name: Ada\nVersion note {i}"
                    path, body = f"/v1/blocks/{block['id']}", {"value": value}
                    method = "PATCH"
                try:
                    response = client.request(method, path, json=body)
                except httpx.HTTPError as error:  # no answer at all: recorded as such
                    told.append((kind, value, 0, repr(error)))
                    continue
                try:
                    answer = response.json()
                except ValueError:
                    answer = response.text[:300]
                told.append((kind, value, response.status_code, answer))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_until(lambda: len(told) >= 20, timeout=60, what="writes before the fault")
        # A database process dies as in a crash, the one serving a write at that moment;
        # PostgreSQL resets every connection and replays its log before it accepts new ones.
        victims = wait_until(
            lambda: _backends(
                stack,
                "state = 'active' AND (query LIKE 'INSERT INTO \"memory_passage\"%'"
                " OR query LIKE 'UPDATE \"memory_block\"%')",
            ),
            timeout=30,
            interval=0.005,
            what="a database process in the middle of a write",
        )
        os.kill(victims[0], signal.SIGKILL)
        at_fault = len(told)
        # The app recovers by itself: writes are acknowledged again. (Often no request
        # fails at all: the web process's pool waits for the server to come back.)
        wait_until(
            lambda: sum(1 for *_, status, _ in told[at_fault:] if status == 200) >= 10,
            timeout=60,
            what="writes to succeed after the fault",
        )
    finally:
        stop.set()
        writer.join(timeout=60)

    log = stack.postgres.log.read_text(errors="replace")
    assert f"(PID {victims[0]}) was terminated by signal 9" in log
    assert "all server processes terminated; reinitializing" in log
    refused = [(kind, status, body) for kind, _, status, body in told if status != 200]
    # Every write that did not succeed was told so plainly, in the API's words.
    assert all(status == 503 and body == UNAVAILABLE for _, status, body in refused), refused

    # Every acknowledged write is stored.
    passages = {
        p["text"] for p in _ok(api.get(f"/v1/agents/{agent['id']}/archival-memory?limit=1000"))
    }
    history = {v["value"] for v in _ok(api.get(f"/v1/blocks/{block['id']}/history?limit=1000"))}
    acknowledged = [(kind, value) for kind, value, status, _ in told if status == 200]
    lost = [
        (kind, value)
        for kind, value in acknowledged
        if value not in (passages if kind == "passage" else history)
    ]
    assert lost == [], f"{len(lost)} of {len(acknowledged)} acknowledged writes are gone"
    # The archival index still answers searches with what was written before the crash.
    first = next(value for kind, value, status, _ in told if kind == "passage" and status == 200)
    found = _ok(
        api.get(f"/v1/agents/{agent['id']}/archival-memory/search", params={"query": first})
    )
    assert first in [r["content"] for r in found["results"]]
    assert stack.worker.alive(), stack.log_text()
