"""Fixtures shared by the whole suite.

The only stand-in is the paid model: `ScriptedLLM` is a real HTTP server speaking the
OpenAI protocol on loopback. Everything else is real: the embedded Postgres with
pgvector, daphne serving the ASGI app, the official Letta SDKs as clients.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.llm_server import ScriptedLLM

ROOT = Path(__file__).resolve().parent.parent
TEST_MODEL = "openai/gpt-4.1"
TEST_EMBEDDING = "openai/text-embedding-3-small"


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
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=f"user-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def make_agent(user: Any) -> Any:
    from tests.factories import make_agent

    def build(**overrides: Any) -> Any:
        overrides.setdefault("owner", user)
        return make_agent(**overrides)

    return build


# --- A live server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url(settings_dict: dict[str, Any]) -> str:
    host = settings_dict.get("HOST") or ""
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    port = settings_dict.get("PORT") or ""
    name = settings_dict["NAME"]
    if host.startswith("/"):
        return f"postgresql://{user}:{password}@/{name}?host={host}" + (
            f"&port={port}" if port else ""
        )
    return f"postgresql://{user}:{password}@{host}:{port or 5432}/{name}"


@pytest.fixture(scope="session")
def live_server_url(
    django_db_setup: Any, django_db_blocker: Any, llm_server: ScriptedLLM, tmp_path_factory: Any
) -> Iterator[str]:
    """Daphne serving the app on the test database, talking to the scripted model."""
    from django.db import connection

    port = _free_port()
    log_path = tmp_path_factory.mktemp("live") / "daphne.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "OPENAI_BASE_URL": llm_server.base_url,
        "OPENAI_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "1",
    }
    env.pop("LLM_BASE_URL", None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v1/health/", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"daphne did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def api_key(live_server_url: str, django_db_blocker: Any, llm: ScriptedLLM) -> str:
    """A committed user and key, visible to the live server (outside any test transaction)."""
    from accounts.services import create_api_key, get_or_create_user

    with django_db_blocker.unblock():
        user, _ = get_or_create_user(f"sdk-{uuid.uuid4().hex[:8]}")
        _, raw_key = create_api_key(user)
    return raw_key
