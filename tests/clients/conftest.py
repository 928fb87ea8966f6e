"""The live stack Letta's clients talk to: daphne on the test database, with its access
log in a file of its own so a test can read every status the server answered.

`live_server_url` is overridden here (same scope as the suite's), so the suite's
`api_key` and `worker` fixtures serve these tests unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.harness import AccessLog
from tests.live import database_url, start_daphne, stop_process
from tests.llm_server import ScriptedLLM


@pytest.fixture(scope="session")
def clients_server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clients-stack") / "daphne.log"


@pytest.fixture(scope="session")
def live_server_url(
    django_db_setup: Any,
    django_db_blocker: Any,
    llm_server: ScriptedLLM,
    clients_server_log: Path,
) -> Iterator[str]:
    """Daphne serving the app on the test database, talking to the scripted model; its
    access log (unbuffered, one line per answer) goes to `clients_server_log`."""
    from django.db import connection

    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "OPENAI_BASE_URL": llm_server.base_url,
        "OPENAI_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LLM_BASE_URL", None)
    process, url = start_daphne(env, clients_server_log)
    yield url
    stop_process(process)


@pytest.fixture
def access_log(live_server_url: str, clients_server_log: Path) -> AccessLog:
    """The server's answers from the start of the test on."""
    return AccessLog(clients_server_log)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME of the test's own for a client (Letta Code keeps ~/.letta there)."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The working directory a client runs in (Letta Code writes .letta/ into it)."""
    path = tmp_path / "work"
    path.mkdir()
    return path
