"""What a user sees when a turn goes wrong: provider failures, bad tool calls, limits,
an unconfigured provider, and a conversation outgrowing the context window."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from agents import loop
from agents.loop import InputMessage
from agents.models import Message
from agents.services import send_message
from config import env
from config.errors import InvalidRequest
from memory.services import get_agent_block
from tests.llm_server import _Reply, make_tool_call

EVERY_TRY = env.LLM_MAX_RETRIES + 1


def say(agent: Any, text: str, **kwargs: Any) -> loop.TurnResult:
    return send_message(agent, [InputMessage(role="user", content=text)], **kwargs)


def stored(agent: Any) -> list[Message]:
    return list(Message.objects.filter(agent=agent).order_by("seq"))


def assert_tool_calls_are_answered(messages: list[dict[str, Any]]) -> None:
    """Every assistant tool call is answered by a tool message before anything else, and
    every tool message answers a call (the rule providers enforce)."""
    pending: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] in pending, f"unexpected tool message {message}"
            pending.discard(message["tool_call_id"])
            continue
        assert not pending, f"calls {pending} unanswered before a {message['role']} message"
        if message["role"] == "assistant":
            pending = {call["id"] for call in message.get("tool_calls") or []}
    assert not pending, f"calls {pending} unanswered at the end of the request"


def tool_returns(agent: Any) -> list[Message]:
    return [m for m in stored(agent) if m.role == "tool"]


# --- The provider fails ----------------------------------------------------------------------


def test_a_provider_failing_on_every_try_ends_the_turn_with_an_error(make_agent, llm):
    agent = make_agent()
    llm.fail(500, "upstream exploded", times=EVERY_TRY)

    result = say(agent, "are you there?")

    assert result.stop_reason == "error"
    assert "HTTP 500" in result.error
    assert "upstream exploded" in result.error
    assert len(llm.requests) == EVERY_TRY
    agent.refresh_from_db()
    assert agent.last_stop_reason == "error"


def test_the_users_message_survives_a_failed_turn_and_the_next_turn_works(make_agent, llm):
    agent = make_agent()
    llm.fail(500, times=EVERY_TRY)
    say(agent, "first try")

    assert [(m.role, m.content) for m in stored(agent)] == [("user", "first try")]

    result = say(agent, "second try")

    assert result.stop_reason == "end_turn"
    request = llm.last_request["messages"]
    assert [m.get("content") for m in request if m["role"] == "user"] == [
        "first try",
        "second try",
    ]
    assert_tool_calls_are_answered(request)


def test_a_failure_in_a_later_step_leaves_no_tool_call_unanswered(make_agent, llm):
    agent = make_agent()
    llm.tool_call("conversation_search", {"query": "tea"})

    def fail_from_now_on(message: Message) -> None:
        # Queued failures win over queued replies, so the outage starts once step 1 is in.
        if message.role == "assistant":
            llm.fail(503, "overloaded", times=EVERY_TRY)

    failed = say(agent, "what did I say about tea?", emit=fail_from_now_on)

    assert failed.stop_reason == "error"
    assert [m.role for m in stored(agent)] == ["user", "assistant", "tool"]

    result = say(agent, "try again")

    assert result.stop_reason == "end_turn"
    assert_tool_calls_are_answered(llm.last_request["messages"])


def test_a_transient_server_error_is_retried_and_the_turn_succeeds(make_agent, llm):
    agent = make_agent()
    llm.fail(500, "blip", times=1)

    result = say(agent, "hello")

    assert result.stop_reason == "end_turn"
    assert result.error is None
    assert len(llm.requests) == 2
    assert [m.role for m in stored(agent)] == ["user", "assistant", "tool"]


def test_a_request_the_provider_rejects_is_not_retried(make_agent, llm):
    agent = make_agent()
    llm.fail(400, "context length exceeded", times=1)

    result = say(agent, "hello")

    assert result.stop_reason == "error"
    assert "HTTP 400" in result.error
    assert len(llm.requests) == 1


# --- The model calls tools badly -------------------------------------------------------------


def test_malformed_tool_arguments_are_reported_to_the_model_and_the_loop_goes_on(make_agent, llm):
    agent = make_agent()
    llm.tool_call("send_message", '{"message": ')
    llm.tool_call("send_message", {"message": "Sorry, here it is."})

    result = say(agent, "hi")

    assert result.stop_reason == "end_turn"
    assert result.step_count == 2
    first, second = tool_returns(agent)
    assert first.tool_status == "error"
    assert first.tool_name == "send_message"
    packaged = json.loads(first.content)
    assert packaged["status"] == "Failed"
    assert "not valid JSON" in packaged["message"]
    assert second.tool_status == "success"
    # The model saw its mistake in the second request.
    tool_messages = [m for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert "not valid JSON" in tool_messages[-1]["content"]
    assert_tool_calls_are_answered(llm.requests[1]["messages"])


def test_arguments_that_are_not_an_object_are_refused(make_agent, llm):
    agent = make_agent()
    llm.tool_call("send_message", '["hello"]')
    llm.tool_call("send_message", {"message": "hello"})

    result = say(agent, "hi")

    assert result.stop_reason == "end_turn"
    assert tool_returns(agent)[0].tool_status == "error"
    assert "JSON object" in tool_returns(agent)[0].content


def test_an_unknown_tool_is_reported_by_name_and_the_loop_goes_on(make_agent, llm):
    agent = make_agent()
    llm.tool_call("launch_rockets", {"count": 3})
    llm.tool_call("send_message", {"message": "I cannot do that."})

    result = say(agent, "launch the rockets")

    assert result.stop_reason == "end_turn"
    unknown, sent = tool_returns(agent)
    assert unknown.tool_status == "error"
    assert unknown.tool_name == "launch_rockets"
    assert "launch_rockets" in json.loads(unknown.content)["message"]
    assert sent.tool_status == "success"


def test_a_tool_the_agent_was_not_given_is_refused(make_agent, llm):
    agent = make_agent(blocks={"human": "Ada"})
    llm.tool_call("memory_rethink", {"label": "human", "new_memory": "Grace"})
    llm.tool_call("send_message", {"message": "ok"})

    result = say(agent, "rewrite your memory")

    assert result.stop_reason == "end_turn"
    assert tool_returns(agent)[0].tool_status == "error"
    assert "memory_rethink" in tool_returns(agent)[0].content
    assert get_agent_block(agent, "human").value == "Ada"


def test_a_missing_required_argument_is_named(make_agent, llm):
    agent = make_agent()
    llm.tool_call("send_message", {"text": "wrong key"})
    llm.tool_call("send_message", {"message": "right key"})

    result = say(agent, "hi")

    assert result.stop_reason == "end_turn"
    refused = tool_returns(agent)[0]
    assert refused.tool_status == "error"
    assert "message" in json.loads(refused.content)["message"]


def test_the_turn_stops_after_max_steps_of_non_terminal_calls(make_agent, llm):
    agent = make_agent()
    llm.tool_call("conversation_search", {"query": "tea"})
    llm.tool_call("conversation_search", {"query": "coffee"})
    llm.tool_call("send_message", {"message": "never sent"})

    result = say(agent, "search twice", max_steps=2)

    assert result.stop_reason == "max_steps"
    assert result.step_count == 2
    assert len(llm.requests) == 2
    assert llm.pending_replies == 1
    assert [m.role for m in stored(agent)] == ["user", "assistant", "tool", "assistant", "tool"]
    agent.refresh_from_db()
    assert agent.last_stop_reason == "max_steps"


def test_max_steps_below_one_is_refused_before_anything_is_stored(make_agent, llm):
    agent = make_agent()

    with pytest.raises(InvalidRequest):
        say(agent, "hi", max_steps=0)

    assert stored(agent) == []


def test_a_plain_text_answer_is_delivered_as_the_assistants_reply(make_agent, llm):
    agent = make_agent()
    llm.reply("Just text, no tools.")

    result = say(agent, "hi")

    assert result.stop_reason == "end_turn"
    assert [(m.role, m.content) for m in stored(agent)] == [
        ("user", "hi"),
        ("assistant", "Just text, no tools."),
    ]
    assert [m.content for m in result.messages] == ["Just text, no tools."]


def test_an_empty_answer_without_tool_calls_ends_the_turn_as_no_tool_call(make_agent, llm):
    agent = make_agent()
    llm.reply("")

    result = say(agent, "hi")

    assert result.stop_reason == "no_tool_call"
    assert say(agent, "hello again").stop_reason == "end_turn"


# --- An unconfigured provider ----------------------------------------------------------------


def test_an_unconfigured_provider_is_refused_naming_the_variable_and_nothing_is_stored(
    make_agent, llm, monkeypatch
):
    for name in ("NOSUCH_API_KEY", "NOSUCH_BASE_URL", "LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    agent = make_agent(model="nosuch/model")

    with pytest.raises(InvalidRequest) as raised:
        say(agent, "hello")

    assert "NOSUCH_API_KEY" in raised.value.message
    assert stored(agent) == []
    assert llm.requests == []


# --- Repairing broken tool pairs ------------------------------------------------------------


def _call(call_id: str, name: str = "conversation_search") -> dict[str, str]:
    return {"id": call_id, "name": name, "arguments": '{"query": "x"}'}


def test_to_openai_answers_a_tool_call_whose_return_was_never_stored():
    history = [
        Message(role="user", content="hi"),
        Message(role="assistant", tool_calls=[_call("call_lost")]),
        Message(role="user", content="are you there?"),
    ]

    out = loop.to_openai(history)

    assert [m["role"] for m in out] == ["user", "assistant", "tool", "user"]
    repaired = out[2]
    assert repaired["tool_call_id"] == "call_lost"
    assert json.loads(repaired["content"])["status"] == "Failed"
    assert_tool_calls_are_answered(out)


def test_to_openai_answers_only_the_missing_call_of_several():
    history = [
        Message(role="user", content="hi"),
        Message(role="assistant", tool_calls=[_call("call_a"), _call("call_b")]),
        Message(role="tool", tool_call_id="call_b", content='{"status": "OK"}'),
    ]

    out = loop.to_openai(history)

    assert [(m["role"], m.get("tool_call_id")) for m in out] == [
        ("user", None),
        ("assistant", None),
        ("tool", "call_b"),
        ("tool", "call_a"),
    ]
    assert json.loads(out[3]["content"])["status"] == "Failed"


def test_to_openai_drops_a_tool_return_whose_call_is_gone():
    history = [
        Message(role="tool", tool_call_id="call_evicted", content='{"status": "OK"}'),
        Message(role="user", content="hi"),
    ]

    assert loop.to_openai(history) == [{"role": "user", "content": "hi"}]


def test_a_conversation_interrupted_between_a_tool_call_and_its_return_can_go_on(make_agent, llm):
    agent = make_agent()
    turn = uuid.uuid4().hex
    Message.objects.create(agent=agent, role="user", content="search please", turn_id=turn)
    Message.objects.create(
        agent=agent, role="assistant", tool_calls=[_call("call_crashed")], turn_id=turn
    )

    result = say(agent, "hello?")

    assert result.stop_reason == "end_turn"
    request = llm.last_request["messages"]
    assert_tool_calls_are_answered(request)
    repaired = [m for m in request if m.get("tool_call_id") == "call_crashed"]
    assert len(repaired) == 1
    assert json.loads(repaired[0]["content"])["status"] == "Failed"


# --- Summarisation when the context window fills up ---------------------------------------


SUMMARY_PROMPT_MARK = "You condense conversation history"


def scripted_model(monkeypatch: pytest.MonkeyPatch, llm: Any) -> list[str]:
    """The fake model answers summary requests (no tools offered) with a short numbered
    summary; otherwise it searches once and then replies, so turns have two tool pairs."""
    summaries: list[str] = []

    def answer(body: dict[str, Any]) -> _Reply:
        if not body.get("tools"):
            summaries.append(f"SUMMARY {len(summaries) + 1}: the user wrote long messages.")
            return _Reply(summaries[-1], ())
        if body["messages"][-1]["role"] == "user":
            return _Reply(None, (make_tool_call("conversation_search", {"query": "zebra"}),))
        return _Reply(None, (make_tool_call("send_message", {"message": "noted"}),))

    monkeypatch.setattr(llm, "_default_reply", answer)
    return summaries


def small_agent(make_agent: Any, context_window: int = 1000) -> Any:
    return make_agent(
        system="You are terse.",
        blocks={"human": "Ada"},
        include_base_tools=False,
        tools=["send_message", "conversation_search"],
        context_window=context_window,
    )


def long_text(index: int, size: int = 600) -> str:
    text = f"Turn {index}: "
    while len(text) < size:
        text += "lorem ipsum dolor sit amet "
    return text[:size]


def summary_requests(llm: Any) -> list[int]:
    return [i for i, request in enumerate(llm.requests) if not request.get("tools")]


def test_long_conversations_are_summarised_and_older_messages_leave_the_context(
    make_agent, llm, monkeypatch
):
    summaries = scripted_model(monkeypatch, llm)
    agent = small_agent(make_agent)

    results = [say(agent, long_text(i)) for i in range(6)]

    assert [r.stop_reason for r in results] == ["end_turn"] * 6, [r.error for r in results]
    agent.refresh_from_db()
    assert summaries, "the context never overflowed; the test needs longer turns"
    assert agent.summary == summaries[-1]
    history = stored(agent)
    assert len(history) == 6 * 5  # nothing is deleted: evicted messages stay in recall
    evicted = [m for m in history if not m.in_context]
    assert evicted and evicted[0].content == long_text(0)
    # Eviction removes the oldest messages first.
    flags = [m.in_context for m in history]
    assert flags == sorted(flags)
    in_context = [m for m in history if m.in_context]
    assert in_context[0].role == "user"

    # The summariser is asked without tools, about the evicted messages.
    first = summary_requests(llm)[0]
    summariser = llm.requests[first]["messages"]
    assert SUMMARY_PROMPT_MARK in summariser[0]["content"]
    assert long_text(0) in summariser[1]["content"]

    # The agent's next request carries the summary right after the system prompt.
    following = llm.requests[first + 1]["messages"]
    assert following[0]["role"] == "system"
    assert "<memory_blocks>" in following[0]["content"]
    assert following[1]["role"] == "user"
    assert summaries[0] in following[1]["content"]
    assert long_text(0) not in json.dumps(following)
    for request in llm.requests:
        if request.get("tools"):
            assert_tool_calls_are_answered(request["messages"])


def test_a_new_summary_builds_on_the_previous_one(make_agent, llm, monkeypatch):
    summaries = scripted_model(monkeypatch, llm)
    agent = small_agent(make_agent)

    for i in range(8):
        assert say(agent, long_text(i)).stop_reason == "end_turn"

    assert len(summaries) >= 2
    second = llm.requests[summary_requests(llm)[1]]["messages"]
    assert summaries[0] in second[1]["content"]


def test_eviction_never_separates_a_tool_call_from_its_return(make_agent, llm, monkeypatch):
    scripted_model(monkeypatch, llm)
    agent = small_agent(make_agent)

    for i in range(6):
        say(agent, long_text(i))

    history = stored(agent)
    assert any(not m.in_context for m in history), "nothing was evicted"
    returns = {m.tool_call_id: m for m in history if m.role == "tool"}
    for message in history:
        for call in message.tool_calls or []:
            assert returns[call["id"]].in_context == message.in_context


def old_turn(agent: Any, user_text: str, reply_text: str = "ok") -> None:
    """Store a finished turn as the loop would have (user, send_message call, return)."""
    turn = uuid.uuid4().hex
    call_id = f"call_{uuid.uuid4().hex[:24]}"
    Message.objects.create(agent=agent, role="user", content=user_text, turn_id=turn)
    Message.objects.create(
        agent=agent,
        role="assistant",
        tool_calls=[
            {
                "id": call_id,
                "name": "send_message",
                "arguments": json.dumps({"message": reply_text}),
            }
        ],
        turn_id=turn,
    )
    Message.objects.create(
        agent=agent,
        role="tool",
        tool_call_id=call_id,
        tool_name="send_message",
        tool_status="success",
        content=json.dumps({"status": "OK", "message": "Sent message successfully.", "time": ""}),
        turn_id=turn,
    )


def test_a_failing_summariser_fails_the_turn_and_evicts_nothing(make_agent, llm):
    agent = small_agent(make_agent)
    old_turn(agent, long_text(0, size=2400))
    llm.fail(500, "summariser down", times=EVERY_TRY)

    result = say(agent, "hi")

    assert result.stop_reason == "error"
    assert "HTTP 500" in result.error
    assert not llm.requests[0].get("tools")  # it was the summary request that failed
    assert all(m.in_context for m in stored(agent))
    agent.refresh_from_db()
    assert agent.summary == ""


def test_a_long_message_after_one_short_turn_evicts_that_turn_instead_of_failing(
    make_agent, llm, monkeypatch
):
    """The current turn alone is over the eviction target but fits the window; the one
    earlier turn can be summarised, so the turn must succeed."""
    summaries = scripted_model(monkeypatch, llm)
    agent = small_agent(make_agent)
    old_turn(agent, long_text(0, size=800))

    result = say(agent, long_text(1, size=800))

    assert result.stop_reason == "end_turn", result.error
    agent.refresh_from_db()
    assert agent.summary == summaries[0]
    assert [m.in_context for m in stored(agent)][:3] == [False, False, False]


def test_summarising_long_replies_frees_the_context_down_to_half_the_window(
    make_agent, llm, monkeypatch
):
    """Tool-call arguments (a long send_message) count toward the context like any text,
    so eviction must count them too when deciding how much to evict."""
    scripted_model(monkeypatch, llm)
    agent = small_agent(make_agent, context_window=4000)
    for i in range(6):
        old_turn(agent, f"question {i}", reply_text=long_text(i, size=2000))

    result = say(agent, "one more question")

    assert result.stop_reason == "end_turn", result.error
    agent.refresh_from_db()
    assert agent.summary
    replies = {m.pk for m in result.messages}
    # What the summary left in context, as it was before this turn's replies were added.
    before_reply = [m for m in stored(agent) if m.in_context and m.pk not in replies]
    summary_tokens = loop.estimate_tokens(loop.summary_message(agent)["content"])
    used = loop.context_tokens(agent, loop.compile_system(agent), before_reply) - summary_tokens
    assert used <= loop.KEEP_SHARE * agent.context_window
