"""Stored messages → Letta message objects (`assistant_message`, `tool_call_message`, ...).

One stored message can become several Letta messages (reasoning, then a tool call); they
share the stored message's id and get distinct `otid`s, as Letta's do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import llm
from agents.models import Agent, Message
from memory.models import EMBEDDING_DIM


@dataclass(frozen=True)
class Rendering:
    use_assistant_message: bool = True
    assistant_tool: str = "send_message"
    assistant_kwarg: str = "message"


DEFAULT = Rendering()


def llm_config(agent: Agent) -> dict[str, Any]:
    """The agent's model as Letta's `llm_config` (agent states and Agent Files)."""
    provider, _, model = agent.llm_handle.partition("/")
    return {
        "model": model,
        "model_endpoint_type": provider,
        "model_endpoint": None,
        "context_window": agent.context_window,
        "handle": agent.llm_handle,
        "temperature": agent.temperature,
        "max_tokens": agent.max_tokens,
        "put_inner_thoughts_in_kwargs": False,
        "enable_reasoner": False,
    }


def embedding_config(agent: Agent) -> dict[str, Any]:
    """The agent's embedding model as Letta's `embedding_config`."""
    provider, _, model = agent.embedding_handle.partition("/")
    return {
        "embedding_endpoint_type": provider,
        "embedding_endpoint": None,
        "embedding_model": model,
        "embedding_dim": EMBEDDING_DIM,
        "embedding_chunk_size": agent.embedding_chunk_size,
        "handle": agent.embedding_handle,
    }


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


# --- Token streaming -----------------------------------------------------------------------

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class JsonStringReader:
    """The string value of one top-level key of a JSON object, decoded as the object's
    text arrives in pieces (a tool call's arguments as the model writes them).

    `feed` returns the characters of the value that the new piece completes: an escape
    cut between two pieces (`\\` | `n`, `\\u00` | `e9`, a surrogate pair's two halves)
    comes out whole once its end arrives. What the pieces add up to is what `json.loads`
    gives for the key, as long as the key comes once and the text is valid JSON.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.state = "start"
        self.depth = 0  # nesting inside a value that is not a string
        self.in_string = False  # inside a string nested in such a value
        self.escape = ""  # an escape begun and not finished
        self.raw_key: list[str] = []
        self.current_key = ""
        self.capturing = False
        self.high = ""  # a high surrogate waiting for its low half

    def feed(self, piece: str) -> str:
        out: list[str] = []
        for char in piece:
            if self.state == "done":
                break
            self._step(char, out)
        return "".join(out)

    def _step(self, char: str, out: list[str]) -> None:
        state = self.state
        if state == "start":
            if char == "{":
                self.state = "key?"
            elif not char.isspace():
                self.state = "done"  # not an object
        elif state == "key?":
            if char == '"':
                self.state, self.raw_key, self.escape = "key", [], ""
            elif char == "}":
                self.state = "done"
        elif state == "key":
            if self.escape:
                self.raw_key.append(char)
                self.escape = ""
            elif char == "\\":
                self.raw_key.append(char)
                self.escape = "\\"
            elif char == '"':
                try:
                    self.current_key = json.loads('"' + "".join(self.raw_key) + '"')
                except ValueError:
                    self.current_key = ""
                self.state = "colon"
            else:
                self.raw_key.append(char)
        elif state == "colon":
            if char == ":":
                self.state = "value?"
        elif state == "value?":
            if char == '"':
                self.state, self.escape = "string", ""
                self.capturing = self.current_key == self.key
            elif not char.isspace():
                self.state, self.depth, self.in_string = "other", 0, False
                self._step(char, out)
        elif state == "string":
            self._string_char(char, out)
        elif state == "other":
            self._other_char(char)
        elif state == "next":
            if char == ",":
                self.state = "key?"
            elif char == "}":
                self.state = "done"

    def _string_char(self, char: str, out: list[str]) -> None:
        if self.escape:
            self.escape += char
            if self.escape[1] != "u":
                self._emit(_ESCAPES.get(char, ""), out)
                self.escape = ""
            elif len(self.escape) == 6:
                try:
                    self._emit_code(int(self.escape[2:], 16), out)
                except ValueError:
                    pass  # not JSON: json.loads refuses it too, and nothing is said
                self.escape = ""
        elif char == "\\":
            self.escape = "\\"
        elif char == '"':
            if self.capturing:
                out.append(self.high)
                self.high = ""
                self.state = "done"  # the value is complete
            else:
                self.state = "next"
        else:
            self._emit(char, out)

    def _emit(self, text: str, out: list[str]) -> None:
        if not self.capturing:
            return
        if self.high:
            out.append(self.high)
            self.high = ""
        out.append(text)

    def _emit_code(self, code: int, out: list[str]) -> None:
        if not self.capturing:
            return
        if 0xD800 <= code <= 0xDBFF:
            if self.high:
                out.append(self.high)
            self.high = chr(code)
        elif 0xDC00 <= code <= 0xDFFF and self.high:
            pair = 0x10000 + ((ord(self.high) - 0xD800) << 10) + (code - 0xDC00)
            self.high = ""
            out.append(chr(pair))
        else:
            self._emit(chr(code), out)

    def _other_char(self, char: str) -> None:
        if self.in_string:
            if self.escape:
                self.escape = ""
            elif char == "\\":
                self.escape = "\\"
            elif char == '"':
                self.in_string = False
        elif char == '"':
            self.in_string = True
        elif char in "{[":
            self.depth += 1
        elif char in "}]":
            if self.depth == 0:
                self.state = "done"  # the object ends
            else:
                self.depth -= 1
        elif char == "," and self.depth == 0:
            self.state = "key?"


@dataclass
class _Draft:
    uid: str = ""
    reasoning: bool = False
    content: bool = False
    # Each tool call seen, by its index; a reader where the call says the assistant's words.
    calls: dict[int, JsonStringReader | None] = field(default_factory=dict)


class StreamRendering:
    """Letta messages of the replies a turn's model is writing, one chunk per piece
    (`stream_tokens`): `reasoning_message` and `assistant_message` objects whose `id` and
    `otid` are those `to_letta` gives the stored message, so a client that joins the
    chunks by id has what listing the messages shows afterwards.

    The parts of a stored assistant message come in a fixed order (reasoning, text, one
    per tool call); providers stream them in that order too, and a piece that comes out
    of order is stored but not streamed, so the ids stay those of the stored parts. Text
    streams as the assistant's words before it is known whether tool calls follow; with
    tool calls it is stored as the model's reasoning (the step's first part, same ids).
    Tool calls, their results and everything else are sent whole once stored (`stored`),
    except the parts already streamed.
    """

    def __init__(self, rendering: Rendering = DEFAULT) -> None:
        self.rendering = rendering
        self.draft = _Draft()
        self.streamed: set[str] = set()  # otids of the parts sent piece by piece

    def delta(self, message: Message, delta: llm.Delta) -> dict[str, Any] | None:
        """The chunk saying `delta` of `message` (a step's reply, not stored yet), or None
        when it says nothing to a client (arguments of a call that is not the assistant's
        words, a piece out of order)."""
        draft = self.draft
        if draft.uid != message.uid:
            draft = self.draft = _Draft(uid=message.uid)
        if delta.kind == "reasoning":
            if draft.content or draft.calls:
                return None
            draft.reasoning = True
            fields = {"source": "non_reasoner_model", "reasoning": delta.text, "signature": None}
            return self._chunk(message, "reasoning_message", 0, fields)
        if delta.kind == "content":
            if draft.calls:
                return None
            draft.content = True
            return self._chunk(
                message, "assistant_message", int(draft.reasoning), {"content": delta.text}
            )
        if delta.index not in draft.calls:
            says = (
                self.rendering.use_assistant_message and delta.name == self.rendering.assistant_tool
            )
            draft.calls[delta.index] = (
                JsonStringReader(self.rendering.assistant_kwarg) if says else None
            )
        reader = draft.calls[delta.index]
        said = reader.feed(delta.text) if reader is not None else ""
        if not said:
            return None
        index = int(draft.reasoning) + int(draft.content) + sorted(draft.calls).index(delta.index)
        return self._chunk(message, "assistant_message", index, {"content": said})

    def stored(self, message: Message) -> list[dict[str, Any]]:
        """A stored message's Letta messages, less the parts already streamed."""
        return [
            part for part in to_letta(message, self.rendering) if part["otid"] not in self.streamed
        ]

    def _chunk(
        self, message: Message, kind: str, index: int, fields: dict[str, Any]
    ) -> dict[str, Any]:
        chunk = {**_base(message, kind, index), **fields}
        self.streamed.add(chunk["otid"])
        return chunk
