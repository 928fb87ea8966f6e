"""schemathesis against /v1/openapi.json: no operation answers with a server error.

Every operation of the schema gets a bounded number of generated requests, valid and
invalid, authenticated with a real key. Path ids are either generated (mostly unknown
ids) or those of real objects made for the run, so the handlers behind the lookups are
exercised too. The server is a daphne of its own whose every model provider points at
the scripted model (LLM_BASE_URL), so a generated `provider/model` never reaches the
network; the session's worker, whose environment is the developer's, is paused meanwhile,
and the sleep-time runs the requests made are cancelled before it resumes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.conftest import (
    TEST_EMBEDDING,
    TEST_MODEL,
    WorkerProcess,
    _database_url,
)
from tests.live import start_daphne, stop_process
from tests.llm_server import ScriptedLLM

# Generated requests per operation: the ~80 operations take well under two minutes.
MAX_EXAMPLES = 15


def _provider_free_environment() -> dict[str, str]:
    """The environment without any model provider's settings, so none but ours is used."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.endswith(("_API_KEY", "_BASE_URL"))
    }


@contextmanager
def _daphne(env: dict[str, str], log_path: Path) -> Iterator[str]:
    process, url = start_daphne(env, log_path)
    try:
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def fuzz_server(
    live_server_url: str,
    llm_server: ScriptedLLM,
    worker: WorkerProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """Daphne on the test database (the one `live_server_url` uses), models all scripted."""
    from django.db import connection

    env = {
        **_provider_free_environment(),
        "DATABASE_URL": _database_url(connection.settings_dict),
        "LLM_BASE_URL": llm_server.base_url,
        "LLM_API_KEY": "sk-test",
        "OPENAI_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "0",
        # Failed keys are rate-limited per address: no generated request may lock the
        # others out.
        "AUTH_FAILURE_LIMIT": "1000000",
    }
    worker.stop()
    try:
        with _daphne(env, tmp_path_factory.mktemp("fuzz") / "daphne.log") as url:
            yield url
    finally:
        worker.start()


@pytest.fixture(scope="module")
def fuzz_key(live_server_url: str, django_db_blocker: Any) -> str:
    """A committed user and key of this module's own (the shared test database)."""
    from accounts.services import create_api_key, get_or_create_user

    with django_db_blocker.unblock():
        user, _ = get_or_create_user(f"fuzz-{uuid.uuid4().hex[:8]}")
        _, raw_key = create_api_key(user)
    return raw_key


@pytest.fixture(scope="module")
def known_ids(
    fuzz_server: str, fuzz_key: str, llm_server: ScriptedLLM, django_db_blocker: Any
) -> Iterator[dict[str, str]]:
    """Real objects of the key's user, by the name of the path parameter that takes them."""
    llm_server.reset()
    with httpx.Client(
        base_url=fuzz_server, headers={"Authorization": f"Bearer {fuzz_key}"}, timeout=30
    ) as http:

        def call(method: str, path: str, **kwargs: Any) -> Any:
            response = http.request(method, path, **kwargs)
            assert response.status_code == 200, (method, path, response.text)
            return response.json()

        agent = call(
            "POST",
            "/v1/agents/",
            json={
                "name": "fuzzed",
                "model": TEST_MODEL,
                "embedding": TEST_EMBEDDING,
                "memory_blocks": [{"label": "human", "value": "Name: ?"}],
                "enable_sleeptime": True,
            },
        )
        block = call("POST", "/v1/blocks/", json={"label": "notes", "value": "a note"})
        source = call("POST", "/v1/folders/", json={"name": "papers", "embedding": TEST_EMBEDDING})
        job = call(
            "POST",
            f"/v1/folders/{source['id']}/upload",
            files={"file": ("notes.txt", b"Sleep-time agents edit memory.", "text/plain")},
        )
        files = call("GET", f"/v1/folders/{source['id']}/files")
        [passage] = call(
            "POST", f"/v1/agents/{agent['id']}/archival-memory", json={"text": "Porto"}
        )
        call(
            "POST",
            f"/v1/agents/{agent['id']}/messages",
            json={"messages": [{"role": "user", "content": "hello"}]},
        )
        [run] = call("GET", "/v1/runs", params={"agent_id": agent["id"]})
    ids = {
        "agent_id": agent["id"],
        "block_id": block["id"],
        "block_label": "human",
        "source_id": source["id"],
        "source_name": source["name"],
        "file_id": files[0]["id"],
        "job_id": job["id"],
        "memory_id": passage["id"],
        "group_id": agent["multi_agent_group"]["id"],
        "run_id": run["id"],
    }
    yield ids
    # Before the worker resumes: the generated requests queued runs of generated agents
    # (their models named at random) and the clock would start idle ones. None may run.
    from accounts.services import authenticate_api_key
    from agents.models import ACTIVE_RUN_STATUSES, Agent, Run, RunStatus

    with django_db_blocker.unblock():
        owner = authenticate_api_key(fuzz_key)
        active = Run.objects.filter(owner=owner, status__in=ACTIVE_RUN_STATUSES)
        active.update(status=RunStatus.CANCELLED)
        Agent.objects.filter(owner=owner).delete()
    llm_server.reset()


def _served_schema() -> dict[str, Any]:
    """/v1/openapi.json as the app serves it (collection needs it before any server runs)."""
    from django.test import Client

    # Before pytest-django's test environment: "testserver" is not an allowed host yet.
    response = Client(HTTP_HOST="localhost").get("/v1/openapi.json")
    assert response.status_code == 200, response.content
    return dict(response.json())


schema = schemathesis.openapi.from_dict(_served_schema())
# Every request carries the key (the 401s have tests of their own).
schema.config.generation.update(with_security_parameters=False)


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_operation_answers_with_a_server_error(
    case: schemathesis.Case,
    data: st.DataObject,
    fuzz_server: str,
    fuzz_key: str,
    known_ids: dict[str, str],
) -> None:
    names = list(case.path_parameters or {})
    # A delete never gets the id of what it deletes, or the operations after it would
    # all meet a 404.
    replaceable = names[:-1] if case.method.upper() == "DELETE" else names
    for name in replaceable:
        if name in known_ids and data.draw(st.booleans(), label=f"real {name}"):
            case.path_parameters[name] = known_ids[name]
    case.call_and_validate(
        base_url=fuzz_server,
        headers={"Authorization": f"Bearer {fuzz_key}"},
        checks=[not_a_server_error],
        timeout=30,
    )


# --- The server errors schemathesis found, kept as examples ----------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        # A NUL character cannot be stored in a Postgres text column.
        ("GET", "/v1/agents?name=a%00b", None, 400),
        ("PATCH", "/v1/agents/{agent_id}", {"description": "a\u0000b"}, 400),
        # Sizes the database's columns refuse (negative; beyond a 32-bit integer).
        ("PATCH", "/v1/agents/{agent_id}", {"embedding_chunk_size": -296}, 422),
        ("PATCH", "/v1/agents/{agent_id}", {"max_tokens": -1}, 422),
        ("PATCH", "/v1/agents/{agent_id}", {"sleeptime_idle_seconds": 2882481342}, 400),
    ],
)
def test_input_the_database_refuses_is_a_client_error_that_changes_nothing(
    fuzz_server: str,
    fuzz_key: str,
    known_ids: dict[str, str],
    method: str,
    path: str,
    body: Any,
    status: int,
) -> None:
    agent_path = f"/v1/agents/{known_ids['agent_id']}"
    with httpx.Client(
        base_url=fuzz_server, headers={"Authorization": f"Bearer {fuzz_key}"}, timeout=30
    ) as http:
        before = http.get(agent_path).json()
        response = http.request(method, path.format(**known_ids), json=body)
        after = http.get(agent_path).json()
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert after == before
