"""The chat log as the ADE shows it: stored messages in Letta's message types, each tool
call folded together with its result, and a card for every finished background run.

The agent's page renders the log from here, and so does its websocket when a message or a
run arrives, so a live update and a reload show the same thing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, TypedDict

from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

import llm
from agents.letta_format import StreamRendering, render_all
from agents.models import ACTIVE_RUN_STATUSES, Agent, Conversation, Message, Role, Run
from agents.threads import Thread
from memory import events
from memory.models import BlockVersion

CHAT_HISTORY = 50
RECENT_RUNS = 10
# A reply being written reaches the pages at most this often (seconds), in pieces of at
# most this many characters: each push is an event through PostgreSQL's NOTIFY (at most
# 8000 bytes, and a character may take 12 in its JSON) and a render per open page.
DRAFT_INTERVAL = 0.1
DRAFT_PIECE = 500


class ChatItem(TypedDict):
    kind: Literal[
        "user", "assistant", "reasoning", "tool_call", "approval", "tool_return", "system", "run"
    ]
    id: str
    date: datetime
    text: str
    name: str
    status: str
    result: str | None
    run: Run | None
    # An approval request's call, and whether the agent's own tools hold it (a person may
    # approve it) or the client runs it (only a denial can come from the page).
    call_id: str
    server_tool: bool


def pretty_arguments(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except ValueError:
        return arguments


def _blank(item_id: str, date: datetime) -> ChatItem:
    return {
        "kind": "system",
        "id": item_id,
        "date": date,
        "text": "",
        "name": "",
        "status": "",
        "result": None,
        "run": None,
        "call_id": "",
        "server_tool": False,
    }


def item_id(letta: dict[str, Any]) -> str:
    """A Letta message's chat item id: one stored message can make several items."""
    return f"{letta['id']}-{letta['otid']}"


def chat_items(stored: list[Message], tools: Iterable[str] = ()) -> list[ChatItem]:
    """Stored messages as chat items; a tool call carries its result when the result is
    among `stored`, so the two fold into one `<details>`. `tools` are the agent's own
    (an approval request for one of them can be approved on the page)."""
    tools = set(tools)
    letta = render_all(stored)
    returns = {m["tool_call_id"]: m for m in letta if m["message_type"] == "tool_return_message"}
    shown_returns: set[str] = set()
    items: list[ChatItem] = []
    for m in letta:
        kind = m["message_type"]
        base = _blank(item_id(m), datetime.fromisoformat(m["date"]))
        if kind == "user_message":
            items.append({**base, "kind": "user", "text": m["content"]})
        elif kind == "assistant_message":
            items.append({**base, "kind": "assistant", "text": m["content"]})
        elif kind == "reasoning_message":
            items.append({**base, "kind": "reasoning", "text": m["reasoning"]})
        elif kind == "system_message":
            items.append({**base, "kind": "system", "text": m["content"]})
        elif kind == "tool_call_message":
            call = m["tool_call"]
            result = returns.get(call["tool_call_id"])
            if result is not None:
                shown_returns.add(call["tool_call_id"])
            items.append(
                {
                    **base,
                    "kind": "tool_call",
                    "name": call["name"],
                    "text": pretty_arguments(call["arguments"]),
                    "result": result["tool_return"] if result is not None else None,
                    "status": result["status"] if result is not None else "",
                }
            )
        elif kind == "approval_request_message":
            for call in m["tool_calls"]:
                result = returns.get(call["tool_call_id"])
                if result is not None:
                    shown_returns.add(call["tool_call_id"])
                items.append(
                    {
                        **base,
                        "id": f"{m['id']}-{call['tool_call_id']}",
                        "kind": "approval",
                        "name": call["name"],
                        "text": pretty_arguments(call["arguments"]),
                        "result": result["tool_return"] if result is not None else None,
                        "status": result["status"] if result is not None else "",
                        "call_id": call["tool_call_id"],
                        "server_tool": call["name"] in tools,
                    }
                )
        elif kind == "tool_return_message" and m["tool_call_id"] not in shown_returns:
            # Its call is older than the window shown.
            items.append(
                {**base, "kind": "tool_return", "text": m["tool_return"], "status": m["status"]}
            )
    return items


def runs_with_counts(runs: QuerySet[Run]) -> QuerySet[Run]:
    """Runs with the number of blocks each edited and its tokens, counted in the same
    query, so a list costs one query for 1 run or 10."""
    edited = (
        # Undo versions carry the run's id too; only the run's own edits count.
        BlockVersion.objects.filter(run_id=OuterRef("pk"), reverts="")
        .order_by()
        .values("run_id")
        .annotate(blocks=Count("block_id", distinct=True))
        .values("blocks")
    )
    return (
        # Transcripts and a digest's stored tool calls are long; lists show neither.
        runs.defer("transcript", "metadata").annotate(
            blocks_changed=Coalesce(Subquery(edited), 0),
            total_tokens=F("prompt_tokens") + F("completion_tokens"),
        )
    )


def recent_runs(agent: Agent) -> list[Run]:
    """The agent's newest background runs, newest first."""
    runs = Run.objects.background().filter(primary_agent=agent).order_by("-created_at", "-id")
    return list(runs_with_counts(runs)[:RECENT_RUNS])


def run_item(run: Run) -> ChatItem:
    """A finished run's card; `run` must come from `runs_with_counts`."""
    return {
        **_blank(f"run-{run.id}", run.completed_at or run.created_at),
        "kind": "run",
        "run": run,
    }


def chat_log(agent: Agent, conversation: Conversation | None = None) -> list[ChatItem]:
    """The newest messages of one thread (the agent's own history unless a conversation
    is given), oldest first, with a card for each run that finished among them."""
    thread = Thread(agent, conversation).messages()
    newest = list(thread.order_by("-seq")[:CHAT_HISTORY])
    newest.reverse()
    items = chat_items(newest, agent.tools)
    finished = (
        Run.objects.background()
        .filter(primary_agent=agent, completed_at__isnull=False)
        .exclude(status__in=ACTIVE_RUN_STATUSES)
    )
    if len(newest) == CHAT_HISTORY:  # older runs belong with the messages not shown
        finished = finished.filter(completed_at__gte=newest[0].created_at)
    cards = [
        run_item(run)
        for run in runs_with_counts(finished.order_by("-completed_at", "-id"))[:RECENT_RUNS]
    ]
    # Stable: a message and a card of the same instant keep the message first.
    return sorted(items + cards, key=lambda item: item["date"])


def message_update(message: Message) -> tuple[list[ChatItem], list[ChatItem]]:
    """What a newly stored message changes in a chat log on screen: items to append, and
    items to replace (a tool call that now has its result)."""
    tools = Agent.objects.filter(pk=message.agent_id).values_list("tools", flat=True).first()
    if message.role != Role.TOOL:
        return chat_items([message], tools or ()), []
    calls = Message.objects.filter(
        agent_id=message.agent_id,
        role=Role.ASSISTANT,
        tool_calls__contains=[{"id": message.tool_call_id}],
    )
    # This turn's call; or, for the answer to an approval, the call an earlier turn
    # stopped on, in the same thread.
    call = (
        calls.filter(turn_id=message.turn_id).order_by("-seq").first()
        or calls.filter(conversation_id=message.conversation_id, seq__lt=message.seq)
        .order_by("-seq")
        .first()
    )
    if call is None:  # no call of its own in sight: the result stands alone
        return chat_items([message]), []
    folded = [
        item
        for item in chat_items([call, message], tools or ())
        if item["kind"] in {"tool_call", "approval"}
    ]
    return [], [item for item in folded if item["result"] is not None]


def draft_item(item: str, kind: Literal["assistant", "reasoning"], text: str) -> ChatItem:
    """A reply being written, as the chat item its stored message will replace."""
    return {**_blank(item, timezone.now()), "kind": kind, "text": text}


class LiveDrafts:
    """Shows the replies of a turn to the pages open on the agent while the model writes
    them: pieces appended to a draft item, which the stored message replaces when it
    arrives (static/reverie.js), and which goes away if it is never stored.

    Pieces are gathered and pushed every DRAFT_INTERVAL at most (a provider sends tens a
    second); the first piece of an item goes at once. Whatever is still gathered when the
    message is stored is dropped: the stored message says it all.
    """

    def __init__(self, agent_id: str, conversation_id: str | None = None) -> None:
        self.agent_id = agent_id
        self.conversation_id = conversation_id
        self.rendering = StreamRendering()
        self.uid = ""
        self.pending: dict[str, tuple[Literal["assistant", "reasoning"], list[str]]] = {}
        self.shown: dict[str, str] = {}  # item id -> uid of its message
        self.pushed_at = 0.0

    def delta(self, draft: Message, delta: llm.Delta) -> None:
        if draft.uid != self.uid:
            self.uid = draft.uid
            self.pending.clear()  # the previous step's message is stored by now
        chunk = self.rendering.delta(draft, delta)
        if chunk is not None:
            reasoning = chunk["message_type"] == "reasoning_message"
            item = item_id(chunk)
            kind: Literal["assistant", "reasoning"] = "reasoning" if reasoning else "assistant"
            self.pending.setdefault(item, (kind, []))[1].append(
                chunk["reasoning"] if reasoning else chunk["content"]
            )
            if item not in self.shown:
                self.shown[item] = draft.uid
                self.push(first=item)
                return
        if self.pending and time.monotonic() - self.pushed_at >= DRAFT_INTERVAL:
            self.push()

    def push(self, first: str = "") -> None:
        for item, (kind, pieces) in self.pending.items():
            text = "".join(pieces)
            for start in range(0, len(text), DRAFT_PIECE):
                piece = text[start : start + DRAFT_PIECE]
                events.publish_message_delta(
                    self.agent_id,
                    item,
                    kind,
                    piece,
                    start=item == first and start == 0,
                    conversation_id=self.conversation_id,
                )
        self.pending.clear()
        self.pushed_at = time.monotonic()

    def close(self, stored: Iterable[Message]) -> None:
        """The turn is over: drafts of messages not among `stored` leave the pages."""
        kept = {message.uid for message in stored}
        gone = [item for item, uid in self.shown.items() if uid not in kept]
        if gone:
            events.publish_messages_discarded(self.agent_id, gone)
