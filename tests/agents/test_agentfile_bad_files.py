"""A bad Agent File is refused with a 4xx that says where the problem is and what it is,
and the database is as it was: nothing of the file is half imported."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_q.models import OrmQ

from accounts.models import Membership, Organization
from agents.models import Agent, Group, Insight, Message, Run
from config.errors import InvalidRequest
from memory.models import AgentBlock, Block, BlockVersion, Passage
from sources.models import Source, SourceFile

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "agentfiles" / "letta_sleeptime.af"
GOOD = json.loads(FIXTURE.read_text())
TABLES = (
    Agent,
    Block,
    BlockVersion,
    AgentBlock,
    Message,
    Group,
    Run,
    Insight,
    Passage,
    Source,
    SourceFile,
    Organization,
    Membership,
    OrmQ,
)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def upload(api: Any, content: bytes) -> Any:
    file = SimpleUploadedFile("bad.af", content, "application/json")
    return api.post("/v1/agents/import", {"file": file})


def changed(edit: Callable[[dict[str, Any]], None]) -> bytes:
    document = copy.deepcopy(GOOD)
    edit(document)
    return json.dumps(document).encode()


def drop(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target: Any = document
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return edit


def put(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target: Any = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return edit


BAD_FILES = [
    # Not JSON, or not an Agent File.
    (b"agents: [me]", "The file is not JSON: Expecting value: line 1 column 1"),
    (b"\xff\xfe\x00garbage", "The file is not text (UTF-8 JSON)."),
    (b"[1, 2, 3]", "This file holds a list, not an Agent File"),
    (b'"just a string"', "The file is not JSON"),
    (b'{"name": "old", "memory": {}, "llm_config": {}}', "legacy single-agent format"),
    (b"[" * 100_000, "nests its JSON too deeply"),
    # Wrong types.
    (changed(put(["agents"], {"agent-0": {}})), "agents: must be a list, not an object"),
    (changed(put(["agents", 0, "tags"], "garden")), "agents[0].tags: must be a list, not a string"),
    (changed(put(["blocks", 1, "limit"], "big")), "blocks[1].limit: must be a whole number"),
    (changed(put(["blocks", 0, "read_only"], 1)), "blocks[0].read_only: must be true or false"),
    (
        changed(put(["agents", 0, "messages", 4, "content", 0], 5)),
        "agents[0].messages[4].content[0]: must be an object, not a number",
    ),
    (
        changed(put(["agents", 0, "messages", 5, "tool_calls", 0, "function"], None)),
        "agents[0].messages[5].tool_calls[0].function: must be an object, not null",
    ),
    (
        changed(put(["agents", 0, "messages", 2, "created_at"], "yesterday")),
        "agents[0].messages[2].created_at: 'yesterday' is not an ISO date and time",
    ),
    (
        changed(put(["agents", 0, "llm_config", "context_window"], 10)),
        "agents[0].llm_config.context_window: must be at least 1000 tokens",
    ),
    (changed(put(["blocks", 0, "value"], "a\u0000b")), "blocks[0].value: holds a NUL character"),
    # Dangling ids.
    (
        changed(put(["agents", 0, "block_ids", 1], "block-9")),
        "agents[0].block_ids[1]: no block 'block-9' in blocks[]",
    ),
    (
        changed(put(["agents", 1, "tool_ids", 0], "tool-42")),
        "agents[1].tool_ids[0]: no tool 'tool-42' in tools[]",
    ),
    (
        changed(put(["agents", 0, "in_context_message_ids", 2], "message-10")),
        "agents[0].in_context_message_ids[2]: no message 'message-10' in agents[0].messages",
    ),
    (
        changed(put(["groups", 0, "manager_config", "manager_agent_id"], "agent-7")),
        "groups[0].manager_config.manager_agent_id: no agent 'agent-7' in agents[]",
    ),
    (
        changed(put(["groups", 0, "agent_ids", 0], "agent-3")),
        "groups[0].agent_ids[0]: no agent 'agent-3' in agents[]",
    ),
    (
        changed(put(["files", 0, "source_id"], "source-1")),
        "files[0].source_id: no source 'source-1' in sources[]",
    ),
    (
        changed(put(["agents", 0, "source_ids"], ["source-5"])),
        "agents[0].source_ids[0]: no source 'source-5' in sources[]",
    ),
    (
        changed(put(["blocks", 2, "id"], "block-0")),
        "blocks[2].id: 'block-0' is the id of blocks[0] too",
    ),
    (
        changed(put(["blocks", 2, "label"], "human")),
        "agents[0].block_ids[2]: blocks 'block-0' and 'block-2' are both labelled 'human'",
    ),
    # What Reverie cannot run.
    (
        changed(put(["agents", 0, "agent_type"], "voice_convo_agent")),
        "agents[0].agent_type: 'voice_convo_agent' is not an agent type Reverie runs",
    ),
    (
        changed(put(["groups", 0, "manager_config", "manager_type"], "round_robin")),
        "groups[0].manager_config.manager_type: Reverie has sleep-time groups only",
    ),
    (
        changed(put(["agents", 0, "messages", 4, "content", 0, "type"], "hologram")),
        "agents[0].messages[4].content[0].type: 'hologram' is not a kind of message content",
    ),
    # Missing required fields.
    (changed(drop(["agents"])), "agents: is required"),
    (changed(put(["agents"], [])), "agents: the file holds no agent"),
    (changed(drop(["agents", 1, "id"])), "agents[1].id: is required"),
    (changed(drop(["blocks", 0, "label"])), "blocks[0].label: is required"),
    (changed(drop(["blocks", 3, "value"])), "blocks[3].value: is required"),
    (
        changed(drop(["agents", 0, "messages", 3, "role"])),
        "agents[0].messages[3].role: is required",
    ),
    (changed(drop(["tools", 2, "name"])), "tools[2].name: is required"),
    (changed(drop(["sources", 0, "name"])), "sources[0].name: is required"),
    (changed(drop(["groups", 0, "manager_config"])), "groups[0].manager_config: must be an object"),
    (
        changed(
            lambda d: (
                d["agents"][0].pop("llm_config"),
                d["agents"][0].pop("model"),
            )
        ),
        "agents[0]: needs a model",
    ),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_a_bad_file_is_refused_saying_where_and_nothing_is_stored(api, user, content, message):
    before = counts()
    response = upload(api, content)
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert counts() == before


def test_a_file_over_the_upload_limit_is_a_413_naming_the_limit(api, settings):
    settings.MAX_UPLOAD_MB = 1
    before = counts()
    padded = changed(put(["metadata", "padding"], "x" * (1024 * 1024)))
    response = upload(api, padded)
    assert response.status_code == 413
    assert "the limit is 1 MB (MAX_UPLOAD_MB)" in response.json()["detail"]
    assert counts() == before


def test_a_failure_late_in_the_import_leaves_nothing_of_the_file(api, monkeypatch):
    # The agents, blocks, history and group are written by then; the sources come last.
    def fail(*args: Any, **kwargs: Any) -> None:
        raise InvalidRequest("the disk is full")

    monkeypatch.setattr("sources.agentfile._create_file", fail)
    before = counts()
    response = upload(api, FIXTURE.read_bytes())
    assert response.status_code == 400
    assert response.json() == {"detail": "the disk is full"}
    assert counts() == before


def test_a_missing_file_part_or_a_bad_form_field_is_a_422(api):
    assert api.post("/v1/agents/import", {}).status_code == 422
    file = SimpleUploadedFile("a.af", FIXTURE.read_bytes(), "application/json")
    response = api.post("/v1/agents/import", {"file": file, "strip_messages": "maybe"})
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"model": "gpt-4"}, "model: 'gpt-4' must look like 'provider/model-name'"),
        ({"name": "bad/name"}, "name: an agent name may contain"),
        ({"secrets": "not json"}, "secrets must be a JSON object"),
    ],
)
def test_bad_form_fields_are_refused_and_nothing_is_stored(api, form, message):
    before = counts()
    file = SimpleUploadedFile("a.af", FIXTURE.read_bytes(), "application/json")
    response = api.post("/v1/agents/import", {"file": file, **form})
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert counts() == before
