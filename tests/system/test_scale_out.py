"""A team deployment: two web processes and a worker sharing one database and one Redis.

A real redis-server is started for the module, then two daphne processes and a
`manage.py worker`, all with REDIS_URL set, on the test database. A browser's websocket
on web process B hears what is written through web process A and what the worker does,
and the messages travel through Redis, not through PostgreSQL's NOTIFY.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from channels_redis.core import RedisChannelLayer
from django.conf import settings as django_settings
from django.core.checks import run_checks
from django.test import Client
from letta_client import Letta
from websockets.sync.client import ClientConnection, connect

from config.checks import IN_MEMORY_LAYER
from config.pg_channels import NOTIFY_CHANNEL, conninfo
from memory import events
from tests.factories import TEST_EMBEDDING, TEST_MODEL
from tests.live import (
    WorkerProcess,
    free_port,
    start_daphne,
    stop_process,
    wait_for_start,
    worker_env,
)
from tests.llm_server import ScriptedLLM

# --- The system check ------------------------------------------------------------------------


def _layer_warnings() -> list[Any]:
    return [message for message in run_checks() if message.id == "reverie.W010"]


def test_the_in_memory_channel_layer_is_reported_when_debug_is_off(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": IN_MEMORY_LAYER}}
    settings.DEBUG = False

    [warning] = _layer_warnings()

    assert "never leave the process" in warning.msg
    assert "REDIS_URL" in warning.hint


def test_the_in_memory_channel_layer_is_fine_for_one_process_in_debug(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": IN_MEMORY_LAYER}}
    settings.DEBUG = True

    assert _layer_warnings() == []


def test_the_default_and_the_redis_layers_pass_the_check(settings: Any) -> None:
    settings.DEBUG = False
    for backend in (
        "config.pg_channels.PostgresChannelLayer",
        "channels_redis.core.RedisChannelLayer",
    ):
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend}}
        assert _layer_warnings() == []


# --- Processes -------------------------------------------------------------------------------


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """redis-server on a free loopback port, nothing persisted; `make test` installs it."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make test`, which installs it")
    port = free_port()
    log = directory / "redis.log"
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory)]
    command += ["--save", "", "--appendonly", "no"]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"redis://127.0.0.1:{port}/0"

    def ready() -> bool:
        try:
            with redis.Redis.from_url(url) as probe:
                return bool(probe.ping())
        except redis.ConnectionError:
            return False

    wait_for_start(ready, process, log)
    return process, url


@dataclass
class Deployment:
    redis_url: str
    web_a: str
    web_b: str
    logs: list[Path]

    def log_text(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}" for path in self.logs
        )


@pytest.fixture(scope="module")
def deployment(
    django_db_setup: Any,
    llm_server: ScriptedLLM,
    worker: WorkerProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    """Redis, web processes A and B, and a worker, configured as README.md says.

    The session's own worker shares the job queue but not the Redis layer, so it is
    paused meanwhile: a job it took would announce its progress through PostgreSQL,
    where nobody on this deployment listens (all processes must share REDIS_URL).
    """
    directory = tmp_path_factory.mktemp("scale-out")
    started: list[subprocess.Popen[bytes]] = []
    extra_worker: WorkerProcess | None = None
    worker.stop()
    try:
        redis_server, redis_url = start_redis(directory)
        started.append(redis_server)
        env = {
            **worker_env(llm_server),
            "REDIS_URL": redis_url,
            "SECRET_KEY": django_settings.SECRET_KEY,
        }
        web_a, url_a = start_daphne(env, directory / "web-a.log")
        started.append(web_a)
        web_b, url_b = start_daphne(env, directory / "web-b.log")
        started.append(web_b)
        extra_worker = WorkerProcess(env, directory / "worker.log").start()
        yield Deployment(
            redis_url,
            url_a,
            url_b,
            [directory / "web-a.log", directory / "web-b.log", directory / "worker.log"],
        )
    finally:
        if extra_worker is not None:
            extra_worker.stop()
        for process in reversed(started):
            stop_process(process)
        worker.start()


@dataclass
class Account:
    api_key: str
    session_cookie: str


@pytest.fixture
def account(deployment: Deployment, django_db_blocker: Any, llm: ScriptedLLM) -> Account:
    """A committed user with an API key and a signed-in browser session."""
    from accounts.services import create_api_key, get_or_create_user

    with django_db_blocker.unblock():
        user, _ = get_or_create_user(f"team-{uuid.uuid4().hex[:8]}")
        _, raw_key = create_api_key(user)
        browser = Client()
        browser.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    return Account(raw_key, f"{name}={browser.cookies[name].value}")


@contextmanager
def agent_socket(base_url: str, agent_id: str, account: Account) -> Iterator[ClientConnection]:
    """The agent page's websocket, as the browser opens it, its 4 snapshot frames read."""
    with connect(
        f"{base_url.replace('http', 'ws', 1)}/ws/agents/{agent_id}/",
        origin=base_url,
        additional_headers={"Cookie": account.session_cookie},
        proxy=None,
    ) as socket:
        for _ in range(4):  # memory blocks, sleep status, chat log, settings
            socket.recv(timeout=10)
        yield socket


def receive_until(
    socket: ClientConnection, wanted: Callable[[str], bool], deployment: Deployment, what: str
) -> str:
    deadline = time.monotonic() + 20
    while True:
        try:
            frame = str(socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        except TimeoutError:
            raise AssertionError(f"no frame with {what}:\n{deployment.log_text()}") from None
        if wanted(frame):
            return frame


def notifications_for(agent_id: str, listener: psycopg.Connection[Any]) -> list[str]:
    group = events.agent_group(agent_id)
    return [
        note.payload
        for note in listener.notifies(timeout=0.5)
        if json.loads(note.payload)["group"] == group
    ]


# --- Several web processes -------------------------------------------------------------------


def test_a_block_edit_sent_to_web_a_reaches_a_socket_on_web_b_through_redis(
    deployment: Deployment, account: Account
) -> None:
    client = Letta(base_url=deployment.web_a, api_key=account.api_key)
    agent = client.agents.create(
        name="shared",
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[{"label": "human", "value": "Name: Ada\nLikes: tea"}],
    )
    block = client.agents.blocks.retrieve("human", agent_id=agent.id)

    with (
        agent_socket(deployment.web_b, agent.id, account) as socket,
        redis.Redis.from_url(deployment.redis_url) as store,
        psycopg.connect(conninfo(), autocommit=True) as listener,
    ):
        # B's socket joined the agent's group in Redis, where A's process will look it up.
        [group_key] = store.scan_iter(match=f"*:group:{events.agent_group(agent.id)}")
        assert store.zcard(group_key) == 1
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        # Idle past the layer's 5-second blocking pop: with redis-py 8's default read
        # timeout B's consumer crashed right there (see CHANNEL_LAYERS in the settings).
        time.sleep(RedisChannelLayer.brpop_timeout + 1)

        response = httpx.patch(
            f"{deployment.web_a}/v1/blocks/{block.id}",
            json={"value": "Name: Ada\nLikes: coffee"},
            headers={"Authorization": f"Bearer {account.api_key}"},
            trust_env=False,
        )
        assert response.status_code == 200, response.text

        frame = receive_until(
            socket, lambda html: f'id="{block.id}"' in html, deployment, "the edited block"
        )
        # Nothing went through PostgreSQL: the Redis layer carried it.
        assert notifications_for(agent.id, listener) == []

    assert "Likes: coffee" in frame
    assert 'hx-swap-oob="true"' in frame


def test_a_workers_progress_on_an_upload_reaches_a_socket_on_web_b(
    deployment: Deployment, account: Account, tmp_path: Path
) -> None:
    client = Letta(base_url=deployment.web_a, api_key=account.api_key)
    agent = client.agents.create(
        name="reader", model=TEST_MODEL, embedding=TEST_EMBEDDING, memory_blocks=[]
    )
    folder = client.folders.create(name="notes", embedding=TEST_EMBEDDING)
    client.agents.folders.attach(folder_id=folder.id, agent_id=agent.id)
    note = tmp_path / "notes.txt"
    note.write_text("The office closes at six on Fridays.\n")

    with agent_socket(deployment.web_b, agent.id, account) as socket, open(note, "rb") as file:
        file_id = client.folders.files.upload(file=file, folder_id=folder.id).id
        # Only the worker moves a file to "completed", after parsing and embedding it.
        frame = receive_until(
            socket,
            lambda html: f'id="{file_id}"' in html and "status-completed" in html,
            deployment,
            "the processed file",
        )

    assert "notes.txt" in frame
