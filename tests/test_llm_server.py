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

from tests.llm_server import ScriptedLLM, hashed_embedding, make_tool_call

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
