"""`/v1/conversations`: the threads an agent holds at once, their messages and streams.

`default` with an `agent_id` (or, as Letta's deprecated form, the agent's id itself)
names the agent's own history.
"""

from __future__ import annotations

from typing import Any, Literal

from django.db.models import QuerySet
from ninja import Query, Router, Schema

from agents import conversations, services
from agents.api.turns import event_stream, follow_run, respond, turn_inputs
from agents.conversations import ConversationSpec
from agents.letta_format import Rendering
from agents.models import ACTIVE_RUN_STATUSES, Conversation, Run, RunTrigger
from agents.runs import turns
from agents.schemas import (
    ConversationCreateIn,
    ConversationMessagesIn,
    ConversationOut,
    ConversationUpdateIn,
)
from agents.threads import Thread
from config.errors import NotFound
from config.requests import ApiRequest
from memory.schemas import MessageOut

conversations_router = Router(tags=["conversations"])


@conversations_router.post("", response=ConversationOut)
def create_conversation(
    request: ApiRequest, agent_id: str, payload: ConversationCreateIn
) -> Conversation:
    agent = services.get_agent_for_user(request.auth, agent_id)
    spec = ConversationSpec(
        description=payload.description or "",
        summary=payload.summary or "",
        model=payload.model or "",
        model_settings=payload.model_settings,
        context_window_limit=payload.context_window_limit,
        hidden=payload.hidden,
        isolated_block_labels=payload.isolated_block_labels,
        trusted=payload.trusted,
    )
    return conversations.create_conversation(request.auth, agent, spec)


@conversations_router.get("", response=list[ConversationOut])
def list_conversations(
    request: ApiRequest,
    agent_id: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "desc",
    order_by: Literal["created_at", "last_run_completion", "last_message_at"] = "created_at",
    archive_status: Literal["unarchived", "archived", "all"] = "unarchived",
    summary_search: str | None = None,
) -> Any:
    return conversations.list_conversations(
        request.auth,
        agent_id=agent_id,
        after=after,
        before=before,
        limit=limit,
        ascending=order == "asc",
        order_by="created_at" if order_by == "created_at" else "last_message_at",
        archive_status=archive_status,
        summary_search=summary_search,
    )


@conversations_router.get("/{conversation_id}", response=ConversationOut)
def retrieve_conversation(request: ApiRequest, conversation_id: str) -> Conversation:
    return conversations.get_conversation_for_user(request.auth, conversation_id)


@conversations_router.patch("/{conversation_id}", response=ConversationOut)
def update_conversation(
    request: ApiRequest, conversation_id: str, payload: ConversationUpdateIn
) -> Conversation:
    conversation = conversations.get_conversation_for_user(request.auth, conversation_id)
    return conversations.update_conversation(conversation, payload.model_dump(exclude_unset=True))


@conversations_router.delete("/{conversation_id}", response=MessageOut)
def delete_conversation(request: ApiRequest, conversation_id: str) -> dict[str, str]:
    conversation = conversations.get_conversation_for_user(request.auth, conversation_id)
    conversations.delete_conversation(conversation)
    return {"message": f"Conversation id={conversation_id} successfully deleted"}


# --- Messages ------------------------------------------------------------------------------


@conversations_router.post("/{conversation_id}/messages")
def send_message(request: ApiRequest, conversation_id: str, payload: ConversationMessagesIn) -> Any:
    thread = conversations.thread_for_user(request.auth, conversation_id, payload.agent_id)
    return respond(
        request,
        thread,
        payload,
        stream=payload.streaming,
        inputs=turn_inputs(payload, payload.turn_messages()),
        background=payload.background,
    )


@conversations_router.get("/{conversation_id}/messages")
def list_messages(
    request: ApiRequest,
    conversation_id: str,
    agent_id: str | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = Query(100, ge=1, le=10000),
    order: Literal["asc", "desc"] = "desc",
    include_return_message_types: list[str] = Query(None),
    use_assistant_message: bool = True,
) -> list[dict[str, Any]]:
    thread = conversations.thread_for_user(request.auth, conversation_id, agent_id)
    page = services.message_page(
        thread.messages(),
        after=after,
        before=before,
        limit=limit,
        order=order,
        rendering=Rendering(use_assistant_message=use_assistant_message),
    )
    if include_return_message_types:
        page = [m for m in page if m["message_type"] in include_return_message_types]
    return page


# --- Streams and cancelling ----------------------------------------------------------------


class StreamIn(Schema):
    agent_id: str | None = None
    run_id: str | None = None
    otid: str | None = None
    starting_after: int | None = None
    include_pings: bool = False
    batch_size: int | None = None
    poll_interval: float | None = None


def _turn_runs(thread: Thread) -> QuerySet[Run]:
    runs = Run.objects.filter(primary_agent=thread.agent, trigger=RunTrigger.MESSAGE)
    conversation = thread.conversation.id if thread.conversation is not None else None
    return runs.filter(metadata__conversation_id=conversation)


def _run_to_follow(thread: Thread, payload: StreamIn) -> Run:
    runs = _turn_runs(thread)
    if payload.run_id:
        run = runs.filter(pk=payload.run_id).first()
    elif payload.otid:
        sent = thread.messages().filter(otid=payload.otid).exclude(run_id="")
        run_id = sent.values_list("run_id", flat=True).first()
        run = runs.filter(pk=run_id).first() if run_id else None
    else:
        run = runs.order_by("-created_at", "-id").first()
    if run is None:
        raise NotFound(f"No run to stream in conversation '{thread.id}'")
    return run


def _stream(request: ApiRequest, conversation_id: str, payload: StreamIn) -> Any:
    thread = conversations.thread_for_user(request.auth, conversation_id, payload.agent_id)
    run = _run_to_follow(thread, payload)
    return event_stream(
        follow_run(run.id, Rendering(), None, starting_after=payload.starting_after)
    )


@conversations_router.post("/{conversation_id}/stream")
def resume_stream(request: ApiRequest, conversation_id: str, payload: StreamIn) -> Any:
    """The stream of the conversation's newest turn (or of `run_id`), from after
    `starting_after`: how a client picks up a stream that dropped."""
    return _stream(request, conversation_id, payload)


@conversations_router.get("/{conversation_id}/stream")
def resume_stream_get(
    request: ApiRequest, conversation_id: str, payload: StreamIn = Query(...)
) -> Any:
    return _stream(request, conversation_id, payload)


@conversations_router.post("/{conversation_id}/cancel")
def cancel(
    request: ApiRequest, conversation_id: str, agent_id: str | None = None
) -> dict[str, Any]:
    """Stop the conversation's running turns at their next step."""
    thread = conversations.thread_for_user(request.auth, conversation_id, agent_id)
    active = _turn_runs(thread).filter(status__in=ACTIVE_RUN_STATUSES)
    cancelled = [run.id for run in active if turns.cancel(run)]
    return {"cancelled_run_ids": cancelled, "conversation_id": thread.id}
