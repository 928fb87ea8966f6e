"""Reverie → Agent File → Reverie: the imported agent is the exported one, field by field,
with its sleep-time agent and group, blocks, tools, history and sources."""

from __future__ import annotations

import json
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from agents import sleeptime
from agents.models import Agent, AgentType, Message
from agents.services import update_agent
from memory import services as memory_services
from sources import ingest
from sources import services as source_services
from sources.models import Source, SourceFile
from tests.factories import pair, say

AGENT_FIELDS = (
    "name",
    "description",
    "system",
    "agent_type",
    "llm_handle",
    "context_window",
    "temperature",
    "max_tokens",
    "embedding_handle",
    "embedding_chunk_size",
    "tools",
    "tool_rules",
    "tags",
    "metadata",
    "timezone",
    "enable_sleeptime",
    "summary",
)
BLOCK_FIELDS = ("label", "value", "limit", "description", "read_only", "metadata", "is_template")
MESSAGE_FIELDS = (
    "role",
    "content",
    "reasoning",
    "tool_calls",
    "tool_call_id",
    "tool_name",
    "tool_status",
    "name",
    "otid",
    "sender_id",
    "created_at",
    "in_context",
    "step",
)
TEXT = (
    "Basil wants six hours of sun. Water it when the top of the soil is dry. "
    "Pinch the flowers so that the leaves keep coming. "
) * 40


def export(api: Any, agent: Agent, **query: Any) -> dict[str, Any]:
    response = api.get(f"/v1/agents/{agent.id}/export", query)
    assert response.status_code == 200, response.content
    return dict(response.json())


def reimport(api: Any, document: dict[str, Any], **form: Any) -> list[Agent]:
    upload = SimpleUploadedFile("agent.af", json.dumps(document).encode(), "application/json")
    response = api.post(
        "/v1/agents/import", {"file": upload, "append_copy_suffix": "false", **form}
    )
    assert response.status_code == 200, response.content
    return [Agent.objects.get(pk=agent_id) for agent_id in response.json()["agent_ids"]]


def fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def turns(agent: Agent) -> list[list[int]]:
    """The history's turns as groups of positions."""
    grouped: dict[str, list[int]] = {}
    for index, turn_id in enumerate(
        agent.messages.order_by("seq").values_list("turn_id", flat=True)
    ):
        grouped.setdefault(turn_id, []).append(index)
    return list(grouped.values())


def a_well_used_pair(make_agent: Any, llm: Any, user: Any) -> tuple[Agent, Agent]:
    primary, sleeper, _ = pair(
        make_agent,
        name="gardener",
        agent_type=AgentType.LETTA_V1,
        system="You help with a balcony garden.\n{CORE_MEMORY}\nBe brief.",
        description="A garden helper",
        model="openai/gpt-4.1",
        embedding="openai/text-embedding-3-small",
        context_window=64000,
        temperature=0.3,
        max_tokens=2048,
        embedding_chunk_size=200,
        timezone="Europe/Lisbon",
        tags=["garden", "balcony"],
        metadata={"plot": 7, "nested": {"ok": True}},
        tools=["archival_memory_insert"],
        sleeptime_model="openai/gpt-4.1-mini",
        sleeptime_agent_frequency=4,
        sleeptime_idle_seconds=90,
    )
    human = memory_services.get_agent_block(primary, "human")
    memory_services.update_block(
        human.id,
        actor=memory_services.Actor.for_user(user),
        value="Name: Priya",
        limit=400,
        description="The gardener",
        metadata={"source": "chat"},
    )
    memory_services.update_block(
        memory_services.get_agent_block(primary, "persona").id,
        actor=memory_services.Actor.for_user(user),
        read_only=True,
    )
    update_agent(
        primary,
        {"tool_rules": [{"tool_name": "send_message", "type": "exit_loop"},
                        {"tool_name": "archival_memory_search", "type": "max_count_per_step",
                         "max_count_limit": 2}]},
        user=user,
    )  # fmt: skip
    update_agent(sleeper, {"system": "You keep the garden notes.", "temperature": 0.1}, user=user)
    llm.reply("Hello Priya!")
    say(primary, "Hi, I am Priya")
    llm.tool_call("archival_memory_search", {"query": "basil"}, content="Let me look.")
    llm.tool_call("send_message", {"message": "Basil likes sun."})
    say(primary, "What does basil want?")
    llm.tool_call("send_message", {"message": "Noted."})
    say(primary, "Remember my balcony faces south")
    # The first turn was evicted into the summary.
    first = Message.objects.filter(agent=primary).order_by("seq")[:2]
    Message.objects.filter(pk__in=[m.pk for m in first]).update(in_context=False)
    Agent.objects.filter(pk=primary.pk).update(summary="Priya said hello.")
    # A source whose file was processed: its text now lives only in its passages.
    source = source_services.create_source(
        user, name="care_sheets", description="Plant care", instructions="Keep watering rules",
        embedding="openai/text-embedding-3-small", embedding_chunk_size=120,
        metadata={"lang": "en"},
    )  # fmt: skip
    upload = source_services.upload_file(
        source, file_name="basil.txt", content_type="text/plain", data=TEXT.encode()
    )
    assert ingest.process_file(upload.id) == "completed"
    source_services.attach_source(primary, source)
    primary.refresh_from_db()
    sleeper.refresh_from_db()
    return primary, sleeper


def test_an_agent_and_its_sleeptime_agent_come_back_field_by_field(api, make_agent, llm, user):
    primary, sleeper = a_well_used_pair(make_agent, llm, user)
    group = sleeptime.group_of(primary)
    assert group is not None
    new_primary, new_sleeper = reimport(api, export(api, primary))
    assert new_primary.pk != primary.pk
    assert fields(new_primary, AGENT_FIELDS) == fields(primary, AGENT_FIELDS)
    assert fields(new_sleeper, AGENT_FIELDS) == fields(sleeper, AGENT_FIELDS)
    new_group = sleeptime.group_of(new_primary)
    assert new_group is not None
    assert sleeptime.sleeptime_agents(new_group) == [new_sleeper]
    assert (new_group.sleeptime_agent_frequency, new_group.sleeptime_idle_seconds) == (4, 90)
    assert new_group.turns_counter == -1
    processed = Message.objects.get(uid=new_group.last_processed_message_id)
    assert processed.agent == new_primary and processed.seq == new_primary.last_turn_end_seq


def test_blocks_come_back_with_labels_values_limits_and_sharing(api, make_agent, llm, user):
    primary, sleeper = a_well_used_pair(make_agent, llm, user)
    new_primary, new_sleeper = reimport(api, export(api, primary))
    for old, new in ((primary, new_primary), (sleeper, new_sleeper)):
        old_blocks = memory_services.agent_blocks(old)
        new_blocks = memory_services.agent_blocks(new)
        assert [fields(b, BLOCK_FIELDS) for b in new_blocks] == [
            fields(b, BLOCK_FIELDS) for b in old_blocks
        ]
    shared = {b.id for b in memory_services.agent_blocks(new_primary)} & {
        b.id for b in memory_services.agent_blocks(new_sleeper)
    }
    assert len(shared) == len(memory_services.agent_blocks(primary))
    persona = memory_services.get_agent_block(new_primary, "persona")
    assert persona.read_only and persona.version == 1


def test_the_history_comes_back_message_by_message_with_its_turns(api, make_agent, llm, user):
    primary, _ = a_well_used_pair(make_agent, llm, user)
    new_primary, _ = reimport(api, export(api, primary))
    old = list(primary.messages.order_by("seq"))
    new = list(new_primary.messages.order_by("seq"))
    assert len(new) == len(old) == 10
    for before, after in zip(old, new, strict=True):
        assert fields(after, MESSAGE_FIELDS) == fields(before, MESSAGE_FIELDS)
    assert turns(new_primary) == turns(primary)
    assert [m.in_context for m in new][:2] == [False, False]
    assert any(m.tool_calls for m in new) and any(m.reasoning for m in new)


def test_the_source_comes_back_with_its_files_text(api, make_agent, llm, user):
    primary, _ = a_well_used_pair(make_agent, llm, user)
    source = Source.objects.get(agents=primary)
    document = export(api, primary)
    # The name is taken in this organization (by the original): the copy gets a number,
    # and so does the block its digest writes.
    new_primary, _ = reimport(api, document)
    copy = Source.objects.get(agents=new_primary)
    assert copy.name == "care_sheets_2"
    assert (copy.description, copy.instructions, copy.metadata) == (
        source.description,
        source.instructions,
        source.metadata,
    )
    assert (copy.embedding_handle, copy.embedding_chunk_size) == (
        "openai/text-embedding-3-small",
        120,
    )
    upload = SourceFile.objects.get(source=copy)
    assert (upload.file_name, upload.file_type) == ("basil.txt", "text/plain")
    assert ingest.process_file(upload.id) == "completed"
    original = SourceFile.objects.get(source=source)
    assert [p.text for p in upload.passages.order_by("chunk_index")] == [
        p.text for p in original.passages.order_by("chunk_index")
    ]


def test_a_paused_sleeptime_group_stays_paused(api, make_agent, llm, user):
    primary, _ = a_well_used_pair(make_agent, llm, user)
    update_agent(primary, {"enable_sleeptime": False}, user=user)
    new_primary, new_sleeper = reimport(api, export(api, primary))
    assert new_primary.enable_sleeptime is False
    assert sleeptime.sleeptime_agents(sleeptime.group_of(new_primary)) == [new_sleeper]


def test_a_letta_files_tools_reverie_lacks_survive_a_round_trip(api, make_agent, llm, user):
    from tests.agents.test_agentfile_letta_fixture import import_fixture

    primary, _ = import_fixture(api)
    document = export(api, primary)
    tools = {tool["name"]: tool for tool in document["tools"]}
    assert tools["watering_schedule"]["source_code"].startswith("def watering_schedule(")
    assert tools["web_search"]["tool_type"] == "letta_builtin"
    exported = document["agents"][0]
    assert "unavailable_tools" not in exported["metadata"]
    assert {tools[name]["id"] for name in ("watering_schedule", "web_search")} <= set(
        exported["tool_ids"]
    )
    again, _ = reimport(api, document)
    assert again.tools == primary.tools
    assert again.metadata == primary.metadata


def test_the_export_is_in_lettas_shape(api, make_agent, llm, user):
    primary, _ = a_well_used_pair(make_agent, llm, user)
    document = export(api, primary)
    assert set(document) >= {
        "agents",
        "groups",
        "blocks",
        "files",
        "sources",
        "tools",
        "mcp_servers",
    }
    first, second = document["agents"]
    assert (first["id"], second["id"]) == ("agent-0", "agent-1")
    # Letta's history begins with the compiled system prompt, then its summary alert.
    system, summary = first["messages"][:2]
    assert first["in_context_message_ids"][:2] == [system["id"], summary["id"]]
    assert system["role"] == "system" and "Name: Priya" in system["content"][0]["text"]
    alert = json.loads(summary["content"][0]["text"])
    assert alert["type"] == "system_alert" and alert["message"].endswith("Priya said hello.")
    [group] = document["groups"]
    assert group["agent_ids"] == ["agent-1"] and first["group_ids"] == [group["id"]]
    assert group["manager_config"]["manager_agent_id"] == "agent-0"
    assert group["manager_config"]["sleeptime_agent_frequency"] == 4
    # As Letta writes it: the group makes the pair, not the flag.
    assert first["enable_sleeptime"] is False and first["include_base_tools"] is False
    block_ids = {block["id"] for block in document["blocks"]}
    assert set(first["block_ids"]) <= block_ids and set(second["block_ids"]) <= block_ids
    [file] = document["files"]
    assert file["content"].split() == TEXT.split()
    scrubbed = export(api, primary, scrub_messages="true")
    assert scrubbed["agents"][0]["messages"] == []
    assert scrubbed["agents"][0]["in_context_message_ids"] == []


EVERY_RULE: list[dict[str, Any]] = [
    {"tool_name": "conversation_search", "type": "run_first", "prompt_template": "first",
     "args": {"query": "garden"}},
    {"tool_name": "send_message", "type": "exit_loop", "prompt_template": None},
    {"tool_name": "archival_memory_insert", "type": "continue_loop", "prompt_template": None},
    {"tool_name": "conversation_search", "type": "constrain_child_tools",
     "prompt_template": None, "children": ["core_memory_append", "send_message"],
     "child_arg_nodes": [{"name": "core_memory_append", "args": {"label": "human"}}]},
    {"tool_name": "archival_memory_search", "type": "conditional", "prompt_template": None,
     "default_child": "send_message", "child_output_mapping": {"[]": "archival_memory_insert"},
     "require_output_mapping": True},
    {"tool_name": "core_memory_replace", "type": "max_count_per_step", "prompt_template": None,
     "max_count_limit": 3},
    {"tool_name": "archival_memory_search", "type": "parent_last_tool", "prompt_template": None,
     "children": ["core_memory_replace"]},
    {"tool_name": "core_memory_append", "type": "required_before_exit", "prompt_template": None},
    {"tool_name": "archival_memory_insert", "type": "requires_approval", "prompt_template": None},
]  # fmt: skip


def test_every_tool_rule_comes_back_with_every_field(api, make_agent, user):
    agent = make_agent(name="ruled", tool_rules=EVERY_RULE)
    assert agent.tool_rules == EVERY_RULE
    document = export(api, agent)
    assert document["agents"][0]["tool_rules"] == EVERY_RULE
    (again,) = reimport(api, document)
    assert again.tool_rules == EVERY_RULE
    assert api.get(f"/v1/agents/{again.id}").json()["tool_rules"] == EVERY_RULE


def test_an_agent_file_with_a_rule_of_no_known_shape_is_refused(api, make_agent, user):
    document = export(api, make_agent(name="ruled"))
    document["agents"][0]["tool_rules"] = [
        {"tool_name": "send_message", "type": "max_count_per_step", "max_count_limit": 0}
    ]
    upload = SimpleUploadedFile("agent.af", json.dumps(document).encode(), "application/json")
    response = api.post("/v1/agents/import", {"file": upload})
    assert response.status_code == 400
    assert "agents[0].tool_rules[0]" in response.content.decode()
    assert "max_count_limit" in response.content.decode()
