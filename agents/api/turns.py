"""Answering a turn over HTTP: whole, streamed as it is stored (token by token with
`stream_tokens`), or in the background and followed by its run from any web process.
The agents and conversations routers both answer turns through `respond`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from django.utils import timezone

import llm
from agents import services
from agents.letta_format import Rendering, StreamRendering, iso, render_all
from agents.loop import Approval, InputMessage, TurnResult
from agents.models import Message, Run
from agents.runs import turns
from agents.schemas import ApprovalCreateIn, ApprovalDecisionIn, LettaRequestIn, ToolReturnIn
from agents.threads import Thread
from config.ids import new_id
from config.requests import ApiRequest

T = TypeVar("T")


async def offload(func: Callable[[], T]) -> T:
    """Run blocking work (model calls, embeddings) in the request's own sync thread.

    Under ASGI Django gives each request a thread of its own for sync code (asgiref's
    ThreadSensitiveContext), so a turn that waits seconds for a model stalls no other
    request. Running there, the work reuses the database connection the request opened
    to check its API key, and Django closes it when the request ends: a thread of its
    own would open a second connection per turn (3 ms on the benchmark machine).
    """
    return await sync_to_async(func)()


def turn_inputs(payload: LettaRequestIn, messages: list[Any] | None = None) -> list[InputMessage]:
    inputs = []
    for message in messages if messages is not None else payload.messages:
        if isinstance(message, ApprovalCreateIn):
            inputs.append(
                InputMessage(
                    role="approval",
                    content="",
                    otid=message.otid or "",
                    approvals=[_approval(answer) for answer in message.approvals],
                )
            )
            continue
        inputs.append(
            InputMessage(
                role=message.role,
                content=message.text(),
                name=message.name or "",
                otid=message.otid or "",
                sender_id=message.sender_id or "",
            )
        )
    return inputs


def _approval(answer: ToolReturnIn | ApprovalDecisionIn) -> Approval:
    if isinstance(answer, ApprovalDecisionIn):
        return Approval(answer.tool_call_id, approve=answer.approve, reason=answer.reason or "")
    return Approval(answer.tool_call_id, tool_return=answer.text(), status=answer.status)


def _client_tools(payload: LettaRequestIn) -> list[dict[str, Any]] | None:
    if not payload.client_tools:
        return None
    return [tool.model_dump() for tool in payload.client_tools]


def _rendering(payload: LettaRequestIn) -> Rendering:
    return Rendering(
        use_assistant_message=payload.use_assistant_message,
        assistant_tool=payload.assistant_message_tool_name,
        assistant_kwarg=payload.assistant_message_tool_kwarg,
    )


def _render(messages: list[Message], payload: LettaRequestIn) -> list[dict[str, Any]]:
    return _wanted(render_all(messages, _rendering(payload)), payload)


def _wanted(rendered: list[dict[str, Any]], payload: LettaRequestIn) -> list[dict[str, Any]]:
    if payload.include_return_message_types:
        wanted = set(payload.include_return_message_types)
        rendered = [item for item in rendered if item["message_type"] in wanted]
    return rendered


def _error_message(result: TurnResult) -> dict[str, Any]:
    return {
        "message_type": "error_message",
        "id": new_id("message"),
        "date": iso(timezone.now()),
        "run_id": result.run_id or None,
        "error_type": "llm_error",
        "message": f"The turn stopped: {result.error}",
        "detail": result.error,
    }


def _stop_reason(result: TurnResult) -> dict[str, Any]:
    return {"message_type": "stop_reason", "stop_reason": result.stop_reason}


def respond(
    request: ApiRequest,
    thread: Thread,
    payload: LettaRequestIn,
    *,
    stream: bool,
    inputs: list[InputMessage] | None = None,
    background: bool = False,
) -> Any:
    """A turn in `thread`, answered whole or streamed; in the `background` (streams
    only), the turn goes on without the request, and any client can follow its run.

    A sync view: under ASGI Django runs it in the request's own thread, so a turn that
    waits for the model holds up no other request, and the key check, the agent's lookup
    and the turn share that thread and its database connection without a hop between
    threads for each (an async view made three).
    """
    inputs = inputs if inputs is not None else turn_inputs(payload)
    agent, conversation = thread.agent, thread.conversation
    # Refused now (a 4xx), not as an error inside a stream that has begun.
    services.check_turn(agent, inputs, payload.max_steps, conversation)
    owner_id = request.auth.pk
    client_tools = _client_tools(payload)
    if stream and background:
        run = turns.open_turn(agent, conversation, owner_id=owner_id, background=True)
        turns.start_detached(
            lambda: services.send_message(
                agent,
                inputs,
                max_steps=payload.max_steps,
                conversation=conversation,
                run=run,
                client_tools=client_tools,
                checked=True,
            )
        )
        return event_stream(follow_run(run.id, _rendering(payload), payload))
    if stream:
        return event_stream(_sse(thread, inputs, payload, owner_id))
    result = services.send_message(
        agent,
        inputs,
        max_steps=payload.max_steps,
        conversation=conversation,
        owner_id=owner_id,
        client_tools=client_tools,
        checked=True,
    )
    messages = _render(result.messages, payload)
    if result.error:
        messages.append(_error_message(result))
    return {"messages": messages, "stop_reason": _stop_reason(result), "usage": result.usage()}


def event_stream(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    return StreamingHttpResponse(
        events,
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# How often a follower of a run looks for what is new, and how long a stream stays quiet
# before it sends a ping (when asked for pings).
FOLLOW_POLL_SECONDS = 0.1
PING_SECONDS = 10.0


async def follow_run(
    run_id: str,
    rendering: Rendering,
    payload: LettaRequestIn | None = None,
    *,
    starting_after: int | None = None,
) -> AsyncIterator[bytes]:
    """A run's messages as they are stored, from after `starting_after` (a `seq_id`),
    then its stop reason and usage once it ends: how a background turn streams, and how
    a dropped stream resumes. Reads the database, so it works from any web process."""
    after = starting_after or 0
    include_pings = payload.include_pings if payload is not None else False
    quiet = 0.0
    while True:
        run, fresh = await sync_to_async(_run_progress)(run_id, after)
        for message in fresh:
            after = message.seq
            items = render_all([message], rendering)
            for item in items if payload is None else _wanted(items, payload):
                yield _sse_event(item)
        if fresh:
            quiet = 0.0
        if run is None or (not run.is_active and not fresh):
            result = _result_of(run)
            if result.error:
                yield _sse_event(_error_message(result))
            yield _sse_event(_stop_reason(result))
            yield _sse_event(result.usage())
            yield _sse_event("[DONE]")
            return
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
        quiet += FOLLOW_POLL_SECONDS
        if include_pings and quiet >= PING_SECONDS:
            quiet = 0.0
            yield _sse_event({"message_type": "ping"})


def _run_progress(run_id: str, after: int) -> tuple[Run | None, list[Message]]:
    # The run first: messages stored before it ended are then all in the read below.
    run = Run.objects.filter(pk=run_id).first()
    fresh = list(Message.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:200])
    return run, fresh


def _result_of(run: Run | None) -> TurnResult:
    if run is None:
        return TurnResult(stop_reason="error", error="the run was deleted")
    return TurnResult(
        stop_reason=run.stop_reason or ("error" if run.status == "failed" else "end_turn"),
        prompt_tokens=run.prompt_tokens,
        completion_tokens=run.completion_tokens,
        step_count=run.step_count,
        error=run.error or None,
        run_id=run.id,
    )


def _sse_event(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, default=str)
    # No `event:` line: the v1 SDK drops named events.
    return f"data: {text}\n\n".encode()


async def _sse(
    thread: Thread, inputs: list[InputMessage], payload: LettaRequestIn, owner_id: int
) -> AsyncIterator[bytes]:
    """Stream each message as the loop stores it, then the stop reason and usage.

    With `stream_tokens`, the assistant's words and reasoning come piece by piece as the
    model writes them, in chunks that share the id of the message they become; a part
    streamed so is not sent again once stored (letta_format.StreamRendering).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    tokens = StreamRendering(_rendering(payload)) if payload.stream_tokens else None

    # Both run in the turn's thread; the chunks cross to the event loop in order.
    def send(items: list[dict[str, Any]]) -> None:
        items = _wanted(items, payload)
        if items:
            loop.call_soon_threadsafe(queue.put_nowait, ("items", items))

    def emit(message: Message) -> None:
        send(tokens.stored(message) if tokens else render_all([message], _rendering(payload)))

    def on_delta(draft: Message, delta: llm.Delta) -> None:
        assert tokens is not None
        chunk = tokens.delta(draft, delta)
        if chunk is not None:
            send([chunk])

    async def run() -> None:
        try:
            result = await offload(
                lambda: services.send_message(
                    thread.agent,
                    inputs,
                    max_steps=payload.max_steps,
                    emit=emit,
                    conversation=thread.conversation,
                    owner_id=owner_id,
                    client_tools=_client_tools(payload),
                    on_delta=on_delta if tokens else None,
                    checked=True,
                )
            )
            await queue.put(("done", result))
        except Exception as error:  # the stream has begun: report in-band, never a 500
            await queue.put(("failed", error))

    task = asyncio.ensure_future(run())
    try:
        while True:
            kind, value = await queue.get()
            if kind == "items":
                for item in value:
                    yield _sse_event(item)
                continue
            if kind == "failed":
                result = TurnResult(stop_reason="error", error=str(value))
            else:
                result = value
            if result.error:
                yield _sse_event(_error_message(result))
            yield _sse_event(_stop_reason(result))
            yield _sse_event(result.usage())
            yield _sse_event("[DONE]")
            return
    finally:
        # A client that disconnects does not cancel the turn: its messages are stored,
        # and the conversation stays whole.
        await asyncio.shield(task)
