"""Conversations: the threads of talk an agent holds at once (Letta's `/v1/conversations`).

Each has its own history and context window over the agent's memory blocks; the blocks
it isolates are copies only it sees and edits. The agent's own history is the `default`
conversation. Sleep-time agents read every thread of their primary (runs/execute.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from agents.models import Agent, Conversation
from agents.services import get_agent_for_user
from agents.threads import Thread
from config.errors import Conflict, InvalidRequest, NotFound
from config.pagination import cursor_page
from config.schemas import HANDLE_PATTERN
from memory import services as memory_services
from memory.models import Block

DEFAULT = "default"


@dataclass
class ConversationSpec:
    description: str = ""
    summary: str = ""
    model: str = ""
    model_settings: dict[str, Any] | None = None
    context_window_limit: int | None = None
    hidden: bool = False
    isolated_block_labels: list[str] | None = None
    # False: what is said in it is untrusted input (agents.models.Conversation.trusted).
    trusted: bool = True


def get_conversation_for_user(user: Any, conversation_id: str) -> Conversation:
    """The conversation, or NotFound for both "missing" and "not yours"."""
    found = (
        Conversation.objects.for_user(user)
        .filter(pk=conversation_id)
        .select_related("agent")
        .first()
    )
    if found is None:
        raise NotFound(f"Conversation '{conversation_id}' not found")
    return found


def thread_for_user(user: Any, conversation_id: str, agent_id: str | None = None) -> Thread:
    """The thread a conversation id names: a conversation, or with `default` (and the
    agent's id) the agent's own history. An agent's id in place of the conversation's
    still names its own history, as Letta's deprecated form did."""
    if conversation_id == DEFAULT:
        if not agent_id:
            raise InvalidRequest(
                "The 'default' conversation is an agent's own history: say whose with agent_id."
            )
        return Thread(get_agent_for_user(user, agent_id))
    if conversation_id.startswith("agent-"):
        return Thread(get_agent_for_user(user, conversation_id))
    conversation = get_conversation_for_user(user, conversation_id)
    if agent_id and agent_id != conversation.agent_id:
        raise NotFound(f"Agent '{agent_id}' has no conversation '{conversation_id}'")
    return Thread(conversation.agent, conversation)


def _check_model(handle: str) -> None:
    """A conversation's own model is a `provider/model` handle, as an agent's is (or none:
    the agent's)."""
    if handle and not re.fullmatch(HANDLE_PATTERN, handle):
        raise InvalidRequest(f"model {handle!r} must look like 'provider/model-name'.")


def create_conversation(user: Any, agent: Agent, spec: ConversationSpec) -> Conversation:
    _check_model(spec.model)
    labels = list(dict.fromkeys(spec.isolated_block_labels or []))
    with transaction.atomic():
        conversation = Conversation.objects.create(
            agent=agent,
            organization_id=agent.organization_id,
            created_by=user if getattr(user, "pk", None) else None,
            description=spec.description,
            summary=spec.summary,
            model=spec.model,
            model_settings=spec.model_settings or {},
            context_window_limit=spec.context_window_limit,
            hidden=spec.hidden,
            trusted=spec.trusted,
        )
        if labels:
            conversation.isolated_blocks.set(_isolated_copies(user, agent, labels))
    return conversation


def _isolated_copies(user: Any, agent: Agent, labels: list[str]) -> list[Block]:
    """Copies of the agent's blocks with these labels, as they are now."""
    blocks = {block.label: block for block in memory_services.agent_blocks(agent)}
    missing = [label for label in labels if label not in blocks]
    if missing:
        raise InvalidRequest(
            f"isolated_block_labels: agent '{agent.id}' has no block labelled "
            f"{', '.join(repr(label) for label in missing)} "
            f"(its labels: {', '.join(sorted(blocks)) or 'none'})."
        )
    return [
        memory_services.create_block(
            user,
            label=label,
            value=blocks[label].value,
            limit=blocks[label].limit,
            description=blocks[label].description,
            read_only=blocks[label].read_only,
            metadata={**blocks[label].metadata, "isolated_from": blocks[label].id},
            organization=agent.organization,
        )
        for label in labels
    ]


def list_conversations(
    user: Any,
    *,
    agent_id: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = 50,
    ascending: bool = False,
    order_by: str = "created_at",
    archive_status: str = "unarchived",
    summary_search: str | None = None,
    include_hidden: bool = False,
) -> QuerySet[Conversation] | list[Conversation]:
    conversations = Conversation.objects.for_user(user)
    if agent_id:
        conversations = conversations.filter(agent_id=agent_id)
    if not include_hidden:
        conversations = conversations.filter(hidden=False)
    if archive_status == "unarchived":
        conversations = conversations.filter(archived_at__isnull=True)
    elif archive_status == "archived":
        conversations = conversations.filter(archived_at__isnull=False)
    if summary_search:
        conversations = conversations.filter(summary__icontains=summary_search)
    if order_by == "created_at":
        return cursor_page(
            conversations, after=after, before=before, limit=limit, ascending=ascending
        )
    # By the last message: newest first, those never talked in last (and first when
    # ascending, so the two orders are each other's reverse); the id breaks ties, so a
    # cursor is a position in one total order.
    column = F("last_message_at")
    ordered = list(
        conversations.order_by(
            column.asc(nulls_first=True) if ascending else column.desc(nulls_last=True),
            "id" if ascending else "-id",
        )
    )
    ids = [conversation.id for conversation in ordered]
    for cursor in (after, before):
        if cursor and cursor not in ids:
            raise NotFound(f"No conversation with id '{cursor}' to page from")
    start = ids.index(after) + 1 if after else 0
    end = ids.index(before) if before else len(ids)
    ordered = ordered[start:end]
    if not limit:
        return ordered
    # The page right before `before` (when paging back), else from the start.
    return ordered[-limit:] if before and not after else ordered[:limit]


def update_conversation(conversation: Conversation, changes: dict[str, Any]) -> Conversation:
    fields: list[str] = []
    for name in (
        "description",
        "summary",
        "model",
        "model_settings",
        "context_window_limit",
        "last_message_at",
    ):
        if name in changes:
            value = changes[name]
            if name in {"description", "summary", "model"}:
                value = value or ""
            if name == "model":
                _check_model(value)
            if name == "model_settings":
                value = value or {}
            setattr(conversation, name, value)
            fields.append(name)
    if changes.get("trusted") is not None and changes["trusted"] != conversation.trusted:
        conversation.trusted = bool(changes["trusted"])
        fields.append("trusted")
    if "archived" in changes and changes["archived"] is not None:
        archived: datetime | None = timezone.now() if changes["archived"] else None
        if bool(conversation.archived_at) != bool(archived):
            conversation.archived_at = archived
            fields.append("archived_at")
    if fields:
        conversation.save(update_fields=[*fields, "updated_at"])
    return conversation


def delete_conversation(conversation: Conversation) -> None:
    """The conversation, its messages and its isolated blocks go; the agent's shared
    memory stays. Refused while a turn runs in it."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        if locked is None:
            return
        if locked.turn_started_seq is not None:
            raise Conflict(
                f"A turn is running in conversation '{conversation.id}': cancel it or "
                "wait for it to end, then delete the conversation."
            )
        copies = list(locked.isolated_blocks.values_list("pk", flat=True))
        locked.delete()
        Block.objects.filter(pk__in=copies).delete()
