"""Replaying material into matched copies of an agent, one copy per arm and item, and
asking the probe questions: what each arm answered, and what it cost, as the provider
reported it.

An arm is a setting of sleep-time: off, or on with a model, a frequency during the replay
and a number of reflection passes after it (each pass re-reads the whole replay). Every
copy starts from the same template (model, system prompt, blocks), reads the same turns,
and is asked the same questions; each question is asked against the same context (the
previous questions and answers leave the context before the next), so arms differ only
in what sleep-time made of the material.

Tokens are counted apart: the replay's, sleep-time's (every background run that tended
the copy) and each question's prompt and completion, all from the provider's usage.
"""

from __future__ import annotations

import json
import time as clock
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone

from agents import runs, services, sleeptime
from agents.loop import InputMessage, TurnResult
from agents.models import Agent, Group, Message, Role, Run, RunStatus, RunTrigger
from agents.services import AgentSpec, BlockSpec
from evaluation.grading import grade
from evaluation.judge import judge
from evaluation.material import Item
from memory import services as memory_services

SETTLE_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Arm:
    """One setting to compare. `frequency`: a sleep-time run every N replayed turns
    (None: none during the replay); `passes`: reflection passes after the replay.

    `context`: what the questions are asked against. "full": the replay as the agent's
    context keeps it (all of it without sleep-time; with it, what a run has read leaves
    but for the last few turns, as in use: agents/compaction.py); "memory": it has left
    the context, as it does once a conversation is compacted or a new one starts, and
    only the memory blocks hold what was learned (the paper's setting, where sleep-time
    re-represents the context ahead of the questions). Without sleep-time the default is
    "full", with it "memory"."""

    name: str
    sleeptime: bool = False
    model: str | None = None
    frequency: int | None = None
    passes: int = 1
    context: str = "full"

    @classmethod
    def parse(cls, text: str) -> Arm:
        """`off`, `on`, `off:context=memory` or
        `on:model=openai/gpt-4.1-mini:passes=2:frequency=5:context=full`; the name is the
        text itself."""
        kind, *pieces = text.strip().split(":")
        # A model handle may hold ":" (ollama/llama3.1:8b): a piece without "=" goes on
        # with the option before it.
        options: list[str] = []
        for piece in pieces:
            if "=" not in piece and options and options[-1].startswith("model="):
                options[-1] += f":{piece}"
            else:
                options.append(piece)
        if kind not in {"off", "on"}:
            raise ValueError(f"An arm is 'off' or 'on[:key=value...]', not {text!r}.")
        settings: dict[str, Any] = {"context": "memory" if kind == "on" else "full"}
        for option in options:
            key, _, value = option.partition("=")
            if key == "model" and value and kind == "on":
                settings["model"] = value
            elif key in {"passes", "frequency"} and value.isdigit() and int(value) >= 1:
                if kind == "off":
                    raise ValueError(f"The arm 'off' has no sleep-time, so no {key} ({text!r}).")
                settings[key] = int(value)
            elif key == "context" and value in {"full", "memory"}:
                settings["context"] = value
            else:
                raise ValueError(f"Unknown or bad arm option {option!r} in {text!r}.")
        return cls(name=text.strip(), sleeptime=kind == "on", **settings)


@dataclass(frozen=True)
class Template:
    """What every copy starts from: an existing agent's model, prompt and blocks."""

    model: str
    embedding: str
    system: str
    blocks: dict[str, str]

    @classmethod
    def of(cls, agent: Agent) -> Template:
        return cls(
            model=agent.llm_handle,
            embedding=agent.embedding_handle,
            system=agent.system,
            blocks={b.label: b.value for b in memory_services.agent_blocks(agent)},
        )


@dataclass
class Answer:
    question: str
    expected: str
    kind: str
    answer: str
    correct: bool
    method: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    # The LLM judge's own tokens, when it was asked (evaluation/judge.py).
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0


@dataclass
class ArmItem:
    """One arm's copy after one item: its costs, its memory at question time, its answers."""

    arm: str
    item_id: str
    agent_id: str
    replay_prompt_tokens: int = 0
    replay_completion_tokens: int = 0
    sleeptime_prompt_tokens: int = 0
    sleeptime_completion_tokens: int = 0
    sleeptime_runs: int = 0
    # Sleep-time runs that failed (the ledger says why): the arm had less memory work.
    sleeptime_failed: int = 0
    memory: dict[str, str] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArmItem:
        """The record as dataclasses.asdict wrote it (an evaluation step stores that)."""
        fields = {k: v for k, v in data.items() if k != "answers"}
        return cls(**fields, answers=[Answer(**a) for a in data.get("answers", [])])

    def tokens_by_model(
        self, model: str, sleeptime_model: str, judge_model: str
    ) -> dict[str, list[int]]:
        """[prompt, completion] per model handle: the copy's turns are `model`'s, its
        sleep-time runs `sleeptime_model`'s, the judge's rulings `judge_model`'s."""
        found: dict[str, list[int]] = {}

        def add(handle: str, prompt: int, completion: int) -> None:
            if prompt or completion:
                entry = found.setdefault(handle, [0, 0])
                entry[0] += prompt
                entry[1] += completion

        add(model, self.replay_prompt_tokens, self.replay_completion_tokens)
        add(sleeptime_model, self.sleeptime_prompt_tokens, self.sleeptime_completion_tokens)
        for a in self.answers:
            add(model, a.prompt_tokens, a.completion_tokens)
            add(judge_model, a.judge_prompt_tokens, a.judge_completion_tokens)
        return found

    @property
    def tokens(self) -> int:
        """Every token the copy and the judge spent, as the provider reported them."""
        return sum(sum(pair) for pair in self.tokens_by_model("", "", "").values())


def answer_text(result: TurnResult) -> str:
    """What the agent told the user in the turn: its send_message, else its plain text."""
    said = []
    for message in result.messages:
        if message.role != Role.ASSISTANT:
            continue
        for call in message.tool_calls or []:
            if call.get("name") == "send_message":
                try:
                    said.append(str(json.loads(call.get("arguments") or "{}").get("message", "")))
                except (ValueError, AttributeError):
                    continue
        if message.content and not message.tool_calls:
            said.append(message.content)
    return "\n".join(part for part in said if part)


def copy_for(owner: Any, template: Template, item: Item, arm: Arm, evaluation_id: str) -> Agent:
    """A fresh agent made from `template` with the arm's sleep-time setting."""
    agent = services.create_agent(
        owner,
        AgentSpec(
            name=f"eval-{item.id}-{'on' if arm.sleeptime else 'off'}"[:200],
            model=template.model,
            embedding=template.embedding,
            system=template.system,
            memory_blocks=[BlockSpec(label=label, value=v) for label, v in template.blocks.items()],
            enable_sleeptime=arm.sleeptime,
            sleeptime_model=arm.model,
            # Runs during the replay only at the arm's frequency (0: none); the idle timer
            # stays off, so nothing runs but what the arm asks for.
            sleeptime_agent_frequency=arm.frequency or 0,
            sleeptime_idle_seconds=0,
            metadata={"evaluation": {"arm": arm.name, "item": item.id}},
        ),
    )
    if evaluation_id:
        group = sleeptime.group_of(agent)
        sleepers = sleeptime.sleeptime_agents(group) if group is not None else []
        Agent.objects.filter(pk__in=[agent.pk, *(s.pk for s in sleepers)]).update(
            evaluation_id=evaluation_id
        )
        agent.evaluation_id = evaluation_id
    return agent


class StepFailed(RuntimeError):
    """A turn of the replay or a question failed (the model could not be reached, ...):
    what the arm would measure is not what it measured, so the step stops."""


def _turn(agent: Agent, text: str, what: str) -> TurnResult:
    result = services.send_message(agent, [InputMessage(role="user", content=text)])
    if result.error:
        raise StepFailed(f"{what} failed: {result.error}")
    return result


def _settle(agent: Agent) -> None:
    """Carry out the copy's due sleep-time runs here, and wait for those a worker took
    first (every run is queued for the workers too; the first to claim it does it), so
    memory is what sleep-time made of everything so far. A run whose worker died is
    failed by the clock, so the wait ends."""
    while True:
        waiting = (
            Run.objects.filter(primary_agent=agent, status=RunStatus.CREATED)
            .exclude(trigger=RunTrigger.MESSAGE)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=timezone.now()))
        )
        for run_id in waiting.values_list("pk", flat=True):
            runs.execute_run(run_id)
        running = Run.objects.filter(primary_agent=agent, status=RunStatus.RUNNING).exclude(
            trigger=RunTrigger.MESSAGE
        )
        if not running.exists() and not waiting.exists():
            return
        clock.sleep(SETTLE_POLL_SECONDS)


def _say(agent: Agent, text: str, what: str) -> TurnResult:
    result = _turn(agent, text, what)
    _settle(agent)
    return result


def _reflect(agent: Agent, passes: int) -> None:
    group = sleeptime.group_of(agent)
    if group is None:
        return
    for _ in range(passes):
        # Each pass reads the whole replay again: more reflection, not more of the same.
        Group.objects.filter(pk=group.pk).update(last_processed_seq=None)
        sleeptime.run_now(group)
        _settle(agent)
    # No more runs while the questions are asked: they are not part of the material
    # (retries of failed ones included; the record counts the failures).
    sleeptime.configure(group, frequency=0)
    Run.objects.filter(primary_agent=agent, status=RunStatus.CREATED).update(
        status=RunStatus.CANCELLED
    )


def run_item(
    owner: Any,
    template: Template,
    item: Item,
    arm: Arm,
    *,
    judge_model: str | None = None,
    evaluation_id: str = "",
) -> ArmItem:
    """Replay `item` into a fresh copy for `arm`, let sleep-time work, ask the questions.
    With `judge_model`, an answer string matching finds wrong goes to the LLM judge.
    `evaluation_id` marks the copy as that evaluation's (its spend is counted there)."""
    agent = copy_for(owner, template, item, arm, evaluation_id)
    record = ArmItem(arm=arm.name, item_id=item.id, agent_id=agent.id)
    replay = ([f"Context: {item.context}"] if item.context.strip() else []) + list(item.turns)
    for number, text in enumerate(replay, start=1):
        result = _say(agent, text, f"replayed turn {number} of {item.id}")
        record.replay_prompt_tokens += result.prompt_tokens
        record.replay_completion_tokens += result.completion_tokens
    if arm.sleeptime:
        _reflect(agent, arm.passes)
    background = Run.objects.filter(primary_agent=agent).exclude(trigger=RunTrigger.MESSAGE)
    totals = background.aggregate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    record.sleeptime_prompt_tokens = int(totals["prompt"] or 0)
    record.sleeptime_completion_tokens = int(totals["completion"] or 0)
    record.sleeptime_runs = background.exclude(outcome="skipped").count()
    record.sleeptime_failed = background.filter(status=RunStatus.FAILED).count()
    record.memory = {b.label: b.value for b in memory_services.agent_blocks(agent)}
    if arm.context == "memory":
        Message.objects.filter(agent=agent, in_context=True).update(in_context=False)
    for question in item.questions:
        started = clock.monotonic()
        result = _turn(agent, question.text, f"question {question.text[:60]!r}")
        latency = int((clock.monotonic() - started) * 1000)
        # The next question sees the same context as this one did.
        Message.objects.filter(run_id=result.run_id).update(in_context=False)
        text = answer_text(result)
        verdict = grade(text, question.answer)
        answer = Answer(
            question=question.text,
            expected=question.answer,
            kind=question.kind,
            answer=text,
            correct=verdict.correct,
            method=verdict.method,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency_ms=latency,
        )
        if judge_model and not answer.correct and text.strip():
            ruling = judge(judge_model, question.text, question.answer, text)
            answer.correct = ruling.correct
            answer.method = "judge" if ruling.correct else "none"
            answer.judge_prompt_tokens = ruling.prompt_tokens
            answer.judge_completion_tokens = ruling.completion_tokens
        record.answers.append(answer)
    return record
