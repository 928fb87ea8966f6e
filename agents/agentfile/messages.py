"""An agent's history in an Agent File and back: Letta's message objects (content parts,
OpenAI tool calls, tool returns) to and from Reverie's stored messages.

Letta's history starts with the compiled system prompt as a message, and keeps the
summary of evicted messages as a user message holding a system alert. Reverie compiles
the system prompt at each step and keeps the summary on the agent, so an export writes
those two messages and an import takes them back out.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from agents.agentfile.entries import MessageEntry
from agents.letta_format import unpack_tool_return
from agents.models import Agent, Message, Role

SUMMARY_NOTE = (
    "Note: prior messages have been hidden from view due to conversation memory constraints.\n"
    "The following is a summary of the previous messages:\n "
)


# --- Export --------------------------------------------------------------------------------


def _letta_message(
    file_id: str, agent_file_id: str, role: str, content: list[dict[str, Any]], when: datetime
) -> dict[str, Any]:
    return {
        "type": "message",
        "role": role,
        "content": content,
        "name": None,
        "otid": None,
        "sender_id": None,
        "id": file_id,
        "model": None,
        "agent_id": agent_file_id,
        "tool_calls": None,
        "tool_call_id": None,
        "tool_returns": [],
        "created_at": when.isoformat(),
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "signature": None}


def system_message(file_id: str, agent_file_id: str, prompt: str, when: datetime) -> dict[str, Any]:
    return _letta_message(file_id, agent_file_id, "system", [_text_part(prompt)], when)


def summary_message(
    file_id: str, agent_file_id: str, summary: str, when: datetime
) -> dict[str, Any]:
    alert = {
        "type": "system_alert",
        "message": SUMMARY_NOTE + summary,
        "time": when.isoformat(timespec="seconds"),
    }
    return _letta_message(file_id, agent_file_id, "user", [_text_part(json.dumps(alert))], when)


def export_message(message: Message, file_id: str, agent_file_id: str) -> dict[str, Any]:
    """One stored message as Letta's MessageSchema (only fields every 0.x server accepts)."""
    content: list[dict[str, Any]] = []
    if message.reasoning:
        content.append(
            {"type": "reasoning", "is_native": False, "reasoning": message.reasoning,
             "signature": None}
        )  # fmt: skip
    if message.content or message.role != Role.ASSISTANT:
        content.append(_text_part(message.content))
    out = _letta_message(file_id, agent_file_id, message.role, content, message.created_at)
    out.update(name=message.name or None, otid=message.otid or None)
    out["sender_id"] = message.sender_id or None
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.get("id"),
                "type": "function",
                "function": {"name": call.get("name"), "arguments": call.get("arguments")},
            }
            for call in message.tool_calls
        ]
    if message.role == Role.TOOL:
        out["name"] = message.tool_name or None
        out["tool_call_id"] = message.tool_call_id or None
        out["tool_returns"] = [
            {
                "tool_call_id": message.tool_call_id or None,
                "status": _status(message),
                "stdout": None,
                "stderr": None,
                "func_response": message.content,
            }
        ]
    return out


def _status(message: Message) -> str:
    return message.tool_status or unpack_tool_return(message.content)[1]


# --- Import --------------------------------------------------------------------------------


@dataclass
class History:
    """The messages to store for one agent, and what Reverie keeps beside them."""

    rows: list[Message]
    # File message id -> the first stored row made from it.
    rows_by_id: dict[str, Message]
    summary: str


def history(agent: Agent, entries: list[MessageEntry], in_context_ids: list[str]) -> History:
    """Unsaved rows for `entries`, in the order they happened, grouped into turns.

    The first in-context message, when it is the system prompt Letta compiled, and the
    in-context summary alerts are left out: Reverie compiles the prompt itself and keeps
    the summary on the agent. A tool message answering several calls becomes one row per
    call, as Reverie stores them. Turns (which eviction and sleep-time transcripts keep
    whole) start at each user input after the agent's answer.
    """
    in_context = set(in_context_ids)
    dropped: set[str] = set()
    summary = ""
    if in_context_ids:
        first = next(entry for entry in entries if entry.id == in_context_ids[0])
        if first.role == "system":
            dropped.add(first.id)
    for entry in entries:
        found = entry.summary if entry.id in in_context else None
        if found is not None:
            summary = found
            dropped.add(entry.id)
    kept = [entry for entry in entries if entry.id not in dropped and entry.role != "approval"]
    now = timezone.now()
    if all(entry.created_at is not None for entry in kept):
        # Letta lists in-context messages it had left out of its page at the end.
        kept.sort(key=lambda entry: entry.created_at or now)
    names: dict[str, str] = {}
    rows: list[Message] = []
    by_id: dict[str, Message] = {}
    turn, step = uuid.uuid4().hex, 0
    for entry in kept:
        if entry.role in (Role.USER, Role.SYSTEM):
            if rows and rows[-1].role not in (Role.USER, Role.SYSTEM):
                turn, step = uuid.uuid4().hex, 0
        elif entry.role == Role.ASSISTANT:
            step += 1
        common: dict[str, Any] = {
            "agent": agent,
            "turn_id": turn,
            "step": step if entry.role in (Role.ASSISTANT, Role.TOOL) else 0,
            "in_context": entry.id in in_context,
            "created_at": entry.created_at or now,
            "otid": entry.otid,
            "sender_id": entry.sender_id,
        }
        made = [
            Message(**{"role": entry.role, "name": entry.name, **common, **fields})
            for fields in _fields(entry, names)
        ]
        for call in entry.tool_calls:
            names[call.id] = call.name
        by_id[entry.id] = made[0]
        rows += made
    return History(rows=rows, rows_by_id=by_id, summary=summary)


def _fields(entry: MessageEntry, names: dict[str, str]) -> list[dict[str, Any]]:
    if entry.role == Role.TOOL:
        returns = entry.tool_returns
        if not returns:
            status = unpack_tool_return(entry.text)[1]
            return [_tool_row(entry, entry.tool_call_id, status, entry.text, names)]
        if len(returns) == 1:
            only = returns[0]
            return [
                _tool_row(entry, only.tool_call_id, only.status, entry.text or only.text, names)
            ]
        return [_tool_row(entry, r.tool_call_id, r.status, r.text, names) for r in returns]
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in entry.tool_calls]
    if entry.role == Role.ASSISTANT and calls and not entry.reasoning:
        # Words beside tool calls are the model's thoughts (Letta's inner monologue), as
        # Reverie's loop stores them.
        return [{"content": "", "reasoning": entry.text, "tool_calls": calls}]
    return [{"content": entry.text, "reasoning": entry.reasoning, "tool_calls": calls}]


def _tool_row(
    entry: MessageEntry, call_id: str, status: str, text: str, names: dict[str, str]
) -> dict[str, Any]:
    return {
        "content": text,
        "tool_call_id": call_id,
        "tool_name": entry.name or names.get(call_id, ""),
        "tool_status": status,
        # The name of a tool message is the tool's (Letta's), kept in tool_name.
        "name": "",
    }
