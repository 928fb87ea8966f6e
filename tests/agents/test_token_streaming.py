"""A turn whose model streams its replies (`on_delta`): the pieces as they come, the reply
stored whole under the id the pieces carried, usage from the provider, and a reply that
breaks off ending the turn without being stored."""

from __future__ import annotations

from typing import Any

import llm as llm_boundary
from agents.loop import InputMessage
from agents.models import Message, Role
from agents.services import send_message
from tests.llm_server import make_tool_call

REPLY = "The quick brown fox jumps over the lazy dog."


def stream_turn(
    agent: Any, text: str = "hi"
) -> tuple[Any, list[tuple[Message, llm_boundary.Delta]]]:
    seen: list[tuple[Message, llm_boundary.Delta]] = []
    result = send_message(
        agent,
        [InputMessage(role="user", content=text)],
        on_delta=lambda draft, delta: seen.append((draft, delta)),
    )
    return result, seen


def test_a_streamed_reply_arrives_in_pieces_and_is_stored_whole_under_their_id(make_agent, llm):
    agent = make_agent()
    llm.reply(REPLY, prompt_tokens=321, completion_tokens=12)
    result, seen = stream_turn(agent)

    assert result.stop_reason == "end_turn"
    pieces = [delta.text for _, delta in seen if delta.kind == "content"]
    assert len(pieces) > 2 and "".join(pieces) == REPLY
    stored = Message.objects.get(agent=agent, role=Role.ASSISTANT)
    assert stored.content == REPLY
    assert {draft.uid for draft, _ in seen} == {stored.uid}
    # The provider was asked to stream, and its usage is the turn's.
    assert llm.last_request["stream"] is True
    assert llm.last_request["stream_options"] == {"include_usage": True}
    assert (result.prompt_tokens, result.completion_tokens) == (321, 12)
    assert stored.usage == {"prompt_tokens": 321, "completion_tokens": 12}


def test_a_turn_without_on_delta_does_not_ask_the_model_to_stream(make_agent, llm):
    agent = make_agent()
    llm.reply(REPLY)
    result = send_message(agent, [InputMessage(role="user", content="hi")])
    assert result.stop_reason == "end_turn"
    assert "stream" not in llm.last_request and "stream_options" not in llm.last_request


def test_the_arguments_of_a_streamed_tool_call_come_in_pieces_and_the_call_is_stored_whole(
    make_agent, llm
):
    agent = make_agent()
    llm.tool_call("send_message", {"message": REPLY}, content="Answering.")
    result, seen = stream_turn(agent)

    assert result.stop_reason == "end_turn"
    arguments = [delta for _, delta in seen if delta.kind == "tool_call"]
    assert len(arguments) > 2 and {delta.name for delta in arguments} == {"send_message"}
    stored = Message.objects.get(agent=agent, role=Role.ASSISTANT)
    assert "".join(delta.text for delta in arguments) == stored.tool_calls[0]["arguments"]
    assert stored.reasoning == "Answering."
    assert {draft.uid for draft, _ in seen} == {stored.uid}


def test_a_reasoning_models_thinking_and_its_text_beside_a_tool_call_are_both_kept(make_agent, llm):
    agent = make_agent()
    llm.reply(
        "Let me answer.",
        reasoning="The user greets me.",
        tool_calls=[make_tool_call("send_message", {"message": "Hello!"})],
    )
    result, seen = stream_turn(agent)

    assert result.stop_reason == "end_turn"
    assert [d.kind for _, d in seen if d.kind != "tool_call"][:1] == ["reasoning"]
    stored = Message.objects.get(agent=agent, role=Role.ASSISTANT)
    assert (stored.reasoning, stored.content) == ("The user greets me.", "Let me answer.")


def test_a_reply_whose_connection_drops_mid_way_ends_the_turn_and_is_not_stored(make_agent, llm):
    agent = make_agent()
    llm.reply(REPLY)
    llm.break_stream(after=2)
    result, seen = stream_turn(agent)

    assert [delta.text for _, delta in seen] == [REPLY[:8], REPLY[8:16]]
    assert result.stop_reason == "error"
    assert "broke off" in (result.error or "")
    assert not Message.objects.filter(agent=agent, role=Role.ASSISTANT).exists()
    assert agent.messages.get().content == "hi"  # the user's message stays


def test_a_provider_error_in_the_middle_of_a_reply_ends_the_turn_with_its_message(make_agent, llm):
    agent = make_agent()
    llm.reply(REPLY)
    llm.break_stream(after=3, error="the model is overloaded")
    result, seen = stream_turn(agent)

    assert len(seen) == 3
    assert result.stop_reason == "error"
    assert "the model is overloaded" in (result.error or "")
    assert not Message.objects.filter(agent=agent, role=Role.ASSISTANT).exists()


def test_a_provider_that_refuses_stream_options_still_streams_the_reply(make_agent, llm):
    agent = make_agent()
    llm.fail(400, "Unrecognized request argument supplied: stream_options")
    llm.reply(REPLY)
    result, seen = stream_turn(agent)

    assert result.stop_reason == "end_turn"
    assert "".join(delta.text for _, delta in seen) == REPLY
    assert "stream_options" in llm.requests[-2] and "stream_options" not in llm.requests[-1]
    assert llm.last_request["stream"] is True


def test_a_refused_streamed_request_fails_the_turn_as_a_plain_one_does(make_agent, llm):
    agent = make_agent()
    llm.fail(400, "model not found")
    result, seen = stream_turn(agent)

    assert seen == [] and result.stop_reason == "error"
    assert "model not found" in (result.error or "")
