from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from config import env
from config.text import without_lone_surrogates
from llm.local_embedder import embed_text

logger = logging.getLogger("reverie.llm")

# The OpenAI protocol's tool_choice: "auto" (the model decides), "required" (some tool),
# or {"type": "function", "function": {"name": ...}} (that one).
ToolChoice = str | dict[str, Any]


class LLMError(Exception):
    """A model call failed after the retries that make sense; the message says why."""


class ProviderNotConfigured(LLMError):
    """The handle's provider has no endpoint or key; the message names what to set."""


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text as the model produced it; may be malformed


@dataclass
class ChatResult:
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None


@dataclass(frozen=True)
class Delta:
    """A piece of a reply as the model writes it: reasoning, answer text, or a fragment of
    the arguments of tool call `index` (whose name, so far, is `name`)."""

    kind: Literal["reasoning", "content", "tool_call"]
    text: str
    index: int = 0
    name: str = ""


def split_handle(handle: str) -> tuple[str, str]:
    provider, _, model = handle.partition("/")
    if not provider or not model:
        raise ValueError(f"Model handle {handle!r} must look like 'provider/model-name'.")
    return provider, model


def ensure_configured(handle: str) -> None:
    """Raise ProviderNotConfigured, naming the variables to set, unless `handle` can run."""
    provider, _ = split_handle(handle)
    if provider == "local":
        return
    if env.provider_settings(provider) is None:
        raise ProviderNotConfigured(
            f"The model provider '{provider}' is not configured: "
            f"{env.missing_provider_hint(provider)} and restart Reverie."
        )


@lru_cache(maxsize=32)
def _client(base_url: str, api_key: str, timeout: int, retries: int) -> openai.OpenAI:
    # One client per endpoint, reused: it holds a connection pool.
    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=retries)


def _client_for(handle: str) -> tuple[openai.OpenAI, str]:
    ensure_configured(handle)
    provider, model = split_handle(handle)
    settings = env.provider_settings(provider)
    assert settings is not None
    client = _client(
        settings.base_url, settings.api_key, env.LLM_TIMEOUT_SECONDS, env.LLM_MAX_RETRIES
    )
    return client, model


def _describe(error: openai.OpenAIError) -> str:
    if isinstance(error, openai.APITimeoutError):
        return "the model provider did not answer in time"
    if isinstance(error, openai.APIConnectionError):
        return "could not reach the model provider"
    if isinstance(error, openai.APIStatusError):
        detail = ""
        body = error.body
        if isinstance(body, dict):
            inner = body.get("error", body)
            detail = inner.get("message", "") if isinstance(inner, dict) else str(inner)
        return f"the model provider answered HTTP {error.status_code}: {detail or error.message}"
    return str(error)


def _request(
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    temperature: float | None,
    max_tokens: int | None,
    tool_choice: ToolChoice,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": model, "messages": messages}
    if tools:
        kwargs["tools"] = tools
        kwargs["tool_choice"] = tool_choice
    if temperature is not None:
        kwargs["temperature"] = temperature
    if max_tokens:
        kwargs["max_tokens"] = max_tokens
    return kwargs


def chat(
    handle: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    tool_choice: ToolChoice = "auto",
) -> ChatResult:
    """One chat completion. The openai client retries timeouts, 429 and 5xx itself.
    `tool_choice` is the OpenAI protocol's ("auto", "required", or one function)."""
    client, model = _client_for(handle)
    kwargs = _request(model, messages, tools, temperature, max_tokens, tool_choice)
    try:
        # The request is already plain JSON. `chat.completions.create` would first walk it
        # against the SDK's TypedDicts, which cost ~1 ms per message of history and was
        # most of a turn's time (bench/README.md); the low-level post skips that walk and
        # keeps the client's retries, timeouts and error types.
        response = client.post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
    except openai.OpenAIError as error:
        raise LLMError(_describe(error)) from error
    if not response.choices:
        raise LLMError("the model provider returned no choices")
    choice = response.choices[0]
    message = choice.message
    # A reply may spell a lone surrogate ("\ud800" in the provider's JSON), which cannot
    # be stored; the rest of the reply is kept, with U+FFFD in its place (config/text.py).
    calls = [
        ToolCall(
            id=call.id,
            name=function.name,
            arguments=without_lone_surrogates(function.arguments or ""),
        )
        for call in (message.tool_calls or [])
        if (function := getattr(call, "function", None)) is not None
    ]
    # Reasoning models behind OpenAI-compatible gateways put their thinking here.
    reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
    usage = response.usage
    return ChatResult(
        content=without_lone_surrogates(message.content) if message.content else message.content,
        tool_calls=calls,
        reasoning=without_lone_surrogates(reasoning) if isinstance(reasoning, str) else None,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        finish_reason=choice.finish_reason,
    )


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


def chat_stream(
    handle: str,
    messages: list[dict[str, Any]],
    *,
    on_delta: Callable[[Delta], None],
    tools: list[dict[str, Any]] | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    tool_choice: ToolChoice = "auto",
) -> ChatResult:
    """`chat`, with the reply streamed: `on_delta` gets each piece as it arrives, and the
    result is the whole reply, as `chat` returns it (usage from the provider's last chunk).

    A stream that breaks off (the connection drops, the provider sends an error, or it
    ends without saying the reply is finished) raises LLMError: the pieces already passed
    to `on_delta` are not a reply. The openai client retries the request, never a stream
    that has begun.
    """
    client, model = _client_for(handle)
    kwargs = _request(model, messages, tools, temperature, max_tokens, tool_choice)
    kwargs["stream"] = True
    kwargs["stream_options"] = {"include_usage": True}
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, _PartialCall] = {}
    prompt_tokens = completion_tokens = 0
    finish_reason: str | None = None
    try:
        stream = _open_stream(client, kwargs)
    except (openai.BadRequestError, openai.UnprocessableEntityError) as error:
        # A gateway that does not know `stream_options` (usage is then whatever the
        # provider reports, or 0) still streams.
        if "stream_options" not in _describe(error):
            raise LLMError(_describe(error)) from error
        del kwargs["stream_options"]
        try:
            stream = _open_stream(client, kwargs)
        except openai.OpenAIError as again:
            raise LLMError(_describe(again)) from again
    except openai.OpenAIError as error:
        raise LLMError(_describe(error)) from error
    chunks = iter(stream)
    with stream:
        while True:
            # Only the provider's part is translated into LLMError; an error of `on_delta`
            # (the caller's) goes up as it is.
            try:
                chunk = next(chunks, None)
            except openai.OpenAIError as error:
                raise LLMError(f"the reply broke off: {_describe(error)}") from error
            except ValueError as error:  # a chunk that is not JSON
                raise LLMError(f"the reply broke off: the provider sent {error}") from error
            if chunk is None:
                break
            if chunk.usage is not None:
                prompt_tokens = chunk.usage.prompt_tokens
                completion_tokens = chunk.usage.completion_tokens
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            finish_reason = choice.finish_reason or finish_reason
            for delta in _deltas(choice.delta, calls):
                if delta.kind == "content":
                    content.append(delta.text)
                elif delta.kind == "reasoning":
                    reasoning.append(delta.text)
                on_delta(delta)
    if finish_reason is None:
        raise LLMError("the reply broke off: the provider ended the stream before finishing it")
    return ChatResult(
        content="".join(content) if content else None,
        tool_calls=[
            ToolCall(id=call.id, name=call.name, arguments="".join(call.arguments))
            for _, call in sorted(calls.items())
        ],
        reasoning="".join(reasoning) if reasoning else None,
        prompt_tokens=prompt_tokens or 0,
        completion_tokens=completion_tokens or 0,
        finish_reason=finish_reason,
    )


def _open_stream(client: openai.OpenAI, body: dict[str, Any]) -> openai.Stream[ChatCompletionChunk]:
    return client.post(
        "/chat/completions",
        body=body,
        cast_to=ChatCompletionChunk,
        stream=True,
        stream_cls=openai.Stream[ChatCompletionChunk],
    )


def _deltas(delta: Any, calls: dict[int, _PartialCall]) -> list[Delta]:
    """The pieces of one streamed chunk, each call's fragments gathered into `calls`.
    Lone surrogates become U+FFFD piece by piece, as `chat` does for the whole."""
    out: list[Delta] = []
    if delta is None:
        return out
    thought = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
    if isinstance(thought, str) and thought:
        out.append(Delta("reasoning", without_lone_surrogates(thought)))
    if delta.content:
        out.append(Delta("content", without_lone_surrogates(delta.content)))
    for fragment in delta.tool_calls or []:
        index = fragment.index if fragment.index is not None else 0
        call = calls.setdefault(index, _PartialCall())
        call.id = call.id or fragment.id or ""
        function = fragment.function
        if function is None:
            continue
        call.name += function.name or ""
        if function.arguments:
            piece = without_lone_surrogates(function.arguments)
            call.arguments.append(piece)
            out.append(Delta("tool_call", piece, index=index, name=call.name))
    return out


# Inputs per embeddings request: one request for many chunks, never one per chunk.
EMBED_BATCH = 128


def embed(handle: str, texts: list[str], dim: int) -> list[list[float]]:
    """Embed `texts` with the model behind `handle`, zero-padded to `dim` dimensions."""
    provider, model = split_handle(handle)
    if provider == "local":
        return [embed_text(text, dim) for text in texts]
    client, model = _client_for(handle)
    vectors: list[list[float]] = []
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start : start + EMBED_BATCH]
        kwargs: dict[str, Any] = {"model": model, "input": batch}
        if model.startswith("text-embedding-3"):
            kwargs["dimensions"] = dim
        try:
            response = client.embeddings.create(**kwargs)
        except openai.OpenAIError as error:
            raise LLMError(_describe(error)) from error
        for item in sorted(response.data, key=lambda item: item.index):
            vector = list(item.embedding)
            if len(vector) > dim:
                raise LLMError(
                    f"the embedding model {handle} returns {len(vector)} dimensions; "
                    f"Reverie stores at most {dim}"
                )
            vectors.append(vector + [0.0] * (dim - len(vector)))
    if len(vectors) != len(texts):
        raise LLMError("the embedding provider returned a different number of vectors")
    return vectors


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return without_lone_surrogates(value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _clean_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {without_lone_surrogates(key): _clean(value) for key, value in pairs}


def parse_arguments(raw: str) -> dict[str, Any]:
    """Tool-call arguments as a dict; raises ValueError with a message for the model."""
    if not raw or not raw.strip():
        return {}
    try:
        # An escaped lone surrogate ("\\ud800") decodes into one; the same as above.
        parsed = json.loads(raw, object_pairs_hook=_clean_pairs)
    except json.JSONDecodeError as error:
        raise ValueError(f"the arguments are not valid JSON ({error.msg})") from None
    if not isinstance(parsed, dict):
        raise ValueError("the arguments must be a JSON object")
    return parsed
