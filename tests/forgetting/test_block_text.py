"""Forgetting a text from the memory blocks: current values, descriptions and every
version of their history, for the agent and its sleep-time agents."""

from __future__ import annotations

from itertools import pairwise

import pytest

from agents.tools import ToolContext, ToolError, execute
from forgetting.redaction import MARKER
from forgetting.services import purge_block_text
from memory import services as memory_services
from memory.models import BlockVersion
from memory.services import Actor
from tests.factories import pair
from tests.forgetting.support import history, history_text, value


def write(agent, text: str, label: str = "human") -> None:
    block = memory_services.get_agent_block(agent, label)
    memory_services.update_block(block.id, actor=Actor.for_user(agent.owner), value=text)


def test_the_text_leaves_the_value_and_every_version_and_the_chain_still_holds(make_agent):
    agent = make_agent(blocks={"human": "Name: Ada\nWorks on Zephyr with Bob"})
    write(agent, "Name: Ada\nWorks on Zephyr with Bob\nZEPHYR ships in May")
    write(agent, "Name: Ada\nLikes tea")

    tombstone = purge_block_text(agent, "zephyr", who="7")

    versions = history(agent)
    assert "zephyr" not in history_text(agent).lower()
    assert versions[1].value == f"Name: Ada\nWorks on {MARKER} with Bob\n{MARKER} ships in May"
    for before, after in pairwise(versions):
        assert after.previous_value == before.value
    assert value(agent) == "Name: Ada\nLikes tea"  # untouched: nothing to rewrite
    assert tombstone.details == {"versions": 3}


def test_a_current_value_that_held_it_is_rewritten_as_a_new_version(make_agent):
    agent = make_agent(blocks={"human": "Works on Zephyr"})
    block = memory_services.get_agent_block(agent, "human")

    purge_block_text(agent, "Zephyr", who="7")

    block.refresh_from_db()
    assert block.value == f"Works on {MARKER}"
    assert block.version == 2
    assert [v.value for v in history(agent)] == [f"Works on {MARKER}"] * 2


def test_a_rewrite_by_a_model_that_read_the_old_text_is_refused(make_agent):
    primary, sleeper, _ = pair(make_agent, blocks={"human": "Works on Zephyr"})
    seen = memory_services.get_agent_block(sleeper, "human").version
    purge_block_text(primary, "zephyr", who="7")
    ctx = ToolContext(agent=sleeper, turn_id="t", seen_versions={"human": seen})

    with pytest.raises(ToolError, match="changed by someone else"):
        execute(ctx, "memory_rethink", {"label": "human", "new_memory": "Works on Zephyr"})

    assert value(primary) == f"Works on {MARKER}"


def test_the_sleep_time_agents_own_blocks_and_descriptions_are_rewritten_too(make_agent):
    primary, sleeper, _ = pair(make_agent, blocks={"human": ""})
    persona = memory_services.get_agent_block(sleeper, "memory_persona")
    memory_services.update_block(
        persona.id,
        actor=Actor.system(),
        value="Watch for news about Zephyr.",
        description="Zephyr policy",
    )

    purge_block_text(primary, "zephyr", who="7")

    persona.refresh_from_db()
    assert (persona.value, persona.description) == (
        f"Watch for news about {MARKER}.",
        f"{MARKER} policy",
    )
    assert not BlockVersion.objects.filter(description__icontains="zephyr").exists()


def test_when_the_marker_would_overflow_the_block_the_text_is_removed_instead(make_agent):
    text = "Zed Zed Zed Zed"
    agent = make_agent(blocks={"human": text}, human_limit=len(text))

    purge_block_text(agent, "zed", who="7")

    assert value(agent) == "   "
    assert "zed" not in history_text(agent).lower()
    assert MARKER not in history_text(agent)


def test_a_text_that_the_marker_contains_is_removed_rather_than_marked(make_agent):
    agent = make_agent(blocks={"human": "I forgot the keys"})

    purge_block_text(agent, "forgot", who="7")

    assert value(agent) == "I  the keys"
    assert "forgot" not in history_text(agent)
