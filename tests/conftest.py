"""Fixtures shared by the whole suite.

The only stand-in is the paid model: `ScriptedLLM` is a real HTTP server speaking the
OpenAI protocol on loopback. Everything else is real: the embedded Postgres with
pgvector, daphne serving the ASGI app, the official Letta SDKs as clients.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Letta's trigger arithmetic is what most tests count on: the back-off of the cost governor
# (runs that change nothing lengthen the interval) is off unless a test turns it on, here
# and in the processes the tests start (they inherit this environment).
os.environ.setdefault("SLEEPTIME_BACKOFF_MAX", "1")

from tests.live import (
    WorkerProcess,
    active_run_ids,
    database_url,
    start_daphne,
    stop_process,
    wait_until,
    worker_env,
)
from tests.llm_server import ScriptedLLM


@pytest.fixture(autouse=True)
def _no_backoff(settings: Any) -> None:
    settings.SLEEPTIME_BACKOFF_MAX = int(os.environ["SLEEPTIME_BACKOFF_MAX"])


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def llm(llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedLLM]:
    """The scripted model, reset, with the openai provider pointed at it."""
    llm_server.reset()
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    yield llm_server
    llm_server.reset()


@pytest.fixture
def user(db: Any) -> Any:
    from tests.factories import make_user

    return make_user(f"user-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def api(user: Any) -> Any:
    """A Django test client that sends an API key of `user` (the API without a server)."""
    from django.test import Client

    from accounts.services import create_api_key

    _, key = create_api_key(user)
    return Client(headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def make_agent(user: Any) -> Any:
    from tests.factories import make_agent

    def build(**overrides: Any) -> Any:
        overrides.setdefault("owner", user)
        return make_agent(**overrides)

    return build


# --- A live server ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def live_server_url(
    django_db_setup: Any, django_db_blocker: Any, llm_server: ScriptedLLM, tmp_path_factory: Any
) -> Iterator[str]:
    """Daphne serving the app on the test database, talking to the scripted model."""
    from django.db import connection

    log_path = tmp_path_factory.mktemp("live") / "daphne.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "OPENAI_BASE_URL": llm_server.base_url,
        "OPENAI_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "1",
    }
    env.pop("LLM_BASE_URL", None)
    process, url = start_daphne(env, log_path)
    yield url
    stop_process(process)


@pytest.fixture
def api_key(live_server_url: str, django_db_blocker: Any, llm: ScriptedLLM) -> str:
    """A committed user and key, visible to the live server (outside any test transaction)."""
    from accounts.services import create_api_key, get_or_create_user

    with django_db_blocker.unblock():
        user, _ = get_or_create_user(f"sdk-{uuid.uuid4().hex[:8]}")
        _, raw_key = create_api_key(user)
    return raw_key


# --- The test database ----------------------------------------------------------------------


def _on_test_database() -> bool:
    from django.db import connection

    settings_dict = connection.settings_dict
    test_name = (settings_dict.get("TEST") or {}).get("NAME") or f"test_{settings_dict['NAME']}"
    return bool(settings_dict["NAME"] == test_name)


def _self_check(django_db_blocker: Any) -> None:
    """The start-up self-check of the test database's vector support: a pgvector that
    crashes on this CPU stops the run here with the cause, instead of hundreds of tests
    failing on a database in recovery."""
    from config.vector_check import VectorSupportError, check_vector_support, database_log

    with django_db_blocker.unblock():
        try:
            check_vector_support(server_log=database_log())
        except VectorSupportError as error:
            pytest.exit(f"The test database failed its self-check. {error}", returncode=3)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> None:
    """pytest-django's test database, after the self-check. pytest-django sets one up only
    when a collected test asks for the database; otherwise `_live_server_test_database`
    does, and checks it."""
    if _on_test_database():
        _self_check(django_db_blocker)


# --- The test database, for sessions that only use the live server -------------------------


@pytest.fixture(scope="session", autouse=True)
def _live_server_test_database(request: pytest.FixtureRequest, django_db_blocker: Any) -> Any:
    """Make sure the live server and workers run on a test database, never the real one.

    pytest-django creates the test database only when a collected test asks for `db`
    (or a django_db mark). A run of only live-server tests (`pytest tests/sdk`) would
    otherwise point daphne and the workers at the developer's own database. Autouse and
    session-scoped, so it is set up before `live_server_url` reads the connection settings;
    it does nothing when no collected test uses the live server or the database exists.
    """
    items = request.session.items
    if not any("live_server_url" in getattr(item, "fixturenames", ()) for item in items):
        yield
        return
    request.getfixturevalue("django_db_setup")
    if _on_test_database():
        yield  # pytest-django made it
        return
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    _self_check(django_db_blocker)
    yield
    with django_db_blocker.unblock():
        try:
            teardown_databases(config, verbosity=0)
        except Exception as error:  # a straggling connection; the next run drops it
            request.node.warn(pytest.PytestWarning(f"could not drop the test database: {error}"))


# --- Background workers (`manage.py worker`) -----------------------------------------------


@pytest.fixture(scope="session")
def worker(
    live_server_url: str,
    llm_server: ScriptedLLM,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    """A running `manage.py worker` on the test database, started on first use.

    A test that kills it must `start()` it again before it ends. Before handing it out,
    runs left over by earlier tests are worked off, so none of them consumes a later
    test's scripted replies.
    """
    process = WorkerProcess(
        worker_env(llm_server), tmp_path_factory.mktemp("worker") / "worker.log"
    )
    process.start()
    try:
        with django_db_blocker.unblock():
            wait_until(lambda: not active_run_ids(), timeout=30, what="leftover runs to end")
        yield process
    finally:
        process.stop()


@pytest.fixture
def start_worker(worker: WorkerProcess, llm_server: ScriptedLLM, tmp_path: Path) -> Iterator[Any]:
    """Factory for extra workers beside the session's one; all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        extra = WorkerProcess(worker.env, tmp_path / f"worker-{len(started) + 1}.log")
        started.append(extra.start())
        return extra

    yield start
    for extra in started:
        extra.stop()
