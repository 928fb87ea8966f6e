"""How core memory is compiled into the system prompt the model receives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from agents import loop, prompts
from agents.loop import InputMessage
from agents.services import send_message
from memory import services as memory_services
from memory.editing import LINE_NUMBER_WARNING


@dataclass
class PlainBlock:
    label: str
    value: str
    limit: int = 100
    description: str = ""
    read_only: bool = False


def system_of(request: dict) -> str:
    first = request["messages"][0]
    assert first["role"] == "system"
    return first["content"]


# --- compile_memory ----------------------------------------------------------------------


def test_memory_blocks_are_wrapped_with_description_metadata_and_value_in_order():
    blocks = [
        PlainBlock("persona", "I am Sam.", limit=100, description="Who I am"),
        PlainBlock(
            "policy", "No swearing.\nBe kind.", limit=50, description="Rules", read_only=True
        ),
    ]

    compiled = prompts.compile_memory(blocks)

    assert compiled == (
        "<memory_blocks>\n"
        "The following memory blocks are currently engaged in your core memory unit:\n"
        "\n"
        "<persona>\n"
        "<description>\n"
        "Who I am\n"
        "</description>\n"
        "<metadata>\n"
        "- chars_current=9\n"
        "- chars_limit=100\n"
        "</metadata>\n"
        "<value>\n"
        "I am Sam.\n"
        "</value>\n"
        "</persona>\n"
        "\n"
        "<policy>\n"
        "<description>\n"
        "Rules\n"
        "</description>\n"
        "<metadata>\n"
        "- read_only=true\n"
        "- chars_current=21\n"
        "- chars_limit=50\n"
        "</metadata>\n"
        "<value>\n"
        "No swearing.\n"
        "Be kind.\n"
        "</value>\n"
        "</policy>\n"
        "</memory_blocks>"
    )


def test_only_read_only_blocks_are_flagged_read_only():
    compiled = prompts.compile_memory(
        [PlainBlock("human", "Ada"), PlainBlock("rules", "Be brief.", read_only=True)]
    )

    assert compiled.count("- read_only=true") == 1
    human_section = compiled.split("<human>")[1].split("</human>")[0]
    rules_section = compiled.split("<rules>")[1].split("</rules>")[0]
    assert "read_only" not in human_section
    assert "- read_only=true" in rules_section


def test_chars_current_counts_characters_not_bytes():
    compiled = prompts.compile_memory([PlainBlock("human", "café ☕ naïve", limit=40)])

    assert "- chars_current=12\n- chars_limit=40" in compiled


def test_an_empty_block_still_shows_its_empty_value_and_zero_length():
    compiled = prompts.compile_memory([PlainBlock("human", "")])

    assert "- chars_current=0\n" in compiled
    assert "<value>\n\n</value>" in compiled


def test_a_memory_without_blocks_is_an_empty_wrapper():
    compiled = prompts.compile_memory([])

    assert compiled.startswith("<memory_blocks>\n")
    assert compiled.endswith("</memory_blocks>")
    assert "<value>" not in compiled


def test_line_numbered_values_follow_the_banner_but_chars_current_counts_the_raw_value():
    compiled = prompts.compile_memory(
        [PlainBlock("human", "Name: Ada\nLikes: tea", limit=60)], line_numbers=True
    )

    assert (
        "<value>\n" + LINE_NUMBER_WARNING + "\nLine 1: Name: Ada\nLine 2: Likes: tea\n</value>"
    ) in compiled
    assert "- chars_current=20\n" in compiled


# --- Line numbers per agent type ---------------------------------------------------------


@pytest.mark.parametrize(
    ("agent_type", "numbered"),
    [
        ("sleeptime_agent", True),
        ("memgpt_v2_agent", True),
        ("memgpt_agent", False),
        ("letta_v1_agent", False),
        ("react_agent", False),
    ],
)
def test_line_numbers_are_shown_only_to_agent_types_with_line_based_edit_tools(
    make_agent, agent_type, numbered
):
    agent = make_agent(agent_type=agent_type, blocks={"human": "Name: Ada\nLikes: tea"})

    system = loop.compile_system(agent)

    if numbered:
        assert (
            "<value>\n" + LINE_NUMBER_WARNING + "\nLine 1: Name: Ada\nLine 2: Likes: tea\n</value>"
        ) in system
    else:
        assert "<value>\nName: Ada\nLikes: tea\n</value>" in system
        assert "Line 1:" not in system
        assert LINE_NUMBER_WARNING not in system


def test_the_agents_blocks_appear_in_attachment_order(make_agent):
    agent = make_agent(blocks={"persona": "P", "human": "H", "project": "X"})

    system = loop.compile_system(agent)

    assert system.index("<persona>") < system.index("<human>") < system.index("<project>")


# --- {CORE_MEMORY} placement ---------------------------------------------------------------


def test_core_memory_replaces_the_placeholder_and_metadata_goes_at_the_end():
    compiled = prompts.compile_system_prompt(
        "Intro.\n{CORE_MEMORY}\nOutro.", "<memory_blocks>M</memory_blocks>", "META"
    )

    assert compiled == "Intro.\n<memory_blocks>M</memory_blocks>\nOutro.\n\nMETA"


def test_without_a_placeholder_core_memory_follows_the_prompt():
    compiled = prompts.compile_system_prompt("You are Sam.", "MEMORY", "META")

    assert compiled == "You are Sam.\n\nMEMORY\n\nMETA"


def test_an_agent_prompt_with_a_placeholder_gets_its_memory_there(make_agent, llm):
    agent = make_agent(
        system="You are Sam.\n{CORE_MEMORY}\nAlways answer briefly.",
        blocks={"human": "Name: Ada"},
    )

    send_message(agent, [InputMessage(role="user", content="hi")])

    system = system_of(llm.last_request)
    assert "{CORE_MEMORY}" not in system
    assert system.startswith("You are Sam.\n<memory_blocks>\n")
    assert "</memory_blocks>\nAlways answer briefly.\n\n<memory_metadata>\n" in system
    assert system.endswith("</memory_metadata>")
    assert system.count("<memory_blocks>") == 1
    assert "Name: Ada" in system


def test_an_agent_prompt_without_a_placeholder_gets_memory_after_it(make_agent, llm):
    agent = make_agent(system="You are Sam.", blocks={"human": "Name: Ada"})

    send_message(agent, [InputMessage(role="user", content="hi")])

    system = system_of(llm.last_request)
    assert system.startswith("You are Sam.\n\n<memory_blocks>\n")
    assert "</memory_blocks>\n\n<memory_metadata>\n" in system
    assert system.endswith("</memory_metadata>")


# --- Memory metadata -----------------------------------------------------------------------


def test_memory_metadata_reports_time_last_edit_and_counts():
    metadata = prompts.compile_memory_metadata(
        now=datetime(2025, 3, 4, 15, 5, 6, tzinfo=UTC),
        last_modified=datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC),
        recall_count=7,
        archival_count=2,
    )

    lines = metadata.split("\n")
    assert lines[0] == "<memory_metadata>"
    assert lines[-1] == "</memory_metadata>"
    assert "- The current time is: 2025-03-04 03:05:06 PM UTC" in lines
    assert "- Memory blocks were last modified: 2025-03-01 09:00:00 AM UTC" in lines
    assert any(line.startswith("- 7 previous messages") for line in lines)
    assert any(line.startswith("- 2 total memories") for line in lines)


def test_memory_metadata_says_never_when_no_block_was_ever_modified(make_agent):
    agent = make_agent(blocks={})

    system = loop.compile_system(agent)

    assert "- Memory blocks were last modified: never" in system


def test_memory_metadata_counts_this_agents_messages_and_passages_only(make_agent, llm):
    agent = make_agent(name="counted")
    other = make_agent(name="other")
    send_message(agent, [InputMessage(role="user", content="hello")])
    memory_services.insert_passage(agent, "Ada likes tea.")
    memory_services.insert_passage(agent, "Ada has a cat.")
    send_message(other, [InputMessage(role="user", content="unrelated")])
    memory_services.insert_passage(other, "Unrelated passage.")

    system = loop.compile_system(agent)

    # user, assistant (send_message call) and tool return of the one turn
    assert "- 3 previous messages between you and the user are stored in recall memory" in system
    assert "- 2 total memories you created are stored in archival memory" in system


def test_the_request_metadata_grows_as_the_conversation_goes_on(make_agent, llm):
    agent = make_agent()

    send_message(agent, [InputMessage(role="user", content="one")])
    send_message(agent, [InputMessage(role="user", content="two")])

    first, second = (system_of(request) for request in llm.requests)
    assert "- 1 previous messages" in first
    assert "- 4 previous messages" in second


# --- Edits by others are seen at the next turn -----------------------------------------------


def test_a_block_edited_by_a_person_between_turns_is_in_the_next_request(make_agent, user, llm):
    agent = make_agent(blocks={"human": "Name: Ada"})
    send_message(agent, [InputMessage(role="user", content="hi")])
    block = memory_services.get_agent_block(agent, "human")

    memory_services.update_block(
        block.id, actor=memory_services.Actor.for_user(user), value="Name: Ada Lovelace"
    )
    send_message(agent, [InputMessage(role="user", content="who am I?")])

    before, after = (system_of(request) for request in llm.requests)
    assert "Name: Ada\n" in before and "Lovelace" not in before
    assert "Name: Ada Lovelace" in after
    assert f"- chars_current={len('Name: Ada Lovelace')}\n" in after


def test_a_shared_block_edited_by_another_agent_is_in_the_next_request(make_agent, user, llm):
    shared = memory_services.create_block(user, label="team", value="Goal: ship v1", limit=200)
    reader = make_agent(name="reader", blocks={"human": ""}, block_ids=[shared.id])
    writer = make_agent(
        name="writer", agent_type="sleeptime_agent", blocks={}, block_ids=[shared.id]
    )
    send_message(reader, [InputMessage(role="user", content="what is the goal?")])

    llm.sleeper.tool_call("memory_replace", {"label": "team", "old_str": "v1", "new_str": "v2"})
    llm.sleeper.tool_call("memory_finish_edits")
    send_message(writer, [InputMessage(role="user", content="the goal moved to v2")])
    send_message(reader, [InputMessage(role="user", content="and now?")])

    first, last = system_of(llm.requests[0]), system_of(llm.requests[-1])
    assert "Goal: ship v1" in first
    assert "Goal: ship v2" in last and "Goal: ship v1" not in last
