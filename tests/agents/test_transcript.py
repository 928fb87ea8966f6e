"""What a sleep-time agent reads: the primary's messages rendered as a transcript.

Pure functions, so plain objects stand in for stored messages; no database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agents.transcript import HEADER, MAX_LINE_CHARS, estimate_tokens, lines, render


@dataclass
class Msg:
    role: str
    content: str = ""
    name: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_name: str = ""
    turn_id: str = ""


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": f"call_{name}", "name": name, "arguments": json.dumps(arguments)}


def tool_return(name: str, message: str, turn_id: str = "") -> Msg:
    content = json.dumps({"status": "OK", "message": message, "time": "2025-01-01T00:00:00"})
    return Msg(role="tool", content=content, tool_name=name, turn_id=turn_id)


def turn(turn_id: str, user_text: str, reply: str = "ok") -> list[Msg]:
    """A primary's turn as stored: the user, the send_message call and its return."""
    return [
        Msg(role="user", content=user_text, turn_id=turn_id),
        Msg(role="assistant", tool_calls=[call("send_message", message=reply)], turn_id=turn_id),
        tool_return("send_message", "Sent message successfully.", turn_id),
    ]


# --- lines() ----------------------------------------------------------------------------


def test_a_user_message_is_one_line_marked_user():
    assert lines(Msg(role="user", content="I like tea")) == ["user: I like tea"]


def test_a_named_sender_is_shown_by_name():
    assert lines(Msg(role="user", content="hello", name="Ada")) == ["Ada: hello"]


def test_what_the_primary_said_through_send_message_reads_as_the_assistant_speaking():
    message = Msg(role="assistant", tool_calls=[call("send_message", message="Hi Ada!")])

    assert lines(message) == ["assistant: Hi Ada!"]


def test_another_tool_call_shows_the_tool_and_its_arguments():
    message = Msg(
        role="assistant",
        tool_calls=[call("archival_memory_search", query="tea")],
    )

    assert lines(message) == ['assistant: Calling tool archival_memory_search({"query": "tea"})']


def test_an_assistant_message_with_text_and_a_tool_call_gives_both_lines():
    message = Msg(
        role="assistant",
        content="Let me look.",
        tool_calls=[call("conversation_search", query="tea")],
    )

    assert lines(message) == [
        "assistant: Let me look.",
        'assistant: Calling tool conversation_search({"query": "tea"})',
    ]


def test_a_tool_return_shows_what_the_tool_answered():
    message = tool_return("archival_memory_search", "Found: Ada likes tea")

    assert lines(message) == ["assistant: Tool call returned Found: Ada likes tea"]


def test_a_tool_return_that_is_not_json_is_shown_as_it_is():
    message = Msg(role="tool", content="plain words", tool_name="conversation_search")

    assert lines(message) == ["assistant: Tool call returned plain words"]


def test_system_messages_are_left_out():
    assert lines(Msg(role="system", content="You are a helpful assistant.")) == []


def test_the_return_of_send_message_is_left_out():
    assert lines(tool_return("send_message", "Sent message successfully.")) == []


def test_an_empty_user_message_gives_no_line():
    assert lines(Msg(role="user", content="")) == []


def test_long_text_is_clipped_with_a_note_of_how_much_was_cut():
    (line,) = lines(Msg(role="user", content="x" * (MAX_LINE_CHARS + 500)))

    assert line == "user: " + "x" * MAX_LINE_CHARS + " [... 500 more characters]"


def test_text_at_the_limit_is_not_clipped():
    (line,) = lines(Msg(role="user", content="y" * MAX_LINE_CHARS))

    assert line == "user: " + "y" * MAX_LINE_CHARS


def test_long_tool_arguments_are_clipped_too():
    message = Msg(role="assistant", tool_calls=[call("memory_insert", new_str="z" * 5000)])

    (line,) = lines(message)

    assert line.startswith("assistant: Calling tool memory_insert(")
    assert "more characters]" in line
    assert len(line) < MAX_LINE_CHARS + 100


# --- render() -----------------------------------------------------------------------------


def three_turns() -> list[Msg]:
    # Each user line is about 100 tokens, so budgets in whole turns are easy to state.
    return turn("t1", "a" * 396) + turn("t2", "b" * 396) + turn("t3", "c" * 396)


def test_the_transcript_starts_with_the_header_for_the_sleep_time_agent():
    part = render(turn("t1", "hello"), 10_000)

    assert part.text.startswith(HEADER + "\n")
    assert part.text == HEADER + "\nuser: hello\nassistant: ok"


def test_everything_fits_a_large_budget():
    messages = three_turns()

    part = render(messages, 10_000)

    assert part.complete is True
    assert part.last == len(messages) - 1
    for letter in "abc":
        assert "user: " + letter * 396 in part.text


def test_the_budget_stops_before_a_turn_that_does_not_fit_and_keeps_whole_turns():
    messages = three_turns()
    budget = estimate_tokens(HEADER) + 250  # two turns of about 107 tokens, not three

    part = render(messages, budget)

    assert part.complete is False
    assert part.last == 5  # the send_message return that ends the second turn
    assert messages[part.last].turn_id == "t2"
    assert messages[part.last + 1].turn_id == "t3"
    assert "user: " + "b" * 396 in part.text
    assert part.text.endswith("assistant: ok")  # the second turn's reply made it in
    assert "c" * 396 not in part.text


def test_the_first_turn_is_taken_even_when_it_alone_is_over_the_budget():
    messages = three_turns()

    part = render(messages, 1)

    assert part.complete is False
    assert part.last == 2  # the end of the first turn, not the middle of it
    assert part.text == HEADER + "\nuser: " + "a" * 396 + "\nassistant: ok"


def test_a_turn_is_every_message_sharing_its_turn_id_even_with_tool_steps():
    first = [
        Msg(role="user", content="remember I like tea", turn_id="t1"),
        Msg(role="assistant", tool_calls=[call("core_memory_append", content="tea")], turn_id="t1"),
        tool_return("core_memory_append", "edited", "t1"),
        Msg(role="assistant", tool_calls=[call("send_message", message="Noted.")], turn_id="t1"),
        tool_return("send_message", "Sent message successfully.", "t1"),
    ]
    messages = first + turn("t2", "d" * 2000)

    part = render(messages, 1)

    assert part.last == len(first) - 1
    assert part.text.splitlines()[-4:] == [
        "user: remember I like tea",
        'assistant: Calling tool core_memory_append({"content": "tea"})',
        "assistant: Tool call returned edited",
        "assistant: Noted.",
    ]


def test_nothing_to_read_renders_the_header_alone():
    part = render([], 100)

    assert part.text == HEADER + "\n"
    assert part.last == -1
    assert part.complete is True
