"""Tokens per turn: what the primary agent sends the model as a conversation grows, with
sleep-time off and on (issue 18's first target: at most 2,000 prompt tokens at turn 100
with sleep-time on, and flat from there to turn 1,000 but for block growth).

The workload is the one Letta's default agent was measured on: turn i says "Message i: I
like topic i." Each turn goes through `send_message` in-process; with sleep-time on
(frequency 1) the run each turn starts is executed at once, as a worker would, and it
adds what it learned to the `human` block (one line per turn, as a consolidating agent
would). With sleep-time on, what a run has read leaves the primary's context but for the
last few turns, into the recursive summary (agents/compaction.py); the scripted summary is
a sentence, as a real one stays a paragraph. The figures at turns 10, 100 and 1,000 are
the turn's first model request:
- `prompt_tokens`: what the scripted model reports (message contents // 4, as in the
  measurement against Letta);
- `request_tokens`: the whole request's JSON, tool schemas included, // 4, closer to what
  a real provider bills.
"""

from __future__ import annotations

import json
import time
from typing import Any

from agents import runs
from agents.loop import InputMessage
from agents.models import Agent
from agents.services import send_message
from bench.common import Context
from memory import services as memory_services
from tests.factories import make_agent, make_user

TURNS = 1000
MARKS = (10, 100, 1000)
TARGET_AT_100 = 2000
# Sleep-time off, with a context budget (tokens of the whole request, tool schemas
# included, as agents.loop.context_tokens counts them).
OFF_BUDGET = 4000


def _measure(ctx: Context, sleeptime: bool, budget: int = 0) -> dict[str, Any]:
    user = make_user(f"bench-context-{time.time_ns()}")
    primary = make_agent(
        user,
        name=f"context-{'on' if sleeptime else 'off'}",
        enable_sleeptime=sleeptime,
        sleeptime_agent_frequency=1,
        blocks={"persona": "I am a helpful assistant.", "human": ""},
    )
    Agent.objects.filter(pk=primary.pk).update(context_token_budget=budget)
    primary.refresh_from_db()
    ctx.llm.reset()
    ctx.llm.main.answer_with(_primary_or_summarizer)
    # Letta's default human/persona limits are 5,000 characters; the sleeper keeps the
    # block under it by rewriting, as a consolidating agent would (the last 40 topics).
    learned: list[str] = []
    found: dict[int, dict[str, Any]] = {}
    for turn in range(1, TURNS + 1):
        seen = len(ctx.llm.main.requests)
        result = send_message(
            primary, [InputMessage(role="user", content=f"Message {turn}: I like topic {turn}.")]
        )
        if turn in MARKS:
            first = ctx.llm.main.requests[seen]
            found[turn] = {
                "prompt_tokens": _content_tokens(first),
                "request_tokens": len(json.dumps(first)) // 4,
                "turn_prompt_tokens": result.prompt_tokens,
                "messages_in_request": len(first.get("messages") or []),
            }
        if sleeptime:
            learned = [*learned, f"Likes topic {turn}."][-40:]
            ctx.llm.sleeper.tool_call(
                "memory_rethink", {"label": "human", "new_memory": "\n".join(learned)}
            )
            for run_id in result.run_ids or []:
                runs.execute_run(run_id)
    blocks = {b.label: len(b.value) for b in memory_services.agent_blocks(primary)}
    summaries = [body for body in ctx.llm.main.requests if _is_summary(body)]
    return {
        "turns": {str(k): v for k, v in found.items()},
        "block_chars": blocks,
        # What keeping the prompt short cost: the summary calls over all the turns.
        "summary_calls": len(summaries),
        "summary_prompt_tokens": sum(_content_tokens(body) for body in summaries),
    }


def _is_summary(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or [{}]
    return str(messages[0].get("content", "")).startswith("You condense conversation history")


def _primary_or_summarizer(body: dict[str, Any]) -> Any:
    """The primary answers with send_message, as the scripted default does; a request to
    write the recursive summary gets a summary of a summary's usual size (the scripted
    default would echo the whole request back)."""
    from tests.llm_server import _last_user_text, make_tool_call

    if _is_summary(body):
        return "The user said which topics they like, one per message; the assistant noted each."
    messages = body.get("messages") or []
    return [make_tool_call("send_message", {"message": _last_user_text(messages)})]


def _content_tokens(body: dict[str, Any]) -> int:
    """The scripted model's count: characters of the message contents // 4."""
    from tests.llm_server import _estimate_prompt_tokens

    return _estimate_prompt_tokens(body.get("messages") or [])


def run(ctx: Context) -> dict[str, Any]:
    off = _measure(ctx, sleeptime=False)
    budgeted = _measure(ctx, sleeptime=False, budget=OFF_BUDGET)
    on = _measure(ctx, sleeptime=True)
    at_100 = on["turns"]["100"]["prompt_tokens"]
    return {
        "workload": f"{TURNS} turns of 'Message i: I like topic i.'",
        "sleeptime_off": off,
        f"sleeptime_off_budget_{OFF_BUDGET}": budgeted,
        "sleeptime_on": on,
        "target_prompt_tokens_at_100_with_sleeptime": TARGET_AT_100,
        "met": at_100 <= TARGET_AT_100,
    }
