"""Builders for the review tests: a primary whose `human` block is under review, and a
sleep-time run that proposes edits to it, made with the real services (a run opened as
digests and forget jobs open theirs, the agent's edits through the guarded path, the run
completed by its lifecycle) and no model call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents import runs, sleeptime
from agents.models import Agent, Group, Run, RunTrigger
from memory import services as memory_services
from memory.models import Block, Proposal
from memory.services import Actor

NOTES = "Seen at the market on Mondays, with a red umbrella and a dog named Rex."
# Two lines apart, so changing the second and the fourth makes two hunks.
PROFILE = "Name: Ada\nLikes: tea\nJob: engineer\nCity: London"


def review_pair(make_agent: Any, **overrides: Any) -> tuple[Agent, Agent, Group, Block]:
    """A primary with sleep-time, its sleep-time agent, their group, and the `human`
    block set to the review policy (its `notes` block keeps the default, auto)."""
    overrides.setdefault("name", "reviewed")
    blocks = {"human": PROFILE, "notes": NOTES}
    primary = make_agent(enable_sleeptime=True, blocks=blocks, **overrides)
    group = sleeptime.group_of(primary)
    assert group is not None
    (sleeper,) = sleeptime.sleeptime_agents(group)
    block = memory_services.get_agent_block(primary, "human")
    memory_services.update_block(
        block.id, actor=Actor.system(), **memory_services.policy_fields("review")
    )
    block.refresh_from_db()
    return primary, sleeper, group, block


def run_with_edits(
    primary: Agent,
    sleeper: Agent,
    label: str,
    edits: list[Callable[[str], str]],
    *,
    trigger: str = RunTrigger.MANUAL,
) -> Run:
    """A completed run of `sleeper` that made `edits` to the block `label`, one after
    the other; under review they add up to one proposal."""
    run = runs.open_running(sleeper, primary=primary, trigger=trigger, metadata={})
    assert run is not None
    for edit in edits:
        memory_services.edit_block_as_agent(
            sleeper, label, edit, Actor.for_agent(sleeper.id, run.id)
        )
    runs.complete(run.id, duration_ms=5)
    run.refresh_from_db()
    return run


def proposing_run(
    primary: Agent, sleeper: Agent, replacements: list[tuple[str, str]]
) -> tuple[Run, Proposal]:
    """A run that makes each replacement in `human` (under review): it ends
    `awaiting_review` with one proposal."""
    edits = [lambda text, old=old, new=new: text.replace(old, new) for old, new in replacements]
    run = run_with_edits(primary, sleeper, "human", edits)
    return run, Proposal.objects.get(run_id=run.id)


def two_hunks(primary: Agent, sleeper: Agent) -> tuple[Run, Proposal]:
    """A proposal with two hunks: change 1 the drink, change 2 the city."""
    return proposing_run(
        primary, sleeper, [("Likes: tea", "Likes: coffee"), ("City: London", "City: Paris")]
    )
