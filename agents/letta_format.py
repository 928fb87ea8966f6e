"""Stored messages → Letta message objects (`assistant_message`, `tool_call_message`, ...).

One stored message can become several Letta messages (reasoning, then a tool call); they
share the stored message's id and get distinct `otid`s, as Letta's do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agents.models import Message


@dataclass(frozen=True)
class Rendering:
    use_assistant_message: bool = True
    assistant_tool: str = "send_message"
    assistant_kwarg: str = "message"


DEFAULT = Rendering()


def iso(moment: Any) -> str:
    return moment.isoformat(timespec="seconds")


def _base(message: Message, kind: str, index: int) -> dict[str, Any]:
    return {
        "id": message.uid,
        "date": iso(message.created_at),
        "message_type": kind,
        "name": message.name or None,
        "otid": f"{message.uid.removeprefix('message-')}-{index}",
        "sender_id": message.sender_id or None,
        "step_id": f"step-{message.turn_id}-{message.step}" if message.turn_id else None,
        "run_id": message.run_id or None,
        "seq_id": message.seq,
        "is_err": None,
    }


def unpack_tool_return(content: str) -> tuple[str, str]:
    """(message, status) from the packaged JSON a tool result is stored as."""
    try:
        packed = json.loads(content)
    except ValueError:
        return content, "success"
    if not isinstance(packed, dict) or "message" not in packed:
        return content, "success"
    return str(packed["message"]), "error" if packed.get("status") == "Failed" else "success"


def to_letta(message: Message, rendering: Rendering = DEFAULT) -> list[dict[str, Any]]:
    if message.role == "user":
        return [{**_base(message, "user_message", 0), "content": message.content}]
    if message.role == "system":
        return [{**_base(message, "system_message", 0), "content": message.content}]
    if message.role == "tool":
        if rendering.use_assistant_message and message.tool_name == rendering.assistant_tool:
            return []  # the assistant_message already says it; its return is noise
        text, status = unpack_tool_return(message.content)
        return [
            {
                **_base(message, "tool_return_message", 0),
                "tool_return": text,
                "status": message.tool_status or status,
                "tool_call_id": message.tool_call_id,
                "stdout": None,
                "stderr": None,
            }
        ]
    out: list[dict[str, Any]] = []
    if message.reasoning:
        out.append(
            {
                **_base(message, "reasoning_message", len(out)),
                "source": "non_reasoner_model",
                "reasoning": message.reasoning,
                "signature": None,
            }
        )
    if message.content:
        out.append({**_base(message, "assistant_message", len(out)), "content": message.content})
    waiting = [call for call in message.tool_calls or [] if call.get("approval")]
    for call in message.tool_calls or []:
        if call.get("approval"):
            continue
        name, arguments = call.get("name", ""), call.get("arguments", "")
        if rendering.use_assistant_message and name == rendering.assistant_tool:
            said: Any
            try:
                said = json.loads(arguments).get(rendering.assistant_kwarg)
            except (ValueError, AttributeError):
                said = None
            if isinstance(said, str):
                out.append({**_base(message, "assistant_message", len(out)), "content": said})
                continue
        out.append(
            {
                **_base(message, "tool_call_message", len(out)),
                "tool_call": {"name": name, "arguments": arguments, "tool_call_id": call.get("id")},
            }
        )
    if waiting:
        # Calls the client runs, or a person approves: one request for all of them.
        requested = [
            {
                "name": c.get("name", ""),
                "arguments": c.get("arguments", ""),
                "tool_call_id": c["id"],
            }
            for c in waiting
        ]
        out.append(
            {
                **_base(message, "approval_request_message", len(out)),
                "tool_call": requested[0],
                "tool_calls": requested,
            }
        )
    return out


def render_all(messages: list[Message], rendering: Rendering = DEFAULT) -> list[dict[str, Any]]:
    return [item for message in messages for item in to_letta(message, rendering)]
