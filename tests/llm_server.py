"""A scripted stand-in for a paid LLM provider, speaking the OpenAI HTTP protocol.

``ScriptedLLM`` runs a real HTTP server on loopback. Product code talks to it with
the official ``openai`` client (``OpenAI(base_url=llm.base_url, api_key="test")``)
and cannot tell it from a real provider. Tests queue replies, tool calls and
failures, then inspect the request bodies the server recorded.

Stdlib only; safe to import without Django.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = [
    "DEFAULT_EMBEDDING_DIMENSIONS",
    "SLEEPER_TOOL",
    "Lane",
    "ScriptedLLM",
    "Served",
    "ToolCall",
    "hashed_embedding",
    "make_tool_call",
]

DEFAULT_MODEL = "scripted-llm"
DEFAULT_EMBEDDING_DIMENSIONS = 1536
# Failure responses carry this hint so the openai client's retries do not sleep
# for its default back-off (0.5 s and up) in tests.
RETRY_AFTER_MS = "10"
# Size of the content / argument pieces sent per streamed chunk.
STREAM_PIECE = 8
# Chat requests offering this tool come from the sleep-time agent and use the sleeper lane.
SLEEPER_TOOL = "memory_finish_edits"

_WORD = re.compile(r"\w+")


def _new_id(prefix: str) -> str:
    """Return a fresh OpenAI-looking identifier such as ``call_3f2a...``."""
    return prefix + uuid.uuid4().hex[:24]


@dataclass(frozen=True)
class ToolCall:
    """One function call the scripted assistant makes; ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str


def make_tool_call(name: str, arguments: dict[str, Any] | str | None = None) -> ToolCall:
    """Build a ToolCall; a dict is JSON-encoded, a str is kept verbatim, None means ``{}``."""
    if arguments is None:
        text = "{}"
    elif isinstance(arguments, str):
        text = arguments
    else:
        text = json.dumps(arguments)
    return ToolCall(id=_new_id("call_"), name=name, arguments=text)


@dataclass(frozen=True)
class _Reply:
    """A queued answer to one chat completion request."""

    content: str | None
    tool_calls: tuple[ToolCall, ...]
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # What a reasoning model thought apart (``reasoning_content``, streamed before the rest).
    reasoning: str | None = None
    # None: "tool_calls" or "stop" as the reply has calls or not; "length" for a reply
    # cut off at the output token limit.
    finish_reason: str | None = None

    @property
    def finished(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


@dataclass(frozen=True)
class _Interruption:
    """What happens to the next streamed answer after ``after`` chunks past its first."""

    after: int
    kind: Literal["pause", "drop", "error"]
    message: str = ""


@dataclass(frozen=True)
class _Failure:
    """A queued error answer to one chat completion request."""

    status: int
    message: str


@dataclass(frozen=True)
class Served:
    """One answered chat request: its lane, its body, and how long the server held it
    (from its headers read to the last byte of the answer written, the lane's delay
    included). Benchmarks subtract it from a turn to get Reverie's own time."""

    lane: str
    body: dict[str, Any]
    seconds: float


class _BadRequest(Exception):
    """Raised while handling a request that deserves a 400 answer."""


def hashed_embedding(text: str, dimensions: int = DEFAULT_EMBEDDING_DIMENSIONS) -> list[float]:
    """Deterministic L2-normalised hashed bag-of-words vector for ``text``.

    Each lowercase word token lands in a bucket with a sign, both taken from its
    blake2b digest, so texts sharing words have a higher cosine similarity.
    """
    vector = [0.0] * dimensions
    tokens = _WORD.findall(text.lower()) or [""]
    for token in tokens:
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=16).digest()
        bucket = int.from_bytes(digest[:8], "big") % dimensions
        sign = 1.0 if digest[8] & 1 else -1.0
        vector[bucket] += sign
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0.0:  # every token cancelled out; still return a unit vector
        vector[0] = 1.0
        return vector
    return [value / norm for value in vector]


def _content_text(content: Any) -> str:
    """Text of a message ``content`` that is a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return "\n".join(text for text in texts if isinstance(text, str))
    return ""


def _last_user_text(messages: list[Any]) -> str:
    """Text of the last user-role message, or an empty string."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _has_tool(body: dict[str, Any], name: str) -> bool:
    """Whether the request offers a function tool called ``name`` and allows tool use."""
    if body.get("tool_choice") == "none":
        return False
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            if tool["function"].get("name") == name:
                return True
    return False


def _estimate_prompt_tokens(messages: list[Any]) -> int:
    """Deterministic prompt size: characters of all message contents // 4, at least 1."""
    chars = sum(len(_content_text(m.get("content"))) for m in messages if isinstance(m, dict))
    return max(1, chars // 4)


def _estimate_completion_tokens(reply: _Reply) -> int:
    """Deterministic completion size: characters of content and arguments // 4, at least 1."""
    chars = len(reply.content or "") + sum(len(call.arguments) for call in reply.tool_calls)
    return max(1, chars // 4)


def _pieces(text: str) -> list[str]:
    """Split ``text`` into the fragments sent as streamed deltas."""
    return [text[i : i + STREAM_PIECE] for i in range(0, len(text), STREAM_PIECE)]


def _error_body(message: str, status: int) -> dict[str, Any]:
    """OpenAI-style error payload."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "code": None}}


class Lane:
    """One independently scripted stream of chat requests: its own replies, failures and delay.

    Lanes are created by ScriptedLLM, which routes every chat request to exactly one lane.
    All lanes of a server share its lock, so ``ScriptedLLM.requests`` stays in arrival order.
    """

    def __init__(
        self, name: str, condition: threading.Condition, default: Callable[[dict[str, Any]], _Reply]
    ) -> None:
        """Create an empty lane guarded by ``condition``; ``default`` answers unscripted ones."""
        self.name = name
        self._cond = condition
        self._default = default
        self._answer: Callable[[dict[str, Any]], str | list[ToolCall]] | None = None
        self._replies: deque[_Reply] = deque()
        self._failures: deque[_Failure] = deque()
        self._delay = 0.0
        self._interruptions: deque[_Interruption] = deque()
        self._held = False
        self._releases = 0  # bumped by release(); a waiter leaves once it changes
        self._waiting = 0
        self.requests: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        """Name and queue sizes, for assertion messages."""
        return (
            f"<Lane {self.name}: {len(self._replies)} replies, {len(self._failures)} failures, "
            f"{len(self.requests)} requests, {self._waiting} waiting>"
        )

    # -- scripting ---------------------------------------------------------

    def reply(
        self,
        content: str | None = None,
        *,
        tool_calls: list[ToolCall] | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        reasoning: str | None = None,
        finish_reason: str | None = None,
    ) -> None:
        """Queue the answer to the next chat completion request of this lane (FIFO);
        ``reasoning`` is sent as ``reasoning_content``, as reasoning models behind
        OpenAI-compatible gateways send their thinking; ``finish_reason`` "length" says
        the reply was cut off at the output limit."""
        item = _Reply(
            content,
            tuple(tool_calls or ()),
            prompt_tokens,
            completion_tokens,
            reasoning,
            finish_reason,
        )
        with self._cond:
            self._replies.append(item)

    def tool_call(
        self,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        content: str | None = None,
    ) -> None:
        """Queue one reply making a single tool call; a str ``arguments`` is sent verbatim."""
        self.reply(content, tool_calls=[make_tool_call(name, arguments)])

    def fail(self, status: int = 500, message: str = "scripted failure", times: int = 1) -> None:
        """Make the next ``times`` requests of this lane answer with HTTP ``status``."""
        if not 400 <= status <= 599:
            raise ValueError(f"failure status must be 4xx or 5xx, got {status}")
        with self._cond:
            self._failures.extend(_Failure(status, message) for _ in range(times))

    def pause_stream(self, after: int) -> None:
        """Make the next streamed answer of this lane stop after ``after`` chunks past its
        first (for a text reply, ``after`` pieces of STREAM_PIECE characters), its request
        counted as waiting, until release(); then it goes on."""
        with self._cond:
            self._interruptions.append(_Interruption(after, "pause"))

    def break_stream(self, after: int, error: str | None = None) -> None:
        """Make the next streamed answer of this lane break off after ``after`` chunks past
        its first: with ``error``, an error event as OpenAI sends one mid-stream, then the
        end of the stream; without, the connection drops."""
        with self._cond:
            self._interruptions.append(
                _Interruption(after, "error" if error is not None else "drop", error or "")
            )

    def delay(self, seconds: float) -> None:
        """Add ``seconds`` of latency to every subsequent response of this lane (0 turns it off)."""
        if seconds < 0:
            raise ValueError("delay must be >= 0")
        with self._cond:
            self._delay = float(seconds)

    def answer_with(self, answer: Callable[[dict[str, Any]], str | list[ToolCall]] | None) -> None:
        """Answer the requests no scripted reply or failure is queued for with
        ``answer(body)``: a text, or the tool calls to make. None (and reset()) restores
        the lane's default. Called on a server thread, with the server's lock held."""
        with self._cond:
            self._answer = answer

    def hold(self) -> None:
        """Make requests arriving on this lane block, recorded but unanswered, until release()."""
        with self._cond:
            self._held = True

    def release(self) -> None:
        """Let every blocked request of this lane proceed and stop holding new ones."""
        with self._cond:
            self._held = False
            self._releases += 1
            self._cond.notify_all()

    def wait_for_waiting(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until at least ``count`` requests are held on this lane; TimeoutError if not."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._waiting >= count, timeout):
                raise TimeoutError(f"{self!r}: expected {count} held request(s)")

    def reset(self) -> None:
        """Clear replies, failures, the delay and recorded requests, and release any hold."""
        with self._cond:
            self._replies.clear()
            self._failures.clear()
            self._interruptions.clear()
            self._delay = 0.0
            self._answer = None
            self.requests.clear()
        self.release()

    @property
    def waiting(self) -> int:
        """Number of requests currently blocked by hold()."""
        with self._cond:
            return self._waiting

    @property
    def last_request(self) -> dict[str, Any]:
        """Body of the most recent chat completion request routed to this lane."""
        with self._cond:
            if not self.requests:
                raise IndexError(f"lane {self.name!r} has not received any chat requests")
            return self.requests[-1]

    @property
    def pending_replies(self) -> int:
        """Number of scripted replies of this lane not yet consumed."""
        with self._cond:
            return len(self._replies)

    # -- request handling (server threads, with the shared lock held) ------

    def _interruption_locked(self, body: dict[str, Any]) -> _Interruption | None:
        """The interruption scripted for a streamed answer to ``body``. Caller holds the lock."""
        if body.get("stream") and self._interruptions:
            return self._interruptions.popleft()
        return None

    def _pause(self) -> None:
        """Block a stream mid-way, counted as waiting, until release()."""
        with self._cond:
            releases = self._releases
            self._waiting += 1
            self._cond.notify_all()  # wake wait_for_waiting()
            try:
                self._cond.wait_for(lambda: self._releases != releases)
            finally:
                self._waiting -= 1

    def _next_action_locked(self, body: dict[str, Any]) -> tuple[float, _Reply | _Failure]:
        """Record ``body``, wait out any hold, then pick its answer. Caller holds the lock."""
        self.requests.append(body)
        if not isinstance(body.get("messages"), list):
            raise _BadRequest("'messages' is a required property and must be a list")
        if self._held:
            releases = self._releases
            self._waiting += 1
            self._cond.notify_all()  # wake wait_for_waiting()
            try:
                self._cond.wait_for(lambda: self._releases != releases)
            finally:
                self._waiting -= 1
        if self._failures:
            return self._delay, self._failures.popleft()
        if self._replies:
            return self._delay, self._replies.popleft()
        if self._answer is not None:
            answer = self._answer(body)
            if isinstance(answer, str):
                return self._delay, _Reply(answer, ())
            return self._delay, _Reply(None, tuple(answer))
        return self._delay, self._default(body)


def _sleeper_default_reply(body: dict[str, Any]) -> _Reply:
    """The sleep-time agent's default: finish editing memory straight away."""
    return _Reply(None, (make_tool_call(SLEEPER_TOOL, {}),))


class ScriptedLLM:
    """Loopback HTTP server speaking the OpenAI chat/embeddings protocol, scripted by tests.

    Chat requests offering the ``memory_finish_edits`` tool go to the ``sleeper`` lane; all
    others go to the main lane, which the scripting methods on the server itself act on.
    """

    def __init__(self) -> None:
        """Create a stopped server with an empty script."""
        self._lock = threading.Condition()
        self._main = Lane("main", self._lock, self._main_default_reply)
        self._sleeper = Lane("sleeper", self._lock, _sleeper_default_reply)
        self.requests: list[dict[str, Any]] = []
        self.embedding_requests: list[dict[str, Any]] = []
        self.served: list[Served] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("ScriptedLLM is already running")
        server = _Server(self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-llm",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Release held requests, stop serving, drop connections, free the port (idempotent)."""
        for lane in (self._main, self._sleeper):
            lane.release()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> ScriptedLLM:
        """Start the server for a ``with`` block."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server at the end of a ``with`` block."""
        self.stop()

    @property
    def base_url(self) -> str:
        """Base URL to hand to ``OpenAI(base_url=...)``."""
        if self._server is None:
            raise RuntimeError("ScriptedLLM is not running; call start() first")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/v1"

    # -- lanes -------------------------------------------------------------

    @property
    def main(self) -> Lane:
        """Lane of every chat request not routed to ``sleeper`` (the primary agent's)."""
        return self._main

    @property
    def sleeper(self) -> Lane:
        """Lane of chat requests offering the ``memory_finish_edits`` tool (sleep-time agent)."""
        return self._sleeper

    # -- scripting (main lane) ---------------------------------------------

    def reply(
        self,
        content: str | None = None,
        *,
        tool_calls: list[ToolCall] | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        reasoning: str | None = None,
        finish_reason: str | None = None,
    ) -> None:
        """Queue the answer to the next main-lane chat completion request (FIFO)."""
        self._main.reply(
            content,
            tool_calls=tool_calls,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            reasoning=reasoning,
            finish_reason=finish_reason,
        )

    def tool_call(
        self,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        content: str | None = None,
    ) -> None:
        """Queue one main-lane reply making a single tool call; a str is sent verbatim."""
        self._main.tool_call(name, arguments, content=content)

    def fail(self, status: int = 500, message: str = "scripted failure", times: int = 1) -> None:
        """Make the next ``times`` main-lane requests answer with HTTP ``status``."""
        self._main.fail(status, message, times)

    def pause_stream(self, after: int) -> None:
        """Pause the next streamed main-lane answer mid-way; see Lane.pause_stream()."""
        self._main.pause_stream(after)

    def break_stream(self, after: int, error: str | None = None) -> None:
        """Break off the next streamed main-lane answer; see Lane.break_stream()."""
        self._main.break_stream(after, error)

    def delay(self, seconds: float) -> None:
        """Add ``seconds`` of latency to every subsequent main-lane response (0 turns it off)."""
        self._main.delay(seconds)

    def hold(self) -> None:
        """Block main-lane requests until release(); see Lane.hold()."""
        self._main.hold()

    def release(self) -> None:
        """Let blocked main-lane requests proceed; see Lane.release()."""
        self._main.release()

    @property
    def waiting(self) -> int:
        """Number of main-lane requests currently blocked by hold()."""
        return self._main.waiting

    def reset(self) -> None:
        """Clear both lanes (replies, failures, delays, holds) and all recorded requests."""
        self._main.reset()
        self._sleeper.reset()
        with self._lock:
            self.requests.clear()
            self.embedding_requests.clear()
            self.served.clear()

    @property
    def last_request(self) -> dict[str, Any]:
        """Body of the most recent chat completion request, whichever lane it went to."""
        with self._lock:
            if not self.requests:
                raise IndexError("ScriptedLLM has not received any chat requests")
            return self.requests[-1]

    @property
    def pending_replies(self) -> int:
        """Number of scripted main-lane replies not yet consumed."""
        return self._main.pending_replies

    # -- request handling (called from server threads) ---------------------

    def _lane_for(self, body: dict[str, Any]) -> Lane:
        return self._sleeper if _has_tool(body, SLEEPER_TOOL) else self._main

    def _next_chat_action(
        self, body: dict[str, Any]
    ) -> tuple[float, _Reply | _Failure, _Interruption | None, Lane]:
        """Record a chat request, route it to its lane and decide how to answer it."""
        lane = self._lane_for(body)
        with self._lock:
            self.requests.append(body)
            delay, action = lane._next_action_locked(body)
            interruption = None if isinstance(action, _Failure) else lane._interruption_locked(body)
            return delay, action, interruption, lane

    def _record_served(self, body: dict[str, Any], seconds: float) -> None:
        with self._lock:
            self.served.append(Served(self._lane_for(body).name, body, seconds))

    def _main_default_reply(self, body: dict[str, Any]) -> _Reply:
        """Main-lane default; looks ``_default_reply`` up per call so tests can patch it."""
        return self._default_reply(body)

    @staticmethod
    def _default_reply(body: dict[str, Any]) -> _Reply:
        """Deterministic echo of the last user message, via send_message when offered."""
        text = "echo: " + _last_user_text(body.get("messages") or [])
        if _has_tool(body, "send_message"):
            return _Reply(None, (make_tool_call("send_message", {"message": text}),))
        return _Reply(text, ())

    @staticmethod
    def _usage(body: dict[str, Any], reply: _Reply) -> dict[str, int]:
        """Usage block for a chat answer."""
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = _estimate_prompt_tokens(body.get("messages") or [])
        completion = reply.completion_tokens
        if completion is None:
            completion = _estimate_completion_tokens(reply)
        total = prompt + completion
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}

    def _completion(self, body: dict[str, Any], reply: _Reply) -> dict[str, Any]:
        """A full ``chat.completion`` object."""
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.reasoning is not None:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in reply.tool_calls
            ]
        return {
            "id": _new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or DEFAULT_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": reply.finished,
                }
            ],
            "usage": self._usage(body, reply),
        }

    def _chunks(self, body: dict[str, Any], reply: _Reply) -> list[dict[str, Any]]:
        """The ``chat.completion.chunk`` objects of a streamed answer, in order."""
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        base: dict[str, Any] = {
            "id": _new_id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model") or DEFAULT_MODEL,
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            data = dict(base, choices=[choice])
            if include_usage:
                data["usage"] = None
            return data

        first_content = "" if reply.content is not None else None
        chunks = [chunk({"role": "assistant", "content": first_content})]
        chunks += [chunk({"reasoning_content": piece}) for piece in _pieces(reply.reasoning or "")]
        chunks += [chunk({"content": piece}) for piece in _pieces(reply.content or "")]
        for index, call in enumerate(reply.tool_calls):
            opening = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            chunks.append(chunk({"tool_calls": [opening]}))
            chunks += [
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in _pieces(call.arguments)
            ]
        chunks.append(chunk({}, reply.finished))
        if include_usage:
            chunks.append(dict(base, choices=[], usage=self._usage(body, reply)))
        return chunks

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        """Record an embeddings request and build its answer."""
        with self._lock:
            self.embedding_requests.append(body)
        texts = _embedding_inputs(body.get("input"))
        dimensions = body.get("dimensions")
        if dimensions is None:
            dimensions = DEFAULT_EMBEDDING_DIMENSIONS
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
            raise _BadRequest("'dimensions' must be a positive integer")
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector: Any = hashed_embedding(text, dimensions)
            if as_base64:
                vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(max(1, len(text) // 4) for text in texts)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model") or DEFAULT_MODEL,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _embedding_inputs(raw: Any) -> list[str]:
    """Normalise an embeddings ``input`` (str, list of str, token list(s)) to a list of texts."""

    def is_tokens(value: Any) -> bool:
        return isinstance(value, list) and bool(value) and all(isinstance(t, int) for t in value)

    if isinstance(raw, str):
        return [raw]
    if is_tokens(raw):
        return [" ".join(str(t) for t in raw)]
    if isinstance(raw, list) and raw:
        texts = []
        for item in raw:
            if isinstance(item, str):
                texts.append(item)
            elif is_tokens(item):
                texts.append(" ".join(str(t) for t in item))
            else:
                raise _BadRequest("'input' items must be strings or lists of token ids")
        return texts
    raise _BadRequest("'input' must be a non-empty string or list")


class _Server(ThreadingHTTPServer):
    """Threaded loopback HTTP server that remembers its open connections."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, llm: ScriptedLLM) -> None:
        """Bind a free loopback port for ``llm``."""
        self.llm = llm
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, then hand it to a worker thread."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection once its worker is done with it."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients hanging up; report anything else as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Cut every open (keep-alive) connection so nothing is served after stop()."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """Routes OpenAI-style requests to the owning ScriptedLLM."""

    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (40 ms on Linux), which a real provider does not add.
    disable_nagle_algorithm = True
    server_version = "ScriptedLLM/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: no per-request logging."""

    # -- plumbing ----------------------------------------------------------

    def _route(self) -> str:
        """Request path without query string, trailing slash or ``/v1`` prefix."""
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1" or path.startswith("/v1/"):
            path = path[3:]
        return path or "/"

    def _read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        """Write a complete JSON response."""
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", _new_id("req_"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        """Write an OpenAI-style error response."""
        self._send_json(status, _error_body(message, status), headers)

    def _send_stream(
        self,
        chunks: list[dict[str, Any]],
        interruption: _Interruption | None = None,
        lane: Lane | None = None,
    ) -> None:
        """Write ``chunks`` as server-sent events over chunked transfer encoding, paused or
        broken off as ``interruption`` says."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", _new_id("req_"))
        self.end_headers()
        events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
        cut = len(events) if interruption is None else 1 + interruption.after
        try:
            for index, event in enumerate(events):
                if index == cut and interruption is not None:
                    if interruption.kind == "drop":
                        self._drop_connection()
                        return
                    if interruption.kind == "error":
                        error = _error_body(interruption.message, 500)
                        self._write_chunk(f"data: {json.dumps(error)}\n\n")
                        break
                    if lane is not None:
                        lane._pause()
                self._write_chunk(event)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write_chunk(self, event: str) -> None:
        data = event.encode("utf-8")
        self.wfile.write(f"{len(data):X}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()

    def _drop_connection(self) -> None:
        """Hang up in the middle of a response, as a provider whose connection fails."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _json_body(self) -> dict[str, Any] | None:
        """Parse the body as a JSON object, answering 400 (and returning None) if it is not one."""
        raw = self._read_body()
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._send_error(400, "We could not parse the JSON body of your request.")
            return None
        if not isinstance(body, dict):
            self._send_error(400, "The request body must be a JSON object.")
            return None
        return body

    # -- verbs -------------------------------------------------------------

    def do_GET(self) -> None:
        """Model listing; anything else is 404."""
        route = self._route()
        model = {"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "reverie-tests"}
        if route == "/models":
            self._send_json(200, {"object": "list", "data": [model]})
        elif route.startswith("/models/"):
            self._send_json(200, dict(model, id=route[len("/models/") :]))
        else:
            self._not_found()

    def do_POST(self) -> None:
        """Chat completions and embeddings; anything else is 404."""
        started = time.perf_counter()
        route = self._route()
        if route not in ("/chat/completions", "/embeddings"):
            self._read_body()
            self._not_found()
            return
        body = self._json_body()
        if body is None:
            return
        llm = self.server.llm
        try:
            if route == "/embeddings":
                self._send_json(200, llm._embeddings(body))
                return
            delay, action, interruption, lane = llm._next_chat_action(body)
        except _BadRequest as exc:
            self._send_error(400, str(exc))
            return
        if delay:
            time.sleep(delay)
        if isinstance(action, _Failure):
            self._send_error(action.status, action.message, {"retry-after-ms": RETRY_AFTER_MS})
        elif body.get("stream"):
            self._send_stream(llm._chunks(body, action), interruption, lane)
        else:
            self._send_json(200, llm._completion(body, action))
        llm._record_served(body, time.perf_counter() - started)

    def _not_found(self) -> None:
        """404 for unknown routes."""
        self._send_error(404, f"Invalid URL ({self.command} {self.path})")

    def _other_verb(self) -> None:
        """Unsupported methods: drain the body and 404."""
        self._read_body()
        self._not_found()

    do_PUT = do_DELETE = do_PATCH = _other_verb
