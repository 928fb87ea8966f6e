"""A Channels layer that carries group messages between processes with PostgreSQL
LISTEN/NOTIFY, so the default single-machine deployment (web and worker processes on the
embedded database, no Redis) still pushes a worker's block edits to every browser.

Each process keeps its own consumers' channels and groups in memory. `group_send` sends
one NOTIFY; every process LISTENs and delivers the message to its local members of the
group. Messages must be small (PostgreSQL caps a payload at 8000 bytes): events carry
ids and the consumer renders from the database. Direct `send` to a channel is local.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from typing import Any

import psycopg
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer
from django.conf import settings

logger = logging.getLogger("reverie.channels")

NOTIFY_CHANNEL = "reverie_channels"
MAX_PAYLOAD = 7900


def conninfo() -> str:
    """Connection parameters of Django's default database, for psycopg."""
    db = settings.DATABASES["default"]
    params = {
        "dbname": db.get("NAME") or "",
        "user": db.get("USER") or "",
        "password": db.get("PASSWORD") or "",
        "host": db.get("HOST") or "",
        "port": str(db.get("PORT") or ""),
    }
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if v},
        # The LISTEN connection idles for hours: keepalives find out that a server
        # which went away without a word (a host rebooted) is gone, rather than wait on a
        # dead socket for ever. (Unix sockets ignore them.)
        keepalives=1,
        keepalives_idle=30,
        keepalives_interval=10,
        keepalives_count=3,
        connect_timeout=10,
    )


def notify_payload(group: str, message: dict[str, Any]) -> str:
    payload = json.dumps({"group": group, "message": message}, separators=(",", ":"))
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError(f"channel message for {group!r} is too large for NOTIFY")
    return payload


class PostgresChannelLayer(BaseChannelLayer):  # type: ignore[misc]
    extensions = ["groups", "flush"]

    def __init__(self, expiry: int = 60, capacity: int = 100, **kwargs: Any) -> None:
        super().__init__(expiry=expiry, capacity=capacity, **kwargs)
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.groups: dict[str, set[str]] = defaultdict(set)
        self.listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    # --- Channels ---------------------------------------------------------------------

    def _queue(self, channel: str) -> asyncio.Queue[dict[str, Any]]:
        if channel not in self.queues:
            self.queues[channel] = asyncio.Queue(maxsize=self.capacity)
        return self.queues[channel]

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self.require_valid_channel_name(channel)
        try:
            self._queue(channel).put_nowait(message)
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def receive(self, channel: str) -> dict[str, Any]:
        self.require_valid_channel_name(channel)
        return await self._queue(channel).get()

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = f"{prefix}.pg!{uuid.uuid4().hex}"
        self._queue(channel)
        return channel

    async def flush(self) -> None:
        self.queues.clear()
        self.groups.clear()

    # --- Groups -----------------------------------------------------------------------

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        self.groups[group].add(channel)
        await self._ensure_listener()

    async def group_discard(self, group: str, channel: str) -> None:
        members = self.groups.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self.groups[group]
        # Consumers leave their groups when they disconnect; forget a channel that is in
        # none, or a long-running web process would keep one queue per past connection.
        if not any(channel in others for others in self.groups.values()):
            self.queues.pop(channel, None)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.require_valid_group_name(group)
        payload = notify_payload(group, message)
        async with await psycopg.AsyncConnection.connect(conninfo(), autocommit=True) as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, payload])

    def deliver(self, payload: str) -> None:
        """Hand a NOTIFY payload to this process's members of its group."""
        try:
            data = json.loads(payload)
            group, message = data["group"], data["message"]
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed channel notification")
            return
        for channel in list(self.groups.get(group, ())):
            try:
                self._queue(channel).put_nowait(message)
            except asyncio.QueueFull:
                logger.warning("channel %s is full; a message to %s was dropped", channel, group)

    async def close(self) -> None:
        """Stop listening and close the connection (tests; a process exit does it too)."""
        task, self.listener = self.listener, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    # --- Listening --------------------------------------------------------------------

    async def _ensure_listener(self) -> None:
        loop = asyncio.get_running_loop()
        task = self.listener
        if task is not None and not task.done() and task.get_loop() is loop:
            await self.listening.wait()
            return
        self.listening = asyncio.Event()
        self.listener = loop.create_task(self._listen())
        await self.listening.wait()

    async def _listen(self) -> None:
        """LISTEN for ever; reconnect after the database went away (a restart).

        Messages sent while no connection listens are lost; pages catch up when they
        reconnect (the consumer sends a snapshot).
        """
        delay = 0.5
        lost = False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(conninfo(), autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening.set()
                    if lost:
                        logger.warning("channel listener is listening again")
                    delay, lost = 0.5, False
                    async for notification in conn.notifies():
                        self.deliver(notification.payload)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database restarted or the network blinked
                logger.warning(
                    "channel listener lost its connection (%s); reconnecting in %.1f s",
                    str(error).strip(),
                    delay,
                )
                lost = True
                self.listening.set()  # do not block group_add while the database is away
                await asyncio.sleep(delay)
                # Short enough that pages hear again soon after the database is back.
                delay = min(delay * 2, 5)
