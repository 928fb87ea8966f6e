"""Tests for the ScriptedLLM stand-in, driven through the real ``openai`` client."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.llm_server import ScriptedLLM, ToolCall, hashed_embedding, make_tool_call

MODEL = "gpt-test-model"
SEND_MESSAGE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "send_message",
        "description": "Send a message to the user.",
        "parameters": {
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        },
    },
}


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    """A running ScriptedLLM, stopped after the test."""
    server = ScriptedLLM()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(llm: ScriptedLLM) -> Iterator[OpenAI]:
    """An openai client pointed at the scripted server, without retries."""
    with OpenAI(base_url=llm.base_url, api_key="test", max_retries=0) as c:
        yield c


def user(text: str) -> dict[str, Any]:
    """A user message."""
    return {"role": "user", "content": text}


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def raw_request(
    llm: ScriptedLLM, method: str, path: str, data: bytes | None = None
) -> tuple[int, dict]:
    """Send a raw HTTP request to the server and return (status, parsed JSON body)."""
    root = llm.base_url.removesuffix("/v1")
    request = urllib.request.Request(
        root + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_base_url_shape(llm: ScriptedLLM) -> None:
    assert llm.base_url.startswith("http://127.0.0.1:")
    assert llm.base_url.endswith("/v1")


def test_scripted_content_reply(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.reply("Hello from the script", prompt_tokens=11, completion_tokens=3)

    response = client.chat.completions.create(model=MODEL, messages=[user("hi")])

    assert response.id.startswith("chatcmpl-")
    assert response.object == "chat.completion"
    assert response.model == MODEL
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello from the script"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (11, 3)
    assert response.usage.total_tokens == 14


def test_replies_are_fifo_then_default(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.reply("first")
    llm.reply("second")
    assert llm.pending_replies == 2

    answers = [client.chat.completions.create(model=MODEL, messages=[user("q")]) for _ in range(3)]

    assert [a.choices[0].message.content for a in answers] == ["first", "second", "echo: q"]
    assert llm.pending_replies == 0


def test_default_usage_estimates(llm: ScriptedLLM, client: OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "x" * 20}, user("y" * 20)],
    )
    assert response.usage is not None
    assert response.usage.prompt_tokens == 10
    assert response.usage.completion_tokens == max(1, len("echo: " + "y" * 20) // 4)
    usage = response.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_scripted_tool_call(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.tool_call("send_message", {"message": "hello", "count": 2})

    response = client.chat.completions.create(
        model=MODEL, messages=[user("hi")], tools=[SEND_MESSAGE_TOOL]
    )

    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_")
    assert call.type == "function"
    assert call.function.name == "send_message"
    assert json.loads(call.function.arguments) == {"message": "hello", "count": 2}


def test_reply_with_several_tool_calls_and_content(llm: ScriptedLLM, client: OpenAI) -> None:
    calls = [make_tool_call("lookup", {"q": "tea"}), make_tool_call("noop")]
    llm.reply("thinking", tool_calls=calls)

    response = client.chat.completions.create(model=MODEL, messages=[user("hi")])

    message = response.choices[0].message
    assert message.content == "thinking"
    assert message.tool_calls is not None
    assert [c.id for c in message.tool_calls] == [c.id for c in calls]
    assert [c.function.name for c in message.tool_calls] == ["lookup", "noop"]
    assert message.tool_calls[1].function.arguments == "{}"


def test_malformed_arguments_pass_through_verbatim(llm: ScriptedLLM, client: OpenAI) -> None:
    broken = '{"message": "unterminated'
    llm.tool_call("send_message", broken)

    response = client.chat.completions.create(
        model=MODEL, messages=[user("hi")], tools=[SEND_MESSAGE_TOOL]
    )

    tool_calls = response.choices[0].message.tool_calls
    assert tool_calls is not None
    assert tool_calls[0].function.arguments == broken


def test_default_echo_without_tools(llm: ScriptedLLM, client: OpenAI) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "be nice"},
        user("older"),
        {"role": "assistant", "content": "ok"},
        user("latest words"),
    ]
    response = client.chat.completions.create(model=MODEL, messages=messages)
    assert response.choices[0].message.content == "echo: latest words"
    assert response.choices[0].message.tool_calls is None


def test_default_echo_with_content_parts(llm: ScriptedLLM, client: OpenAI) -> None:
    parts = [{"type": "text", "text": "from parts"}]
    response = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": parts}]
    )
    assert response.choices[0].message.content == "echo: from parts"


def test_default_echo_with_send_message_tool(llm: ScriptedLLM, client: OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL, messages=[user("first"), user("ping")], tools=[SEND_MESSAGE_TOOL]
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert call.function.name == "send_message"
    assert json.loads(call.function.arguments) == {"message": "echo: ping"}


def test_fail_500_raises_without_retries(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.fail(500, "boom")

    with pytest.raises(openai.InternalServerError) as excinfo:
        client.chat.completions.create(model=MODEL, messages=[user("hi")])

    assert excinfo.value.status_code == 500
    assert "boom" in str(excinfo.value)
    assert excinfo.value.body == {"message": "boom", "type": "server_error", "code": None}
    # The failure is consumed; the next request succeeds.
    again = client.chat.completions.create(model=MODEL, messages=[user("hi")])
    assert again.choices[0].message.content == "echo: hi"


def test_fail_400_is_invalid_request(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.fail(400, "bad prompt")
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.chat.completions.create(model=MODEL, messages=[user("hi")])
    assert excinfo.value.body == {
        "message": "bad prompt",
        "type": "invalid_request_error",
        "code": None,
    }


def test_failures_then_success_with_retrying_client(llm: ScriptedLLM) -> None:
    llm.fail(500, times=2)
    llm.reply("finally")

    with OpenAI(base_url=llm.base_url, api_key="test", max_retries=2) as retrying:
        response = retrying.chat.completions.create(model=MODEL, messages=[user("hi")])

    assert response.choices[0].message.content == "finally"
    assert len(llm.requests) == 3


def test_streaming_content(llm: ScriptedLLM, client: OpenAI) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    llm.reply(text, prompt_tokens=7, completion_tokens=9)

    stream = client.chat.completions.create(
        model=MODEL, messages=[user("hi")], stream=True, stream_options={"include_usage": True}
    )
    deltas: list[str] = []
    finish_reasons: list[str] = []
    usage = None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        assert chunk.model == MODEL
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                deltas.append(choice.delta.content)
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)

    assert "".join(deltas) == text
    assert len(deltas) > 1
    assert finish_reasons == ["stop"]
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (7, 9, 16)


def test_streaming_tool_call_reassembles(llm: ScriptedLLM, client: OpenAI) -> None:
    arguments = {"message": "a fairly long streamed argument string"}
    llm.tool_call("send_message", arguments)

    stream = client.chat.completions.create(
        model=MODEL, messages=[user("hi")], tools=[SEND_MESSAGE_TOOL], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish_reason = None
    for chunk in stream:
        assert chunk.usage is None
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                if delta.id:
                    entry["id"] = delta.id
                if delta.function and delta.function.name:
                    entry["name"] += delta.function.name
                if delta.function and delta.function.arguments:
                    entry["arguments"] += delta.function.arguments
            finish_reason = choice.finish_reason or finish_reason

    assert list(calls) == [0]
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["name"] == "send_message"
    assert json.loads(calls[0]["arguments"]) == arguments
    assert finish_reason == "tool_calls"


def test_stream_helper_final_completion(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.tool_call("send_message", {"message": "hey"}, content="Let me tell them.")

    with client.chat.completions.stream(
        model=MODEL, messages=[user("hi")], tools=[SEND_MESSAGE_TOOL]
    ) as stream:
        for _event in stream:
            pass
        final = stream.get_final_completion()

    message = final.choices[0].message
    assert message.content == "Let me tell them."
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "send_message"
    assert json.loads(message.tool_calls[0].function.arguments) == {"message": "hey"}
    assert final.choices[0].finish_reason == "tool_calls"


def streamed_text(stream: Any) -> tuple[str, str, list[str]]:
    """(reasoning, content, finish reasons) of a streamed answer read to its end."""
    reasoning, content, finish = "", "", []
    for chunk in stream:
        for choice in chunk.choices:
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            content += choice.delta.content or ""
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    return reasoning, content, finish


def test_a_reasoning_reply_sends_its_thinking_apart_whole_or_streamed_first(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    llm.reply("Four.", reasoning="Two and two make four, as always.")
    llm.reply("Four.", reasoning="Two and two make four, as always.")

    whole = client.chat.completions.create(model=MODEL, messages=[user("2+2?")])
    message = whole.choices[0].message
    assert (message.content, getattr(message, "reasoning_content", None)) == (
        "Four.",
        "Two and two make four, as always.",
    )
    stream = client.chat.completions.create(model=MODEL, messages=[user("2+2?")], stream=True)
    assert streamed_text(stream) == ("Two and two make four, as always.", "Four.", ["stop"])


def test_a_paused_stream_waits_part_way_until_released(llm: ScriptedLLM, client: OpenAI) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    llm.reply(text)
    llm.pause_stream(after=2)
    stream = client.chat.completions.create(model=MODEL, messages=[user("hi")], stream=True)
    first = [next(stream) for _ in range(3)]  # the opening chunk, then two pieces

    llm.main.wait_for_waiting()
    assert "".join(chunk.choices[0].delta.content or "" for chunk in first) == text[:16]
    llm.release()
    assert streamed_text(stream)[1] == text[16:]
    assert llm.waiting == 0


def test_a_broken_stream_drops_the_connection_part_way(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.reply("The quick brown fox jumps over the lazy dog.")
    llm.break_stream(after=2)
    stream = client.chat.completions.create(model=MODEL, messages=[user("hi")], stream=True)
    pieces = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            pieces.append(chunk.choices[0].delta.content or "")
    assert "".join(pieces) == "The quick brown "

    llm.reply("Fine again.")
    again = client.chat.completions.create(model=MODEL, messages=[user("hi")], stream=True)
    assert streamed_text(again)[1] == "Fine again."


def test_a_stream_can_end_with_an_error_event_part_way(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.reply("The quick brown fox jumps over the lazy dog.")
    llm.break_stream(after=1, error="overloaded mid-way")
    stream = client.chat.completions.create(model=MODEL, messages=[user("hi")], stream=True)
    with pytest.raises(openai.APIError, match="overloaded mid-way"):
        streamed_text(stream)


def test_interruptions_wait_for_a_streamed_request(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.break_stream(after=0)
    assert client.chat.completions.create(model=MODEL, messages=[user("hi")]).choices
    with pytest.raises(openai.APIConnectionError):
        streamed_text(
            client.chat.completions.create(model=MODEL, messages=[user("hi")], stream=True)
        )


def test_embeddings_batch(llm: ScriptedLLM, client: OpenAI) -> None:
    texts = [
        "my dog loves long walks in the park",
        "my dog loves the park",
        "quarterly tax filing deadline reminder",
    ]
    response = client.embeddings.create(model="embed-test", input=texts)

    assert response.model == "embed-test"
    assert [item.index for item in response.data] == [0, 1, 2]
    vectors = [item.embedding for item in response.data]
    assert all(len(v) == 1536 for v in vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-5 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert response.usage.prompt_tokens >= 3
    assert llm.embedding_requests[-1]["input"] == texts


def test_embeddings_identical_texts_and_dimensions(llm: ScriptedLLM, client: OpenAI) -> None:
    texts = ["Same words here", "other words", "Same words here"]
    response = client.embeddings.create(
        model="embed-test", input=texts, dimensions=64, encoding_format="float"
    )

    vectors = [item.embedding for item in response.data]
    assert len(vectors) == 3
    assert all(len(v) == 64 for v in vectors)
    assert vectors[0] == vectors[2]
    assert vectors[0] == hashed_embedding("same WORDS here", 64)
    assert llm.embedding_requests[-1]["dimensions"] == 64


def test_embeddings_accept_token_lists(llm: ScriptedLLM, client: OpenAI) -> None:
    response = client.embeddings.create(
        model="embed-test", input=[[1, 2, 3], [1, 2, 3]], encoding_format="float"
    )
    assert response.data[0].embedding == response.data[1].embedding == hashed_embedding("1 2 3")


def test_requests_record_bodies(llm: ScriptedLLM, client: OpenAI) -> None:
    messages = [{"role": "system", "content": "sys"}, user("remember me")]
    client.chat.completions.create(
        model=MODEL, messages=messages, temperature=0.25, tools=[SEND_MESSAGE_TOOL]
    )

    assert len(llm.requests) == 1
    body = llm.last_request
    assert body is llm.requests[0]
    assert body["model"] == MODEL
    assert body["messages"] == messages
    assert body["temperature"] == 0.25
    assert body["tools"] == [SEND_MESSAGE_TOOL]


def test_reset_clears_everything(llm: ScriptedLLM, client: OpenAI) -> None:
    client.chat.completions.create(model=MODEL, messages=[user("a")])
    client.embeddings.create(model="embed-test", input="a")
    llm.reply("never sent")
    llm.fail(500)
    llm.delay(5)

    llm.reset()

    assert llm.requests == [] and llm.embedding_requests == []
    assert llm.pending_replies == 0
    started = time.monotonic()
    response = client.chat.completions.create(model=MODEL, messages=[user("b")])
    assert time.monotonic() - started < 2
    assert response.choices[0].message.content == "echo: b"
    with pytest.raises(IndexError):
        _ = ScriptedLLM().last_request


def test_delay(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.delay(0.3)
    started = time.monotonic()
    client.chat.completions.create(model=MODEL, messages=[user("slow")])
    assert time.monotonic() - started >= 0.3


def test_models_list(llm: ScriptedLLM, client: OpenAI) -> None:
    models = client.models.list()
    assert len(models.data) >= 1
    assert models.data[0].object == "model"


def test_unknown_path_is_404(llm: ScriptedLLM, client: OpenAI) -> None:
    status, body = raw_request(llm, "POST", "/v1/nope", b"{}")
    assert status == 404
    assert body["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model=MODEL, input="hi")


def test_malformed_json_is_400(llm: ScriptedLLM) -> None:
    status, body = raw_request(llm, "POST", "/v1/chat/completions", b"{not json")
    assert status == 400
    assert set(body["error"]) == {"message", "type", "code"}
    assert llm.requests == []


def test_chat_without_v1_prefix(llm: ScriptedLLM) -> None:
    payload = json.dumps({"model": MODEL, "messages": [user("bare")]}).encode()
    status, body = raw_request(llm, "POST", "/chat/completions", payload)
    assert status == 200
    assert body["choices"][0]["message"]["content"] == "echo: bare"
    assert "tool_calls" not in body["choices"][0]["message"]


def test_concurrent_requests(llm: ScriptedLLM, client: OpenAI) -> None:
    results: dict[int, str | None] = {}

    def worker(i: int) -> None:
        response = client.chat.completions.create(model=MODEL, messages=[user(f"n{i}")])
        results[i] = response.choices[0].message.content

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert results == {i: f"echo: n{i}" for i in range(12)}
    assert len(llm.requests) == 12


def test_stop_releases_server() -> None:
    server = ScriptedLLM()
    with server:
        url = server.base_url
        with OpenAI(base_url=url, api_key="test", max_retries=0) as c:
            c.chat.completions.create(model=MODEL, messages=[user("x")])
    with pytest.raises(RuntimeError):
        _ = server.base_url
    with OpenAI(base_url=url, api_key="test", max_retries=0, timeout=2) as c:
        with pytest.raises(openai.APIConnectionError):
            c.chat.completions.create(model=MODEL, messages=[user("x")])
    server.stop()  # idempotent


def test_async_client(llm: ScriptedLLM) -> None:
    llm.reply("async hello")

    async def run() -> tuple[str | None, str]:
        async with openai.AsyncOpenAI(base_url=llm.base_url, api_key="test", max_retries=0) as c:
            first = await c.chat.completions.create(model=MODEL, messages=[user("a")])
            stream = await c.chat.completions.create(
                model=MODEL, messages=[user("streamed")], stream=True
            )
            parts = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
            return first.choices[0].message.content, "".join(parts)

    assert asyncio.run(run()) == ("async hello", "echo: streamed")


# -- lanes: the primary agent and the sleep-time agent ----------------------------------

FINISH_EDITS_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "memory_finish_edits",
        "description": "Finish editing memory.",
        "parameters": {"type": "object", "properties": {}},
    },
}


def ask_sleeper(client: OpenAI, text: str = "reflect", **kwargs: Any) -> Any:
    """A chat request as the sleep-time agent sends it (offers memory_finish_edits)."""
    return client.chat.completions.create(
        model=MODEL, messages=[user(text)], tools=[FINISH_EDITS_TOOL], **kwargs
    )


def ask_primary(client: OpenAI, text: str = "hello", **kwargs: Any) -> Any:
    """A chat request as the primary agent sends it (offers send_message)."""
    return client.chat.completions.create(
        model=MODEL, messages=[user(text)], tools=[SEND_MESSAGE_TOOL], **kwargs
    )


def in_background(call: Any) -> tuple[threading.Thread, list[Any]]:
    """Run ``call()`` in a started daemon thread; its result or exception lands in the list."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_requests_offering_memory_finish_edits_are_routed_to_the_sleeper_lane(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    llm.reply("for the primary agent")
    llm.sleeper.tool_call("memory_replace", {"label": "human", "new": "Ada"})

    sleeper = ask_sleeper(client)
    primary = ask_primary(client)

    calls = sleeper.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "memory_replace"
    assert primary.choices[0].message.content == "for the primary agent"
    assert [r["tools"] for r in llm.sleeper.requests] == [[FINISH_EDITS_TOOL]]
    assert [r["tools"] for r in llm.main.requests] == [[SEND_MESSAGE_TOOL]]
    assert llm.sleeper.last_request is llm.requests[0]
    assert llm.main.last_request is llm.requests[1]


def test_tool_choice_none_keeps_a_memory_finish_edits_request_on_the_main_lane(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    llm.sleeper.reply("never sent")
    response = ask_sleeper(client, "no tools now", tool_choice="none")
    assert response.choices[0].message.content == "echo: no tools now"
    assert llm.sleeper.requests == [] and llm.sleeper.pending_replies == 1
    assert len(llm.main.requests) == 1


def test_the_sleeper_lane_answers_unscripted_requests_by_finishing_edits(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    response = ask_sleeper(client)

    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert call.function.name == "memory_finish_edits"
    assert json.loads(call.function.arguments) == {}
    # The main lane still echoes through send_message.
    primary = ask_primary(client, "ping").choices[0].message.tool_calls
    assert primary is not None and primary[0].function.name == "send_message"


def test_each_lane_consumes_its_own_fifo_of_replies(llm: ScriptedLLM, client: OpenAI) -> None:
    llm.reply("m1")
    llm.reply("m2")
    llm.sleeper.reply("s1")
    llm.sleeper.reply("s2")
    assert (llm.pending_replies, llm.sleeper.pending_replies) == (2, 2)

    answers = [
        ask_sleeper(client),
        ask_primary(client),
        ask_primary(client),
        ask_sleeper(client),
        ask_primary(client, "after"),
    ]

    contents = [a.choices[0].message.content for a in answers]
    assert contents == ["s1", "m1", "m2", "s2", None]
    assert (llm.pending_replies, llm.sleeper.pending_replies) == (0, 0)
    assert llm.main.pending_replies == llm.pending_replies


def test_failures_scripted_on_one_lane_do_not_touch_the_other(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    llm.sleeper.fail(503, "sleeper down")
    llm.fail(400, "primary rejected")

    with pytest.raises(openai.InternalServerError) as excinfo:
        ask_sleeper(client)
    assert excinfo.value.status_code == 503 and "sleeper down" in str(excinfo.value)
    assert ask_sleeper(client).choices[0].message.tool_calls is not None
    with pytest.raises(openai.BadRequestError):
        ask_primary(client)
    assert ask_primary(client).choices[0].message.tool_calls is not None


def test_a_delay_on_the_sleeper_lane_does_not_slow_the_main_lane(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    llm.sleeper.delay(0.4)

    started = time.monotonic()
    ask_primary(client)
    assert time.monotonic() - started < 0.3
    started = time.monotonic()
    ask_sleeper(client)
    assert time.monotonic() - started >= 0.4


def test_streaming_and_usage_work_the_same_on_the_sleeper_lane(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    arguments = {"label": "persona", "content": "a long enough value to be split in pieces"}
    llm.sleeper.tool_call("memory_insert", arguments, content="editing")
    llm.sleeper.reply("done", prompt_tokens=5, completion_tokens=2)

    with client.chat.completions.stream(
        model=MODEL, messages=[user("hi")], tools=[FINISH_EDITS_TOOL]
    ) as stream:
        for _event in stream:
            pass
        final = stream.get_final_completion()
    response = ask_sleeper(client)

    message = final.choices[0].message
    assert message.content == "editing"
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "memory_insert"
    assert json.loads(message.tool_calls[0].function.arguments) == arguments
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (5, 2)
    assert len(llm.sleeper.requests) == 2 and llm.main.requests == []


def test_server_requests_record_every_chat_request_of_both_lanes_in_order(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    ask_primary(client, "one")
    ask_sleeper(client, "two")
    ask_primary(client, "three")

    assert [r["messages"][0]["content"] for r in llm.requests] == ["one", "two", "three"]
    assert llm.last_request["messages"][0]["content"] == "three"
    assert [r["messages"][0]["content"] for r in llm.main.requests] == ["one", "three"]
    assert [r["messages"][0]["content"] for r in llm.sleeper.requests] == ["two"]


def test_reset_clears_both_lanes(llm: ScriptedLLM, client: OpenAI) -> None:
    ask_primary(client)
    ask_sleeper(client)
    for lane in (llm.main, llm.sleeper):
        lane.reply("never sent")
        lane.fail(500)
        lane.delay(5)
        lane.hold()

    llm.reset()

    assert llm.requests == [] and llm.main.requests == [] and llm.sleeper.requests == []
    assert (llm.pending_replies, llm.sleeper.pending_replies) == (0, 0)
    started = time.monotonic()
    primary = ask_primary(client, "b").choices[0].message.tool_calls
    sleeper = ask_sleeper(client).choices[0].message.tool_calls
    assert time.monotonic() - started < 2
    assert primary is not None and primary[0].function.name == "send_message"
    assert sleeper is not None and sleeper[0].function.name == "memory_finish_edits"
    assert (llm.waiting, llm.sleeper.waiting) == (0, 0)


def test_a_lane_answers_unscripted_requests_with_its_answer_function_until_reset(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    def answer(body: dict[str, Any]) -> list[ToolCall]:
        text = body["messages"][-1]["content"]
        return [make_tool_call("memory_insert", {"label": "human", "new_str": text})]

    llm.sleeper.answer_with(answer)
    llm.sleeper.reply("scripted first")

    assert ask_sleeper(client, "one").choices[0].message.content == "scripted first"
    [call] = ask_sleeper(client, "two").choices[0].message.tool_calls or []
    assert call.function.name == "memory_insert"
    assert json.loads(call.function.arguments) == {"label": "human", "new_str": "two"}
    llm.main.answer_with(lambda body: "plain words")
    assert ask_primary(client).choices[0].message.content == "plain words"

    llm.reset()

    [finish] = ask_sleeper(client).choices[0].message.tool_calls or []
    assert finish.function.name == "memory_finish_edits"


def test_served_records_each_answered_chat_request_with_its_lane_and_time(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    llm.sleeper.delay(0.2)

    ask_primary(client, "fast")
    ask_sleeper(client, "slow")

    primary, sleeper = llm.served
    assert (primary.lane, primary.body["messages"][0]["content"]) == ("main", "fast")
    assert (sleeper.lane, sleeper.body["messages"][0]["content"]) == ("sleeper", "slow")
    assert primary.seconds < 0.2 <= sleeper.seconds
    llm.reset()
    assert llm.served == []


def test_a_held_sleeper_request_stays_in_flight_until_released(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    llm.sleeper.hold()
    thread, outcome = in_background(lambda: ask_sleeper(client, "background"))

    llm.sleeper.wait_for_waiting(1)
    assert llm.sleeper.waiting == 1
    assert llm.sleeper.last_request["messages"] == [user("background")]
    # The main lane is not held while the sleeper request is in flight.
    assert ask_primary(client, "meanwhile").choices[0].message.tool_calls is not None
    assert thread.is_alive() and outcome == []
    # The answer is picked at release, so it can still be scripted now.
    llm.sleeper.reply("released answer")

    llm.sleeper.release()
    thread.join(timeout=5)

    assert not thread.is_alive()
    assert outcome[0].choices[0].message.content == "released answer"
    assert llm.sleeper.waiting == 0
    # After release the lane no longer holds new requests.
    assert ask_sleeper(client).choices[0].message.tool_calls is not None


def test_holding_the_main_lane_counts_every_blocked_request(
    llm: ScriptedLLM, client: OpenAI
) -> None:
    llm.hold()
    started = [in_background(lambda i=i: ask_primary(client, f"n{i}")) for i in range(3)]

    llm.main.wait_for_waiting(3)
    assert llm.waiting == 3 and llm.main.waiting == 3
    assert ask_sleeper(client).choices[0].message.tool_calls is not None
    llm.release()
    for thread, _ in started:
        thread.join(timeout=5)

    assert all(not thread.is_alive() for thread, _ in started)
    assert all(outcome[0].choices[0].finish_reason == "tool_calls" for _, outcome in started)
    assert llm.waiting == 0
    assert len(llm.requests) == 4


def test_wait_for_waiting_times_out_when_nothing_is_held(llm: ScriptedLLM) -> None:
    llm.sleeper.hold()
    with pytest.raises(TimeoutError):
        llm.sleeper.wait_for_waiting(1, timeout=0.1)


def test_stop_releases_held_requests_without_deadlocking() -> None:
    server = ScriptedLLM()
    server.start()
    server.sleeper.hold()
    with OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=5) as c:
        thread, outcome = in_background(lambda: ask_sleeper(c))
        server.sleeper.wait_for_waiting(1)

        started = time.monotonic()
        server.stop()
        thread.join(timeout=5)

    assert time.monotonic() - started < 2
    assert not thread.is_alive()
    assert len(outcome) == 1
    # The released handler counts itself out once it has the lock again, which may be
    # just after the client saw the connection close (a loaded machine showed it).
    deadline = time.monotonic() + 2
    while server.sleeper.waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.sleeper.waiting == 0
