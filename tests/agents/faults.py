"""Builders and checks shared by the tests of sleep-time you can trust: a primary whose
`human` block holds several facts, runs carried out as a worker would, and the check
that no fact was lost (still in the block, or kept in archival memory with a link to
the version it left)."""

from __future__ import annotations

import json
from typing import Any

from agents import runs, sleeptime
from agents.loop import InputMessage
from agents.models import Agent, Group, Message, Run
from agents.services import send_message
from memory import services as memory_services
from memory.models import BlockVersion, Passage, Proposal
from memory.services import REMOVED_TAG

FACTS = [
    "Name: Ada Lovelace",
    "Born: 10 December 1815, in London",
    "Works as: mathematician and writer",
    "Likes: green tea, long walks along the Thames, chess on Sundays",
    "Dislikes: loud music and cold rooms",
    "Partner: William King, Earl of Lovelace",
    "Pet: a black cat called Puff",
    "Project: notes on the Analytical Engine, due in March",
]
HUMAN = "\n".join(FACTS)
assert len(HUMAN) > 300


def pair(make_agent: Any, **overrides: Any) -> tuple[Agent, Agent, Group]:
    """A primary with sleep-time whose `human` block holds FACTS, its sleep-time agent and
    their group. Every turn triggers a run unless `sleeptime_agent_frequency` says else."""
    overrides.setdefault("name", "chat")
    overrides.setdefault("sleeptime_agent_frequency", 1)
    overrides.setdefault("blocks", {"persona": "I am a helpful assistant.", "human": HUMAN})
    primary = make_agent(enable_sleeptime=True, **overrides)
    group = sleeptime.group_of(primary)
    assert group is not None
    (sleeper,) = sleeptime.sleeptime_agents(group)
    return primary, sleeper, group


def say(agent: Agent, text: str, **options: Any) -> list[str]:
    """One turn of the primary; the ids of the runs it started (or joined)."""
    result = send_message(agent, [InputMessage(role="user", content=text)], **options)
    return result.run_ids or []


def started_run(agent: Agent, text: str = "I had a long day at the library", **options: Any) -> Run:
    (run_id,) = say(agent, text, **options)
    return Run.objects.get(pk=run_id)


def execute(run: Run) -> Run:
    """Carry out the run as a worker would; the run as it ended."""
    runs.execute_run(run.id)
    run.refresh_from_db()
    return run


def value(agent: Agent, label: str = "human") -> str:
    return memory_services.get_agent_block(agent, label).value


def removed_passages(agent: Agent) -> list[Passage]:
    return list(
        memory_services.agent_passages(agent)
        .filter(tags__contains=[REMOVED_TAG])
        .order_by("created_at")
    )


def assert_nothing_lost(primary: Agent, facts: list[str] = FACTS, label: str = "human") -> None:
    """Every fact is still in the block, or kept in the primary's archival memory with the
    version it left: a version of the block whose previous value held it."""
    block = memory_services.get_agent_block(primary, label)
    for fact in facts:
        if fact in block.value:
            continue
        kept = [p for p in removed_passages(primary) if fact in p.text]
        assert kept, f"{fact!r} is neither in the block nor in archival memory"
        link = kept[-1].metadata
        assert link["block_id"] == block.id and link["label"] == label
        left = BlockVersion.objects.get(block=block, number=link["version"])
        assert fact in left.previous_value and fact not in left.value


def tool_results(run: Run, tool: str | None = None) -> list[tuple[str, str]]:
    """(status, message) of each tool result the run's model was shown, in order."""
    found = []
    for message in runs.run_messages(run).filter(role="tool"):
        if tool is not None and message.tool_name != tool:
            continue
        found.append((message.tool_status, json.loads(message.content)["message"]))
    return found


def failed_results(run: Run) -> list[str]:
    return [text for status, text in tool_results(run) if status == "error"]


def proposals_of(run: Run) -> list[Proposal]:
    return list(Proposal.objects.filter(run_id=run.id).order_by("created_at"))


def last_message(agent: Agent) -> Message:
    message = Message.objects.filter(agent=agent).order_by("seq").last()
    assert message is not None
    return message
