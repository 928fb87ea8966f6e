"""An Agent File as Letta's server 0.16 exports it (made by hand in this repository, in
Letta's schema: tests/fixtures/agentfiles/letta_sleeptime.af) imports whole, and the
agent it holds works: it answers a turn with its history in context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from agents import sleeptime
from agents.loop import InputMessage
from agents.models import Agent, AgentType, Message
from agents.services import send_message
from config.secrets import unseal
from memory import services as memory_services
from sources import ingest
from sources.models import FileStatus, Source, SourceFile
from toolbox.models import Tool

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "agentfiles" / "letta_sleeptime.af"


def import_fixture(api: Any, **form: Any) -> list[Agent]:
    upload = SimpleUploadedFile("letta_sleeptime.af", FIXTURE.read_bytes(), "application/json")
    response = api.post("/v1/agents/import", {"file": upload, **form})
    assert response.status_code == 200, response.content
    ids = response.json()["agent_ids"]
    return [Agent.objects.get(pk=agent_id) for agent_id in ids]


def test_the_primary_and_its_sleeptime_agent_come_back_as_a_pair(api, user):
    primary, sleeper = import_fixture(api)
    assert (primary.name, sleeper.name) == ("Juniper_copy", "Juniper-sleeptime_copy")
    assert primary.owner == user and sleeper.owner == user
    group = sleeptime.group_of(primary)
    assert group is not None
    assert sleeptime.sleeptime_agents(group) == [sleeper]
    assert group.sleeptime_agent_frequency == 3
    assert primary.enable_sleeptime is True
    # The sleep-time agent keeps its own settings, not those of a new pair.
    assert sleeper.agent_type == AgentType.SLEEPTIME
    assert sleeper.llm_handle == "openai/gpt-4.1-mini"
    assert sleeper.temperature == 0.2 and sleeper.context_window == 64000
    assert sleeper.system.startswith("<base_instructions>\nYou are the memory of Juniper")
    assert sleeper.tools == [
        "memory_replace",
        "memory_insert",
        "memory_rethink",
        "memory_finish_edits",
    ]
    assert sleeper.tool_rules[-1] == {
        "tool_name": "memory_finish_edits",
        "type": "exit_loop",
        "prompt_template": None,
    }


def test_the_primarys_settings_blocks_and_tools_are_as_in_the_file(api):
    primary, sleeper = import_fixture(api, append_copy_suffix="false")
    assert primary.name == "Juniper"
    assert primary.agent_type == AgentType.MEMGPT_V2
    assert primary.llm_handle == "openai/gpt-4o-mini"
    assert (primary.context_window, primary.temperature, primary.max_tokens) == (32000, 0.5, 4096)
    assert primary.embedding_handle == "openai/text-embedding-3-small"
    assert primary.timezone == "Europe/Lisbon"
    assert primary.tags == ["garden", "demo"]
    assert primary.description.startswith("Helps a balcony gardener")
    blocks = {block.label: block for block in memory_services.agent_blocks(primary)}
    assert list(blocks) == ["human", "persona", "garden_notes"]
    assert blocks["persona"].read_only and blocks["persona"].limit == 2000
    assert blocks["persona"].metadata == {"tone": "plain"}
    assert blocks["human"].description == "What Juniper knows about the gardener."
    # Shared blocks are the very same rows, as in a pair made by Reverie.
    sleeper_blocks = {block.label: block.id for block in memory_services.agent_blocks(sleeper)}
    assert sleeper_blocks["human"] == blocks["human"].id
    assert sleeper_blocks["persona"] == blocks["persona"].id
    assert "memory_persona" in sleeper_blocks and "memory_persona" not in blocks
    # Letta's tools Reverie has are the agent's, and so is the file's custom tool, now
    # the organization's; Letta's web_search is kept, never offered.
    assert primary.tools == [
        "send_message",
        "conversation_search",
        "archival_memory_search",
        "watering_schedule",
    ]
    custom = Tool.objects.get(organization=primary.organization, name="watering_schedule")
    assert custom.source_code.startswith("def watering_schedule(")
    assert custom.tags == ["garden"] and custom.tool_type == "custom"
    assert custom.json_schema["parameters"]["required"] == ["plant"]
    kept = {tool["name"]: tool for tool in primary.metadata["unavailable_tools"]}
    assert sorted(kept) == ["web_search"]
    assert primary.metadata["created_for"] == "balcony plot"


def test_the_history_keeps_roles_tool_calls_and_what_is_in_context(api):
    primary, sleeper = import_fixture(api)
    rows = list(Message.objects.filter(agent=primary).order_by("seq"))
    # Letta's compiled system prompt and its summary alert are not stored as messages.
    assert [(m.role, m.in_context) for m in rows] == [
        ("user", False),
        ("assistant", False),
        ("user", True),
        ("assistant", True),
        ("tool", True),
        ("assistant", True),
        ("tool", True),
    ]
    assert rows[0].content.startswith("Hi! I'm Priya.")
    assert rows[0].otid == "b3c9d2e0-7f61-4a0e-9a8b-1f2e3d4c5b6a"
    assert rows[1].reasoning == "A new gardener. I should greet her and note the balcony."
    assert rows[1].tool_calls[0]["name"] == "send_message"
    search = rows[3]
    assert search.reasoning.startswith("She may have mentioned watering")
    assert search.tool_calls == [
        {"id": "call_search01", "name": "conversation_search", "arguments": '{"query": "water"}'}
    ]
    answer = rows[4]
    assert (answer.tool_call_id, answer.tool_name, answer.tool_status) == (
        "call_search01",
        "conversation_search",
        "success",
    )
    assert json.loads(answer.content)["message"] == "No results found."
    assert rows[2].created_at.isoformat() == "2026-05-03T08:01:00+00:00"
    # The two turns stay whole: eviction and sleep-time transcripts cut between turns.
    assert rows[0].turn_id == rows[1].turn_id != rows[2].turn_id == rows[6].turn_id
    primary.refresh_from_db()
    assert primary.summary.startswith("Priya introduced herself")
    assert primary.last_turn_end_seq == rows[-1].seq
    # The file's memory was learned from this history: sleep-time starts after it.
    group = sleeptime.group_of(primary)
    assert group is not None and group.last_processed_seq == rows[-1].seq
    sleeper_roles = list(
        Message.objects.filter(agent=sleeper).order_by("seq").values_list("role", flat=True)
    )
    assert sleeper_roles == ["user", "assistant", "tool", "assistant", "tool"]


def test_strip_messages_imports_the_agents_without_any_history(api):
    primary, sleeper = import_fixture(api, strip_messages="true")
    assert not Message.objects.filter(agent__in=[primary, sleeper]).exists()
    primary.refresh_from_db()
    assert primary.summary == ""
    assert [block.label for block in memory_services.agent_blocks(primary)] == [
        "human",
        "persona",
        "garden_notes",
    ]


def test_the_source_comes_attached_and_its_file_is_searchable_once_processed(api, llm):
    primary, _ = import_fixture(api)
    source = Source.objects.get(agents=primary)
    assert (source.name, source.instructions) == (
        "garden_notes",
        "Keep the watering rules for each plant.",
    )
    assert source.metadata == {"owner": "priya"}
    upload = SourceFile.objects.get(source=source)
    assert upload.file_name == "tomato_care.md"
    assert upload.processing_status == FileStatus.PENDING
    assert ingest.process_file(upload.id) == FileStatus.COMPLETED
    texts = [p.text for p in upload.passages.all()]
    assert any("Yellowing lower leaves" in text for text in texts)
    # Not digested again: what the agent learned from it came with it, and no model ran.
    assert llm.sleeper.requests == [] and llm.requests == []
    block = memory_services.get_agent_block(primary, "garden_notes")
    assert block.value.startswith("- Tomatoes: deep watering")


def test_the_imported_agent_answers_with_its_memory_summary_and_history(api, llm):
    primary, _ = import_fixture(api)
    llm.tool_call("send_message", {"message": "Water every three days, in the morning."})
    result = send_message(primary, [InputMessage(role="user", content="So how often then?")])
    assert result.stop_reason == "end_turn"
    sent = llm.last_request["messages"]
    system = sent[0]["content"]
    assert "I am Juniper. I speak plainly" in system
    assert "You are Juniper, a patient gardening companion." in system
    assert "Priya introduced herself" in sent[1]["content"]
    # The in-context turn with its tool call is there, the evicted one is not.
    assert [m["role"] for m in sent[2:]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "user",
    ]
    assert sent[3]["tool_calls"][0]["function"]["name"] == "conversation_search"
    assert not any("I'm Priya" in str(m.get("content")) for m in sent[2:])
    tools = [tool["function"]["name"] for tool in llm.last_request["tools"]]
    assert tools == [
        "send_message",
        "conversation_search",
        "archival_memory_search",
        "watering_schedule",
    ]
    assert result.run_ids  # frequency 3 from a new counter: the first turn starts a run


def test_a_block_over_its_limit_comes_with_the_limit_raised_to_fit(api):
    # Letta's server let blocks outgrow their limit; Reverie's limits always hold.
    document = json.loads(FIXTURE.read_text())
    document["blocks"][0]["value"] = "Priya. " * 1000
    upload = SimpleUploadedFile("big.af", json.dumps(document).encode(), "application/json")
    response = api.post("/v1/agents/import", {"file": upload})
    assert response.status_code == 200, response.content
    primary = Agent.objects.get(pk=response.json()["agent_ids"][0])
    human = memory_services.get_agent_block(primary, "human")
    assert (len(human.value), human.limit) == (7000, 7000)


def test_the_files_custom_tool_takes_its_secrets_and_replaces_or_keeps_the_organizations(api, user):
    (primary, _) = import_fixture(api, secrets=json.dumps({"WEATHER_API_KEY": "k-123"}))
    custom = Tool.objects.get(organization=primary.organization, name="watering_schedule")
    assert unseal(custom.environment) == {"WEATHER_API_KEY": "k-123"}
    custom.source_code = custom.source_code.replace("Look up when", "Say when")
    custom.save()

    import_fixture(api, override_existing_tools="false")
    custom.refresh_from_db()
    assert "Say when" in custom.source_code

    import_fixture(api)
    custom.refresh_from_db()
    assert "Look up when" in custom.source_code
    assert Tool.objects.filter(name="watering_schedule").count() == 1


def test_an_exported_agent_carries_its_custom_tool_with_its_source_but_not_its_secrets(api):
    (primary, _) = import_fixture(api, secrets=json.dumps({"WEATHER_API_KEY": "k-123"}))

    exported = api.get(f"/v1/agents/{primary.id}/export")

    assert exported.status_code == 200
    assert "k-123" not in exported.content.decode()
    document = exported.json()
    by_id = {tool["id"]: tool for tool in document["tools"]}
    agent = document["agents"][0]
    names = [by_id[tool_id]["name"] for tool_id in agent["tool_ids"]]
    assert "watering_schedule" in names and "web_search" in names
    custom = next(tool for tool in document["tools"] if tool["name"] == "watering_schedule")
    assert custom["tool_type"] == "custom"
    assert custom["source_code"].startswith("def watering_schedule(")
