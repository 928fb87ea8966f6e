"""The default channel layer carries group messages between processes through
PostgreSQL LISTEN/NOTIFY: what one process publishes, another's consumers receive."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from config.pg_channels import PostgresChannelLayer
from memory import events
from tests.live import ROOT, database_url

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_group_message_published_with_notify_reaches_the_groups_members():
    layer = PostgresChannelLayer()
    member, outsider = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(events.agent_group("agent-1"), member)
    await layer.group_add(events.agent_group("agent-2"), outsider)

    event = {"type": "block.changed", "block_id": "block-1", "version": 3}

    def publish() -> None:
        try:
            events._broadcast(["agent-1"], event)
        finally:
            connection.close()  # this thread's connection; the test database is dropped after

    await sync_to_async(publish)()

    assert await asyncio.wait_for(layer.receive(member), 5) == event
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(outsider), 0.3)
    await layer.close()


async def test_a_message_sent_from_another_process_arrives():
    layer = PostgresChannelLayer()
    member = await layer.new_channel()
    await layer.group_add("agent.agent-9", member)
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        "django.setup();"
        "from asgiref.sync import async_to_sync;"
        "from config.pg_channels import PostgresChannelLayer;"
        "async_to_sync(PostgresChannelLayer().group_send)("
        "'agent.agent-9', {'type': 'run.changed', 'run_id': 'run-1', 'status': 'running'})"
    )
    env_url = database_url(connection.settings_dict)
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": env_url},
        check=True,
        timeout=60,
    )
    received = await asyncio.wait_for(layer.receive(member), 5)
    assert received == {"type": "run.changed", "run_id": "run-1", "status": "running"}
    await layer.close()


def test_a_message_too_large_for_notify_is_refused_loudly():
    from config.pg_channels import notify_payload

    with pytest.raises(ValueError, match="too large"):
        notify_payload("agent.x", {"type": "x", "text": "a" * 9000})
    assert json.loads(notify_payload("agent.x", {"type": "x"}))["group"] == "agent.x"
