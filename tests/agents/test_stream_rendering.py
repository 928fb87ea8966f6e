"""Token streaming in Letta's shape (agents/letta_format.py): the pieces of a reply become
chunks with the id and otid of the part of the stored message they belong to, so joining
the chunks by id gives what listing the messages shows; the words of a `send_message`
call are decoded from its arguments as they arrive."""

from __future__ import annotations

import json
import random

import pytest
from django.utils import timezone

from agents.letta_format import DEFAULT, JsonStringReader, Rendering, StreamRendering, to_letta
from agents.models import Message, Role
from llm import Delta

ARGUMENTS = [
    {"message": "plain words"},
    {"message": 'quotes " and \\ backslashes / slashes\nnew lines\ttabs'},
    {"message": "accents é ü, CJK 漢字, an emoji 🦊 and another 🎉"},
    {
        "request_heartbeat": True,
        "nested": {"message": "not this", "list": [1, "]", {}]},
        "message": "this",
    },
    {"message": ""},
    {"other": "x"},
]


def pieces(text: str, rng: random.Random) -> list[str]:
    out, start = [], 0
    while start < len(text):
        size = rng.randint(1, 5)
        out.append(text[start : start + size])
        start += size
    return out


@pytest.mark.parametrize("value", ARGUMENTS)
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_the_message_argument_decodes_piece_by_piece_to_what_json_gives(value, ensure_ascii):
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    rng = random.Random(text)
    for _ in range(20):  # many ways to cut it, escapes and surrogate pairs split among them
        reader = JsonStringReader("message")
        decoded = "".join(reader.feed(piece) for piece in pieces(text, rng))
        assert decoded == value.get("message", "")


def test_an_escaped_key_and_an_argument_that_is_not_a_string_are_understood_as_json_does():
    reader = JsonStringReader("message")
    assert reader.feed('{"mess\\u0061ge": "yes"}') == "yes"
    assert JsonStringReader("message").feed('{"message": 42}') == ""
    assert JsonStringReader("message").feed('["message", "no"]') == ""


def draft(step: int = 1) -> Message:
    return Message(role=Role.ASSISTANT, turn_id="turn1", step=step, created_at=timezone.now())


def stored_like(message: Message, **fields: object) -> Message:
    stored = Message(
        uid=message.uid,
        role=Role.ASSISTANT,
        turn_id=message.turn_id,
        step=message.step,
        created_at=timezone.now(),
        seq=7,
    )
    for name, value in fields.items():
        setattr(stored, name, value)
    return stored


def joined_by_id(chunks: list[dict]) -> dict[tuple[str, str, str], str]:
    """What a client has after joining the chunks by id, otid and type."""
    out: dict[tuple[str, str, str], str] = {}
    for chunk in chunks:
        key = (chunk["id"], chunk["otid"], chunk["message_type"])
        out[key] = out.get(key, "") + (chunk.get("content") or chunk.get("reasoning") or "")
    return out


def listed(message: Message, rendering: Rendering = DEFAULT) -> dict[tuple[str, str, str], str]:
    return {
        (m["id"], m["otid"], m["message_type"]): m.get("content") or m.get("reasoning") or ""
        for m in to_letta(message, rendering)
        if m["message_type"] in ("assistant_message", "reasoning_message")
    }


def stream(rendering: StreamRendering, message: Message, deltas: list[Delta]) -> list[dict]:
    return [c for delta in deltas if (c := rendering.delta(message, delta)) is not None]


def test_a_plain_answer_with_reasoning_streams_as_the_parts_it_is_stored_as():
    message, tokens = draft(), StreamRendering()
    chunks = stream(
        tokens,
        message,
        [
            Delta("reasoning", "Thinking "),
            Delta("reasoning", "hard."),
            Delta("content", "Hel"),
            Delta("content", "lo!"),
        ],
    )
    stored = stored_like(message, reasoning="Thinking hard.", content="Hello!")
    assert joined_by_id(chunks) == listed(stored)
    assert [c["message_type"] for c in tokens.stored(stored)] == []  # nothing sent twice


def test_the_words_of_send_message_stream_as_the_assistant_message_after_the_reasoning():
    message, tokens = draft(), StreamRendering()
    arguments = json.dumps({"message": 'Hi "there" 🦊'})
    deltas = [Delta("reasoning", "The user said hi.")] + [
        Delta("tool_call", arguments[i : i + 3], index=0, name="send_message")
        for i in range(0, len(arguments), 3)
    ]
    chunks = stream(tokens, message, deltas)
    assert len([c for c in chunks if c["message_type"] == "assistant_message"]) > 2
    call = {"id": "call_1", "name": "send_message", "arguments": arguments}
    stored = stored_like(message, reasoning="The user said hi.", tool_calls=[call])
    assert joined_by_id(chunks) == listed(stored)
    assert tokens.stored(stored) == []


def test_other_tool_calls_are_sent_whole_once_stored_after_the_streamed_parts():
    message, tokens = draft(), StreamRendering()
    arguments = json.dumps({"query": "cats"})
    chunks = stream(
        tokens,
        message,
        [
            Delta("reasoning", "Search."),
            Delta("tool_call", arguments, index=0, name="archival_memory_search"),
        ],
    )
    assert [c["message_type"] for c in chunks] == ["reasoning_message"]
    call = {"id": "call_1", "name": "archival_memory_search", "arguments": arguments}
    stored = stored_like(message, reasoning="Search.", tool_calls=[call])
    rest = tokens.stored(stored)
    assert [c["message_type"] for c in rest] == ["tool_call_message"]
    assert rest[0]["otid"] == to_letta(stored)[1]["otid"]


def test_without_use_assistant_message_send_message_is_a_tool_call_sent_whole():
    message = draft()
    tokens = StreamRendering(Rendering(use_assistant_message=False))
    arguments = json.dumps({"message": "Hello"})
    assert stream(tokens, message, [Delta("tool_call", arguments, name="send_message")]) == []
    stored = stored_like(
        message, tool_calls=[{"id": "c", "name": "send_message", "arguments": arguments}]
    )
    assert [c["message_type"] for c in tokens.stored(stored)] == ["tool_call_message"]


def test_a_custom_assistant_tool_and_argument_stream_as_the_assistant_message():
    message = draft()
    tokens = StreamRendering(Rendering(assistant_tool="reply", assistant_kwarg="text"))
    arguments = json.dumps({"text": "Custom words"})
    chunks = stream(tokens, message, [Delta("tool_call", arguments, name="reply")])
    stored = stored_like(message, tool_calls=[{"id": "c", "name": "reply", "arguments": arguments}])
    assert joined_by_id(chunks) == listed(
        stored, Rendering(assistant_tool="reply", assistant_kwarg="text")
    )


def test_text_before_a_tool_call_keeps_its_id_when_it_is_stored_as_reasoning():
    """The text streams as the assistant's words (nothing says yet that a call follows);
    stored, it is the step's reasoning: the same part, id and otid."""
    message, tokens = draft(), StreamRendering()
    arguments = json.dumps({"message": "Done."})
    chunks = stream(
        tokens,
        message,
        [
            Delta("content", "Let me "),
            Delta("content", "look."),
            Delta("tool_call", arguments, name="send_message"),
        ],
    )
    call = {"id": "c", "name": "send_message", "arguments": arguments}
    stored = stored_like(message, reasoning="Let me look.", tool_calls=[call])
    assert [(c["id"], c["otid"]) for c in to_letta(stored)] == list(
        dict.fromkeys((c["id"], c["otid"]) for c in chunks)
    )
    assert tokens.stored(stored) == []


def test_each_step_streams_under_its_own_message_id():
    tokens = StreamRendering()
    first, second = draft(1), draft(2)
    a = tokens.delta(first, Delta("content", "one"))
    b = tokens.delta(second, Delta("content", "two"))
    assert a is not None and b is not None
    assert a["id"] == first.uid != b["id"] == second.uid
    assert a["step_id"] == "step-turn1-1" and b["step_id"] == "step-turn1-2"
