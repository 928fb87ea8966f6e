"""Live events of an agent's memory and background work, pushed to its browsers.

The domain calls `publish_*` inside its transaction; the event leaves after the commit,
so a rolled-back change never reaches a browser. Events carry ids only: the consumer
re-reads and renders, and re-checks access, so nothing private rides on the channel.
The one exception is a reply the model is still writing, which is nowhere else yet: its
pieces ride on the channel as they come (`publish_message_delta`), and the consumer
re-checks access before it forwards each. Every event goes to the group of each agent it
concerns (`agent_group`).
"""

from __future__ import annotations

from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from config.pg_channels import NOTIFY_CHANNEL, PostgresChannelLayer, notify_payload
from memory.models import AgentBlock


def agent_group(agent_id: str) -> str:
    return f"agent.{agent_id}"


class BlockChanged(TypedDict):
    type: Literal["block.changed"]
    block_id: str
    version: int


class BlocksChanged(TypedDict):
    """A block was attached to or detached from the agent: its set of blocks changed."""

    type: Literal["blocks.changed"]


class RunChanged(TypedDict):
    type: Literal["run.changed"]
    run_id: str
    status: str


class InsightCreated(TypedDict):
    type: Literal["insight.created"]
    insight_id: str


class ProposalChanged(TypedDict):
    """An agent's edit arrived for review, or a review of it was decided."""

    type: Literal["proposal.changed"]
    proposal_id: str


class FileProgress(TypedDict):
    type: Literal["file.progress"]
    file_id: str


class MessageCreated(TypedDict):
    type: Literal["message.created"]
    message_id: int


class MessageDelta(TypedDict):
    """A piece of a reply being written, for the chat item `item_id` (the stored message's
    Letta id and otid); `start` for its first piece."""

    type: Literal["message.delta"]
    item_id: str
    kind: Literal["assistant", "reasoning"]
    text: str
    start: bool
    # The thread the reply is written in; None for the agent's own history.
    conversation_id: str | None


class MessagesDiscarded(TypedDict):
    """Replies whose pieces were shown and that will never be stored (the model failed)."""

    type: Literal["messages.discarded"]
    item_ids: list[str]


class AgentChanged(TypedDict):
    """The agent's settings (name, model, system prompt, tools...) changed."""

    type: Literal["agent.changed"]


Event = (
    MessageCreated
    | MessageDelta
    | MessagesDiscarded
    | AgentChanged
    | BlockChanged
    | BlocksChanged
    | RunChanged
    | InsightCreated
    | ProposalChanged
    | FileProgress
)


def _broadcast(agent_ids: list[str], event: Event) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for agent_id in agent_ids:
        group = agent_group(agent_id)
        if isinstance(layer, PostgresChannelLayer):
            # The default layer: NOTIFY on Django's own connection, no event loop needed
            # (this runs in workers and in sync views alike).
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, notify_payload(group, dict(event))]
                )
        else:
            async_to_sync(layer.group_send)(group, dict(event))


def _on_commit(agent_ids: list[str], event: Event) -> None:
    if agent_ids:
        transaction.on_commit(lambda: _broadcast(agent_ids, event))


def publish_block_changed(block_id: str, version: int) -> None:
    agent_ids = list(
        AgentBlock.objects.filter(block_id=block_id).values_list("agent_id", flat=True)
    )
    _on_commit(agent_ids, {"type": "block.changed", "block_id": block_id, "version": version})


def publish_blocks_changed(agent_id: str) -> None:
    _on_commit([agent_id], {"type": "blocks.changed"})


def publish_run_changed(run_id: str, status: str, agent_ids: list[str]) -> None:
    _on_commit(agent_ids, {"type": "run.changed", "run_id": run_id, "status": status})


def publish_insight_created(insight_id: str, agent_id: str) -> None:
    _on_commit([agent_id], {"type": "insight.created", "insight_id": insight_id})


def publish_proposal_changed(proposal_id: str, agent_ids: list[str]) -> None:
    _on_commit(agent_ids, {"type": "proposal.changed", "proposal_id": proposal_id})


def publish_file_progress(file_id: str, agent_ids: list[str]) -> None:
    _on_commit(agent_ids, {"type": "file.progress", "file_id": file_id})


def publish_message_created(message_id: int, agent_id: str) -> None:
    _on_commit([agent_id], {"type": "message.created", "message_id": message_id})


def publish_agent_changed(agent_id: str) -> None:
    _on_commit([agent_id], {"type": "agent.changed"})


def publish_message_delta(
    agent_id: str,
    item_id: str,
    kind: Literal["assistant", "reasoning"],
    text: str,
    start: bool,
    conversation_id: str | None = None,
) -> None:
    # At once: nothing is written, so there is no commit to wait for. `text` must stay
    # well under PostgreSQL's NOTIFY limit (agents.chat.LiveDrafts cuts it). Pages show
    # the drafts of the thread they show (`conversation_id`, None: the agent's own).
    _broadcast(
        [agent_id],
        {
            "type": "message.delta",
            "item_id": item_id,
            "kind": kind,
            "text": text,
            "start": start,
            "conversation_id": conversation_id,
        },
    )


def publish_messages_discarded(agent_id: str, item_ids: list[str]) -> None:
    _broadcast([agent_id], {"type": "messages.discarded", "item_ids": item_ids})
