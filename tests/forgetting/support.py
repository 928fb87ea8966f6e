"""Checks shared by the forgetting tests: what is left, anywhere (the builders are in
tests/factories.py)."""

from __future__ import annotations

from django.db import connection

from agents.models import Agent, Message
from memory import services as memory_services
from memory.models import BlockVersion


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
