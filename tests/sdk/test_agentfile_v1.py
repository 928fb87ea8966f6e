"""Agent Files through the official letta-client 1.x SDK, unmodified, against a live
Reverie: `agents.import_file` and `agents.export_file`, with a real worker processing the
imported source's file and running the imported sleep-time agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from letta_client import BadRequestError, Letta, NotFoundError

from tests.factories import TEST_EMBEDDING, TEST_MODEL
from tests.live import active_run_ids, wait_until

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "agentfiles" / "letta_sleeptime.af"


@pytest.fixture
def client(live_server_url: str, api_key: str) -> Letta:
    return Letta(base_url=live_server_url, api_key=api_key)


@pytest.fixture(autouse=True)
def _runs_settle(request: pytest.FixtureRequest, django_db_blocker: Any) -> Any:
    """After a test that used the worker, let its runs end, so none of them answers
    from the next test's script."""
    yield
    if "worker" in request.fixturenames:
        with django_db_blocker.unblock():
            wait_until(lambda: not active_run_ids(), timeout=20, what="the test's runs to end")


def test_import_file_brings_the_pair_its_memory_and_its_history(client):
    with FIXTURE.open("rb") as file:
        imported = client.agents.import_file(file=file)
    primary_id, sleeper_id = imported.agent_ids
    primary = client.agents.retrieve(primary_id)
    assert primary.name == "Juniper_copy"
    assert [block.label for block in primary.blocks] == ["human", "persona", "garden_notes"]
    # The file's custom tool comes as the organization's, with its source.
    assert [tool.name for tool in primary.tools] == [
        "send_message",
        "conversation_search",
        "archival_memory_search",
        "watering_schedule",
    ]
    assert primary.tools[-1].tool_type == "custom"
    assert primary.tools[-1].source_code.startswith("def watering_schedule(")
    assert primary.multi_agent_group is not None
    assert primary.multi_agent_group.agent_ids == [sleeper_id]
    assert primary.multi_agent_group.sleeptime_agent_frequency == 3
    assert client.agents.retrieve(sleeper_id).llm_config.handle == "openai/gpt-4.1-mini"
    history = list(client.agents.messages.list(primary_id))
    kinds = [message.message_type for message in history]
    assert kinds == [
        "user_message",
        "reasoning_message",
        "assistant_message",
        "user_message",
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "reasoning_message",
        "assistant_message",
    ]
    assert history[5].tool_call.name == "conversation_search"
    assert history[8].content.startswith("You haven't told me yet.")


def test_import_file_takes_lettas_form_fields(client):
    imported = client.agents.import_file(
        file=("juniper.af", FIXTURE.read_bytes(), "application/json"),
        strip_messages=True,
        append_copy_suffix=False,
        override_existing_tools=False,
        name="Sage",
        model="openai/gpt-4.1",
        project_id="project-ignored",
        secrets=json.dumps({"WEATHER_API_KEY": "k"}),
        x_override_embedding_model=TEST_EMBEDDING,
    )
    primary_id, sleeper_id = imported.agent_ids
    primary = client.agents.retrieve(primary_id)
    assert primary.name == "Sage"
    assert client.agents.retrieve(sleeper_id).name == "Juniper-sleeptime"
    assert primary.llm_config.handle == "openai/gpt-4.1"
    assert primary.embedding_config.handle == TEST_EMBEDDING
    assert list(client.agents.messages.list(primary_id)) == []


def test_export_file_then_import_file_gives_the_same_agent_back(client):
    agent = client.agents.create(
        name="roundtrip",
        model=TEST_MODEL,
        embedding=TEST_EMBEDDING,
        memory_blocks=[
            {"label": "human", "value": "Name: Sam", "limit": 300, "description": "Who"},
            {"label": "persona", "value": "Calm.", "read_only": True},
        ],
        tags=["sdk"],
        metadata={"k": "v"},
        enable_sleeptime=True,
    )
    client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "hi"}])
    exported = client.agents.export_file(agent.id)
    assert isinstance(exported, str)
    document = json.loads(exported)
    assert [a["name"] for a in document["agents"]] == ["roundtrip", "roundtrip-sleeptime"]
    again = client.agents.import_file(
        file=("roundtrip.af", exported.encode(), "application/json"), append_copy_suffix=False
    )
    copy = client.agents.retrieve(again.agent_ids[0])
    original = client.agents.retrieve(agent.id)
    for field in ("name", "system", "agent_type", "tags", "metadata"):
        assert getattr(copy, field) == getattr(original, field), field
    assert [(b.label, b.value, b.limit, b.read_only) for b in copy.blocks] == [
        (b.label, b.value, b.limit, b.read_only) for b in original.blocks
    ]
    assert [m.message_type for m in client.agents.messages.list(copy.id)] == [
        m.message_type for m in client.agents.messages.list(agent.id)
    ]
    scrubbed = json.loads(client.agents.export_file(agent.id, scrub_messages=True))
    assert scrubbed["agents"][0]["messages"] == []


def test_a_bad_file_is_a_400_naming_where_and_an_unknown_agent_a_404(client):
    document = json.loads(FIXTURE.read_text())
    document["agents"][1]["tool_ids"][0] = "tool-42"
    with pytest.raises(BadRequestError) as refused:
        client.agents.import_file(
            file=("bad.af", json.dumps(document).encode(), "application/json")
        )
    assert refused.value.body["detail"] == "agents[1].tool_ids[0]: no tool 'tool-42' in tools[]"
    assert [a.name for a in client.agents.list()] == []
    with pytest.raises(NotFoundError):
        client.agents.export_file("agent-00000000-0000-4000-8000-000000000000")


def test_the_imported_agent_chats_and_its_file_is_processed_by_the_worker(client, worker, llm):
    with FIXTURE.open("rb") as file:
        primary_id, _ = client.agents.import_file(file=file, append_copy_suffix=False).agent_ids
    [folder] = client.agents.folders.list(primary_id)
    [upload] = client.folders.files.list(folder.id)

    def processed() -> Any:
        status = client.folders.files.retrieve(upload.id, folder_id=folder.id).processing_status
        return status if status in ("completed", "error") else None

    assert (
        wait_until(processed, timeout=20, what="the imported file to be processed") == "completed"
    )
    found = client.agents.passages.search(primary_id, query="yellowing lower leaves")
    # Archival search includes the attached source's passages.
    assert any("Yellowing lower leaves" in result.content for result in found.results)
    llm.tool_call("send_message", {"message": "Every two or three days, Priya."})
    response = client.agents.messages.create(
        agent_id=primary_id, messages=[{"role": "user", "content": "How often should I water?"}]
    )
    replies = [m.content for m in response.messages if m.message_type == "assistant_message"]
    assert replies == ["Every two or three days, Priya."]
    # The imported group counts the turn: the sleep-time agent runs on the worker.
    assert response.usage.run_ids
