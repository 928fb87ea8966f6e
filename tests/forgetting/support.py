"""Builders and checks shared by the forgetting tests."""

from __future__ import annotations

from typing import Any

from django.db import connection

from agents import runs, sleeptime
from agents.loop import InputMessage
from agents.models import Agent, Group, Message, Run
from agents.services import send_message
from memory import services as memory_services
from memory.models import BlockVersion, Passage

TEST_EMBEDDING = "openai/text-embedding-3-small"


def grep_database(text: str) -> dict[str, int]:
    """Every table of the database whose rows, read as text, contain `text` (any case):
    the number of such rows per table. This is the literal check that something was
    forgotten: not what the code thinks it touched, but what is left anywhere."""
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        tables = sorted(row[0] for row in cursor.fetchall())
        for table in tables:
            # The whole row cast to text: every column, JSON and arrays included.
            query = f'SELECT count(*) FROM "{table}" AS row WHERE strpos(lower(row::text), %s) > 0'
            cursor.execute(query, [text.lower()])
            (count,) = cursor.fetchone()
            if count:
                found[table] = count
    return found


def pair(make_agent: Any, **overrides: Any) -> tuple[Agent, Agent, Group]:
    """A primary with sleep-time on, its sleep-time agent and their group."""
    overrides.setdefault("name", "chat")
    primary = make_agent(enable_sleeptime=True, **overrides)
    group = sleeptime.group_of(primary)
    assert group is not None
    (sleeper,) = sleeptime.sleeptime_agents(group)
    return primary, sleeper, group


def say(agent: Agent, text: str) -> Any:
    return send_message(agent, [InputMessage(role="user", content=text)])


def run_sleeper_now(group: Group) -> Run:
    """Start a run of the group's sleep-time agent and carry it out, as a worker would."""
    (run,) = sleeptime.run_now(group)
    assert runs.execute_run(run.id) == "completed", Run.objects.get(pk=run.id).error
    run.refresh_from_db()
    return run


def contents(agent: Agent) -> list[str]:
    return list(
        Message.objects.filter(agent=agent).order_by("seq").values_list("content", flat=True)
    )


def value(agent: Agent, label: str = "human") -> str:
    return memory_services.get_agent_block(agent, label).value


def history(agent: Agent, label: str = "human") -> list[BlockVersion]:
    block = memory_services.get_agent_block(agent, label)
    return list(block.versions.order_by("number"))


def history_text(agent: Agent, label: str = "human") -> str:
    return "\n".join(f"{v.previous_value}\n{v.value}" for v in history(agent, label))


def passage(agent: Agent, text: str) -> Passage:
    """An archival passage without a model call (the embedding is not what is tested)."""
    return Passage.objects.create(
        owner_id=agent.owner_id,
        agent=agent,
        text=text,
        embedding=[1.0] + [0.0] * 1535,
        embedding_handle=TEST_EMBEDDING,
    )
