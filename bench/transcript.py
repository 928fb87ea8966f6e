"""Transcript growth: what one sleep-time run sends the model after 10 and after 1,000
messages of conversation. A run reads the turns since the group's last processed message,
so its prompt should not grow with the history behind that mark.

The history is written the way the agent loop stores a turn (a user message, the
assistant's `send_message` call and its tool result; a few plain-text answers make the
count exact) and marked processed, as earlier runs would have left it. Each sample is
then one real turn of the primary (which starts a run, frequency 1) and that run executed
as a worker would. The figures are the model-reported prompt tokens on the Run row (the
scripted server counts message contents // 4) and the request the sleeper lane recorded,
measured here in characters and estimated tokens (characters / 4, tool schemas included).
Each run is scripted to add one line to the `human` block and then finish (two model
calls), so prompts grow by that line from run to run, identically at both sizes.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from typing import Any

from django.db.models import Max

from agents import runs, sleeptime
from agents.loop import InputMessage
from agents.models import Agent, Group, Message, Role, Run
from agents.services import send_message
from bench.common import Context, summary
from tests.factories import make_agent, make_user

SIZES = (10, 1000)
SAMPLES = 7
TARGET_RATIO = 1.2
PROFILE = "Name: Ada Moreau\nCity: Lyon\nWork: structural engineer\nLikes: tea, climbing"

_SUBJECTS = [
    "the bridge inspection",
    "my sister's wedding",
    "the climbing trip",
    "our quarterly budget",
    "the new apartment",
    "a tea tasting in Lyon",
    "the load calculations",
    "my Spanish lessons",
    "the kitchen renovation",
    "the conference talk",
]
_ASKS = [
    "Can you remind me what we decided about {s}?",
    "I finally finished {s}, it took longer than planned.",
    "What should I prepare before {s} next week?",
    "I'm worried about {s}; the schedule keeps slipping.",
    "Quick update on {s}: everything went fine in the end.",
    "Could you summarise the open questions on {s}?",
]
_ANSWERS = [
    "Good to hear. For {s}, the main thing left is to confirm the dates and the budget.",
    "For {s} I'd list the three risks first, then decide which one to tackle this week.",
    "Last time you said {s} mattered most before the end of the month; is that still true?",
    "Noted. I'll keep {s} in mind and ask you about it when we next talk.",
]


def _user_text(rng: random.Random) -> str:
    return rng.choice(_ASKS).format(s=rng.choice(_SUBJECTS))


def _answer_text(rng: random.Random) -> str:
    return rng.choice(_ANSWERS).format(s=rng.choice(_SUBJECTS))


def _turn(agent: Agent, rng: random.Random, *, with_tool: bool) -> list[Message]:
    """One stored turn, in the shape `agents.loop` gives it."""
    turn_id = uuid.uuid4().hex
    user = Message(agent=agent, role=Role.USER, content=_user_text(rng), turn_id=turn_id)
    answer = _answer_text(rng)
    usage = {"prompt_tokens": 900, "completion_tokens": 30}
    if not with_tool:
        reply = Message(
            agent=agent, role=Role.ASSISTANT, content=answer, turn_id=turn_id, step=1, usage=usage
        )
        return [user, reply]
    call_id = f"call_{uuid.uuid4().hex[:24]}"
    call = {"id": call_id, "name": "send_message", "arguments": json.dumps({"message": answer})}
    result = json.dumps(
        {"status": "OK", "message": "Sent message successfully.", "time": "2026-11-21T10:00:00"}
    )
    return [
        user,
        Message(
            agent=agent,
            role=Role.ASSISTANT,
            tool_calls=[call],
            turn_id=turn_id,
            step=1,
            usage=usage,
        ),
        Message(
            agent=agent,
            role=Role.TOOL,
            tool_call_id=call_id,
            tool_name="send_message",
            tool_status="success",
            content=result,
            turn_id=turn_id,
            step=1,
        ),
    ]


def write_history(primary: Agent, group: Group, count: int, rng: random.Random) -> None:
    """`count` messages of past turns, already read by earlier runs."""
    plain = next(n for n in range(3) if (count - 2 * n) % 3 == 0)  # two-message turns
    rows: list[Message] = []
    for index in range((count - 2 * plain) // 3 + plain):
        rows += _turn(primary, rng, with_tool=index >= plain)
    assert len(rows) == count
    Message.objects.bulk_create(rows, batch_size=500)
    last = Message.objects.filter(agent=primary).aggregate(m=Max("seq"))["m"]
    Agent.objects.filter(pk=primary.pk).update(last_turn_end_seq=last)
    Group.objects.filter(pk=group.pk).update(last_processed_seq=last)


def _request_size(body: dict[str, Any]) -> dict[str, int]:
    messages = json.dumps(body.get("messages") or [])
    tools = json.dumps(body.get("tools") or [])
    return {
        "request_chars": len(json.dumps(body)),
        "message_chars": len(messages),
        "tool_schema_chars": len(tools),
    }


def measure(ctx: Context, history: int) -> dict[str, Any]:
    user = make_user(f"bench-transcript-{time.time_ns()}")
    primary = make_agent(
        user,
        name=f"history-{history}",
        enable_sleeptime=True,
        sleeptime_agent_frequency=1,
        blocks={"persona": "I am a helpful assistant.", "human": PROFILE},
    )
    group = sleeptime.group_of(primary)
    assert group is not None
    rng = random.Random(history)
    write_history(primary, group, history, rng)
    primary.refresh_from_db()

    tokens: list[int] = []
    sizes: list[dict[str, int]] = []
    transcript_chars: list[int] = []
    durations: list[float] = []
    for sample in range(SAMPLES):
        result = send_message(primary, [InputMessage(role="user", content=_user_text(rng))])
        (run_id,) = result.run_ids or []
        # A realistic run: one edit, then memory_finish_edits (the lane's default reply).
        ctx.llm.sleeper.tool_call(
            "memory_insert", {"label": "human", "new_str": f"Note {sample}: {_answer_text(rng)}"}
        )
        seen = len(ctx.llm.sleeper.requests)
        started = time.perf_counter()
        assert runs.execute_run(run_id) == "completed"
        durations.append(time.perf_counter() - started)
        run = Run.objects.get(pk=run_id)
        requests = ctx.llm.sleeper.requests[seen:]
        assert len(requests) == run.step_count == 2, (len(requests), run.step_count)
        tokens.append(run.prompt_tokens)
        per_run = [_request_size(body) for body in requests]
        sizes.append({key: sum(size[key] for size in per_run) for key in per_run[0]})
        transcript_chars.append(len(run.transcript))
    request_chars = statistics.median(size["request_chars"] for size in sizes)
    return {
        "history_messages": history,
        "runs": SAMPLES,
        "model_calls_per_run": 2,
        "prompt_tokens_per_run_p50": statistics.median(tokens),
        "prompt_tokens_per_run_all": tokens,
        "request_chars_per_run_p50": request_chars,
        "request_estimated_tokens_per_run_p50": round(request_chars / 4),
        "message_chars_per_run_p50": statistics.median(size["message_chars"] for size in sizes),
        "tool_schema_chars_per_run_p50": statistics.median(
            size["tool_schema_chars"] for size in sizes
        ),
        "transcript_chars_per_run_p50": statistics.median(transcript_chars),
        "run_wall_time": summary(durations),
    }


def first_run_over_backlog(history: int) -> dict[str, Any]:
    """A run over a history nobody has read yet: it takes one bounded slice, then queues
    a follow-up for the rest (what turning sleep-time on for an old conversation costs)."""
    user = make_user(f"bench-backlog-{time.time_ns()}")
    primary = make_agent(user, name="backlog", enable_sleeptime=True, blocks={"human": PROFILE})
    group = sleeptime.group_of(primary)
    assert group is not None
    write_history(primary, group, history, random.Random(0))
    Group.objects.filter(pk=group.pk).update(last_processed_seq=None)
    (run,) = sleeptime.run_now(group)
    assert runs.execute_run(run.id) == "completed"
    run.refresh_from_db()
    return {
        "history_messages": history,
        "prompt_tokens": run.prompt_tokens,
        "transcript_chars": len(run.transcript),
        "messages_read": Message.objects.filter(
            agent=primary, seq__gt=run.transcript_after_seq or 0, seq__lte=run.transcript_until_seq
        ).count(),
        "backlog_remaining": bool(run.metadata.get("backlog_remaining")),
    }


def run(ctx: Context) -> dict[str, Any]:
    small, large = (measure(ctx, size) for size in SIZES)
    ratio = large["prompt_tokens_per_run_p50"] / small["prompt_tokens_per_run_p50"]
    request_ratio = large["request_chars_per_run_p50"] / small["request_chars_per_run_p50"]
    return {
        "sleeptime_prompt_tokens_ratio": round(ratio, 3),
        "sleeptime_request_chars_ratio": round(request_ratio, 3),
        "target_ratio_max": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO and request_ratio <= TARGET_RATIO,
        f"history_{SIZES[0]}": small,
        f"history_{SIZES[1]}": large,
        "first_run_over_unread_history": first_run_over_backlog(SIZES[1]),
    }
