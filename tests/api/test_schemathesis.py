"""schemathesis against /v1/openapi.json, with all its checks: no operation answers with a
server error, every answer is one the schema documents with the body it documents, every
request the schema allows is accepted and every one it forbids is refused.

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
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from evaluation.material import MaterialError, from_jsonl
from tests.factories import TEST_EMBEDDING, TEST_MODEL
from tests.live import WorkerProcess, database_url, start_daphne, stop_process
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
        "DATABASE_URL": database_url(connection.settings_dict),
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
        # The turn's own run; the sleep-time run it started is a background one.
        [run] = call("GET", "/v1/runs", params={"agent_id": agent["id"], "background": False})
        conversation = call("POST", "/v1/conversations/", params={"agent_id": agent["id"]}, json={})
        evaluation = call(
            "POST",
            "/v1/evaluations",
            json={
                "model": TEST_MODEL,
                "material": {"kind": "arithmetic", "count": 1},
                "arms": ["off"],
            },
        )
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
        "conversation_id": conversation["id"],
        "evaluation_id": evaluation["id"],
    }
    yield ids
    # Before the worker resumes: the generated requests queued runs of generated agents
    # (their models named at random) and the clock would start idle ones, and queued the
    # first steps of generated evaluations. None may run: a step of an evaluation that is
    # gone is skipped.
    from accounts.services import authenticate_api_key
    from agents.models import ACTIVE_RUN_STATUSES, Agent, Run, RunStatus
    from evaluation.models import Evaluation

    with django_db_blocker.unblock():
        owner = authenticate_api_key(fuzz_key)
        Evaluation.objects.filter(owner=owner).delete()
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


SERVED = _served_schema()
schema = schemathesis.openapi.from_dict(SERVED)
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
def test_every_operation_answers_as_its_schema_says(
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
    headers = {"Authorization": f"Bearer {fuzz_key}"}
    assume(not _breaks_a_rule_no_schema_can_say(case, fuzz_server, headers))
    response = case.call(base_url=fuzz_server, headers=headers, timeout=30)
    # A query is text on the wire: a number or a boolean generated as an invalid value
    # for a text parameter arrives as valid text (schemathesis#3056).
    excluded = [negative_data_rejection] if _valid_once_sent(case, response) else []
    case.validate_response(response, excluded_checks=excluded)


def _valid_once_sent(case: schemathesis.Case, response: Any) -> bool:
    """Whether only the query of a negative case was invalid, and not as it was sent."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.NEGATIVE:
        return False
    negative = {
        location
        for location, component in case.meta.components.items()
        if component.mode == GenerationMode.NEGATIVE
    }
    if negative != {ParameterLocation.QUERY}:
        return False
    sent = parse_qs(urlsplit(response.request.url).query, keep_blank_values=True)
    operation = SERVED["paths"][case.path][case.method.lower()]
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query":
            continue
        values = sent.get(parameter["name"])
        if values is None:
            if parameter.get("required"):
                return False
            continue
        parameter_schema = parameter["schema"]
        branches = parameter_schema.get("anyOf", [parameter_schema])
        instance: Any = values if any(b.get("type") == "array" for b in branches) else values[-1]
        if not any(
            jsonschema_rs.validator_for(branch).is_valid(_typed(instance, branch))
            for branch in branches
        ):
            return False
    return True


def _typed(text: Any, branch: dict[str, Any]) -> Any:
    """Query text as the server reads it for a parameter of schema `branch`."""
    if isinstance(text, list):
        return [_typed(item, branch.get("items", {})) for item in text]
    try:
        if branch.get("type") == "integer":
            return int(text)
        if branch.get("type") == "number":
            return float(text)
    except ValueError:
        return text
    if branch.get("type") == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


# --- What JSON Schema cannot say ---------------------------------------------------------
# Each rule below compares two fields, or a field with what is stored. The server answers
# a 400 that says which (tested where the rule lives); the schema cannot, so a request the
# schema allows may still break one, and such requests are not sent as valid ones.


def _breaks_a_rule_no_schema_can_say(
    case: schemathesis.Case, base_url: str, headers: dict[str, str]
) -> bool:
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return False
    body = case.body if isinstance(case.body, dict) else {}
    if case.path == "/v1/agents/import":
        return True  # an agent file's content: the schema can only say it is a file
    if case.path == "/v1/mcp-servers" and case.method.upper() == "POST":
        # Registering asks the server for its tools: a generated address answers nothing
        # (a 502, tests/toolbox/test_mcp_api.py), and stdio depends on the deployment.
        return True
    if case.path == "/v1/tools/mcp/servers" and case.method.upper() == "PUT":
        # Which fields a server needs depends on its type (a URL, or a command), and
        # whether stdio is allowed on the deployment (tests/toolbox/test_mcp_api.py).
        return True
    if case.path == "/v1/tools" and case.method.upper() in ("POST", "PUT"):
        # source_code must be Python defining a function: a 400 with the line where it
        # does not parse (tests/api/test_custom_tools_api.py).
        return True
    if case.path.endswith("/forget"):
        return _reversed_range(body)
    if case.path == "/v1/evaluations" and case.method.upper() == "POST":
        return _not_material(body)
    blocks = [body, *(body.get("memory_blocks") or [])]
    if any(_over_limit(block) for block in blocks):
        return True
    return _limits_a_stored_block(case, body) and _under_stored_value(case, body, base_url, headers)


def _reversed_range(body: dict[str, Any]) -> bool:
    """A date range to forget that starts after it ends (tests/forgetting/test_api.py)."""
    try:
        return bool(
            datetime.fromisoformat(body["start_date"]) > datetime.fromisoformat(body["end_date"])
        )
    except (KeyError, TypeError, ValueError):
        return False


def _not_material(body: dict[str, Any]) -> bool:
    """JSONL text that is not an evaluation's material (tests/api/test_evaluations_api.py):
    the schema can only say it is text."""
    spec = body.get("material")
    if not isinstance(spec, dict) or spec.get("kind") != "jsonl":
        return False
    try:
        return not from_jsonl(spec.get("text", ""))
    except MaterialError:
        return True


def _over_limit(block: Any) -> bool:
    """A block's value longer than its limit (tests/memory)."""
    if not isinstance(block, dict):
        return False
    value, limit = block.get("value"), block.get("limit")
    # JSON Schema's integers include 1.0.
    number = isinstance(limit, int | float) and not isinstance(limit, bool)
    return isinstance(value, str) and number and len(value) > limit


def _limits_a_stored_block(case: schemathesis.Case, body: dict[str, Any]) -> bool:
    blocks = ("/v1/blocks/{block_id}", "/v1/agents/{agent_id}/core-memory/blocks/{block_label}")
    return case.method.upper() == "PATCH" and case.path in blocks and "limit" in body


def _under_stored_value(
    case: schemathesis.Case, body: dict[str, Any], base_url: str, headers: dict[str, str]
) -> bool:
    """A new limit below the length of the block's value as stored (and not changed)."""
    limit = body.get("limit")
    if isinstance(body.get("value"), str) or not isinstance(limit, int | float):
        return False
    response = httpx.get(base_url + case.formatted_path, headers=headers, timeout=30)
    return response.status_code == 200 and len(response.json()["value"]) > body["limit"]


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
        ("PATCH", "/v1/agents/{agent_id}", {"sleeptime_idle_seconds": 2882481342}, 422),
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


def test_a_multipart_body_that_cannot_be_parsed_gets_an_answer_from_the_api(
    fuzz_server: str, fuzz_key: str, known_ids: dict[str, str]
) -> None:
    # Only the closing boundary: Twisted, under daphne, used to answer this itself with an
    # empty 400 and a closed connection (config/daphne.py).
    boundary = "c637e12e2b1a998d80d1b087531af51c"
    response = httpx.post(
        f"{fuzz_server}/v1/folders/{known_ids['source_id']}/upload",
        headers={
            "Authorization": f"Bearer {fuzz_key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
        content=f"--{boundary}--\r\n".encode(),
        timeout=30,
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == "file"
