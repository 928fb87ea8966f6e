"""The bodies of `/v1/evaluations` (evaluation/api.py): what an evaluation is asked to do,
the evaluation as a job (its state, progress and tokens), and its report.

The schema says what the services enforce (evaluation/services.py), so that a request it
allows is carried out. Most of it is checked here, a 422 before any service is called (an
arm's text, the size of generated material, a blank question); the services refuse the
rest with a 400 that says why: an agent and a model both given, or neither, an agent's
history without the agent, a provider not configured, and what only the data can say
(whether a JSONL text is material). An agent that is not the caller's is a 404.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, StrictFloat, StrictInt, field_validator
from pydantic.json_schema import JsonDict

from agents.schemas import HANDLE, TOKENS
from config.schemas import INT32, NOT_BLANK, SPACE, In
from evaluation.models import Evaluation
from evaluation.services import MAX_ARMS, MAX_COUNT, MAX_JSONL_CHARS

# --- In ------------------------------------------------------------------------------------

# An arm's text as runner.Arm.parse reads it (`off`, or `on` with options; an option given
# twice counts once, the last), with numbers small enough that the estimate stays one a
# column holds. No spaces anywhere: an arm's name is its text stripped, so two arms that
# differed only in spaces would be the same arm.
# A model's name may hold colons (ollama/llama3.1:8b), where what follows has no "=".
_MODEL_OPTION = rf"model=[^:/\x00{SPACE}]+/[^:\x00{SPACE}]+(:[^:=\x00{SPACE}]+)*"
_CONTEXT_OPTION = "context=(full|memory)"
ARM_PATTERN = (
    rf"^(off(:{_CONTEXT_OPTION})*|on(:({_MODEL_OPTION}|passes=[1-9][0-9]?"
    rf"|frequency=[1-9][0-9]{{0,3}}|{_CONTEXT_OPTION}))*)$"
)
_ARM = re.compile(ARM_PATTERN)
ARM_DESCRIPTION = (
    "off (no sleep-time), or on with options separated by colons: model=provider/name "
    "(the sleep-time model; the agent's by default), passes=N (reflection passes after the "
    "replay, 1 to 99; 1 by default), frequency=N (a sleep-time run every N replayed turns, "
    "1 to 9999; none during the replay by default); both take context=full (the questions "
    "see the replay in the context; off's default) or context=memory (only memory, as after "
    "compaction or in a new conversation; on's default). Example: "
    "on:model=openai/gpt-4.1:passes=2, off:context=memory"
)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


# Text with something besides spaces, said in the schema and checked.
NotBlank = Annotated[
    str, AfterValidator(_not_blank), Field(json_schema_extra={"pattern": NOT_BLANK})
]


class _Generated(In):
    count: int = Field(3, ge=1, le=MAX_COUNT, description="How many contexts to generate.")
    seed: int = Field(
        1, ge=0, le=INT32, description="Names the data set: the same seed, the same material."
    )


class ArithmeticMaterialIn(_Generated):
    """A day at a small shop told as facts, with questions whose integer answers need one
    to four operations (work sleep-time can do before it is asked)."""

    kind: Literal["arithmetic"]


class PersonalMaterialIn(_Generated):
    """A user talking about themselves, some facts changing; questions ask for the
    current value, the one before, and facts that never changed."""

    kind: Literal["personal"]


class JsonlMaterialIn(In):
    """A user's own material: JSON Lines, one item a line ({"context", "turns",
    "questions": [{"question", "answer"}]}, or one "question" with its "answer")."""

    kind: Literal["jsonl"]
    text: NotBlank = Field(max_length=MAX_JSONL_CHARS, description="The JSONL lines.")


class HistoryQuestionIn(In):
    question: NotBlank
    answer: NotBlank | StrictInt | StrictFloat = Field(
        description="The expected answer: text, or a number (compared as its text)."
    )


class HistoryMaterialIn(In):
    """The agent's own history (what its user said, the newest turns) replayed, and
    questions a person wrote about it; needs `agent_id`."""

    kind: Literal["history"]
    questions: list[HistoryQuestionIn] = Field(min_length=1)


Material = Annotated[
    ArithmeticMaterialIn | PersonalMaterialIn | JsonlMaterialIn | HistoryMaterialIn,
    Field(discriminator="kind"),
]

# The kinds of material a bare model can be evaluated on (history is an agent's).
_WITHOUT_AGENT: list[Any] = ["arithmetic", "personal", "jsonl"]


def _one_template(schema: JsonDict) -> None:
    """Either an agent to copy or a bare model, never both; an agent's own history needs
    the agent. (Built afresh each time: config/openapi.py edits the schema in place.)"""
    schema["anyOf"] = [
        {
            "required": ["agent_id"],
            "properties": {"agent_id": {"type": "string"}, "model": {"type": "null"}},
        },
        {
            "required": ["model"],
            "properties": {
                "model": {"type": "string"},
                "agent_id": {"type": "null"},
                "material": {"properties": {"kind": {"enum": list(_WITHOUT_AGENT)}}},
            },
        },
    ]


class EvaluationIn(In, json_schema_extra=_one_template):
    agent_id: str | None = Field(
        None,
        min_length=1,
        description="The agent to copy: every arm's copies start from its model, system "
        "prompt and blocks. Give this or `model`.",
    )
    model: str | None = Field(
        None,
        json_schema_extra={
            **HANDLE,
            "description": "provider/model for copies made from scratch (a default persona, "
            "no system prompt), when there is no agent to copy.",
        },
    )
    material: Material = Field(description="What is replayed into every copy and asked after.")
    arms: list[Annotated[str, Field(json_schema_extra={"pattern": ARM_PATTERN})]] = Field(
        ["off", "on"],
        min_length=1,
        max_length=MAX_ARMS,
        json_schema_extra={"uniqueItems": True},
        description=f"The settings of sleep-time to compare, each once. An arm: {ARM_DESCRIPTION}",
    )
    judge_model: str | None = Field(
        None,
        json_schema_extra={
            **HANDLE,
            "description": "provider/model of an LLM judge for the answers string matching "
            "finds wrong (its tokens are counted apart).",
        },
    )
    token_budget: int | None = Field(
        None,
        ge=1,
        le=TOKENS,
        description="At most this many tokens in all: a step that would go over is not "
        "started and the evaluation pauses. The organization's budgets hold too.",
    )
    keep_copies: bool = Field(
        False, description="Keep the agents each step made (to look at them); deleted otherwise."
    )

    @field_validator("arms")
    @classmethod
    def _arms(cls, arms: list[str]) -> list[str]:
        for number, text in enumerate(arms, start=1):
            if not _ARM.fullmatch(text):
                raise ValueError(f"arm {number} ({text!r}) is not an arm: {ARM_DESCRIPTION}")
        if len(set(arms)) != len(arms):
            raise ValueError("each arm once: two arms are the same")
        return arms


# --- Out -----------------------------------------------------------------------------------


class MaterialOut(Schema):
    kind: str = Field(description="arithmetic, personal, jsonl or history.")
    seed: int | None = Field(description="The seed of generated material (null for the others).")
    items: int = Field(description="Contexts replayed, each into a fresh copy per arm.")
    questions: int = Field(description="Questions asked per arm, over all the contexts.")


class ProgressOut(Schema):
    steps_done: int = Field(description="Steps finished (a step: one arm's copy for one item).")
    steps_total: int
    percent: float = Field(description="steps_done of steps_total, 0 to 100.")


class TokensOut(Schema):
    """`used` and `discarded` are counts the model providers reported; `estimated` is
    an estimate made before the evaluation ran, never a count."""

    used: int = Field(
        description="Provider-reported tokens of the finished steps: replay, sleep-time, "
        "questions and the judge."
    )
    discarded: int = Field(
        description="Provider-reported tokens of steps a stopped worker lost (done again): "
        "spent, but measured nothing."
    )
    estimated: int = Field(
        description="What the whole evaluation was estimated to spend before it ran, from "
        "the length of what each call reads: an estimate, not usage."
    )
    estimated_is_estimate: Literal[True] = Field(
        True, description="Always true: `estimated` is an estimate, the rest are counts."
    )


# evaluation.models.EvaluationStatus, for the schema.
Status = Literal["queued", "running", "paused", "completed", "failed", "cancelled"]


class EvaluationOut(Schema):
    id: str
    agent_id: str | None = Field(
        description="The agent copied (null: a bare model, or the agent is gone)."
    )
    agent_name: str | None = Field(description="Its name when the evaluation was made.")
    model: str = Field(description="The model every copy starts with (provider/model).")
    arms: list[str]
    material: MaterialOut
    judge_model: str | None
    keep_copies: bool
    token_budget: int | None
    status: Status = Field(
        description="queued: a step waits for a worker; running: a worker is on a step; "
        "paused: the next step would go over a budget (resume when it allows); failed: a "
        "step failed (resume retries it); completed; cancelled."
    )
    reason: str | None = Field(description="Why it is paused, failed or cancelled.")
    progress: ProgressOut
    tokens: TokensOut
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_agent_name(evaluation: Evaluation) -> str | None:
        return evaluation.agent_name or None

    @staticmethod
    def resolve_model(evaluation: Evaluation) -> str:
        return str(evaluation.template["model"])

    @staticmethod
    def resolve_material(evaluation: Evaluation) -> dict[str, Any]:
        return {
            "kind": evaluation.material.get("kind", ""),
            "seed": evaluation.material.get("seed"),
            "items": evaluation.item_count,
            "questions": evaluation.question_count,
        }

    @staticmethod
    def resolve_judge_model(evaluation: Evaluation) -> str | None:
        return evaluation.judge_model or None

    @staticmethod
    def resolve_reason(evaluation: Evaluation) -> str | None:
        return evaluation.reason or None

    @staticmethod
    def resolve_progress(evaluation: Evaluation) -> dict[str, Any]:
        total = evaluation.steps_total
        percent = round(100 * evaluation.steps_done / total, 1) if total else 0.0
        return {"steps_done": evaluation.steps_done, "steps_total": total, "percent": percent}

    @staticmethod
    def resolve_tokens(evaluation: Evaluation) -> dict[str, Any]:
        return {
            "used": evaluation.tokens_used,
            "discarded": evaluation.tokens_discarded,
            "estimated": evaluation.estimated_tokens,
            "estimated_is_estimate": True,
        }


class ArmSummaryOut(Schema):
    """One arm over the steps done (evaluation/report.py): means per question and per
    context, and after how many questions per context its sleep-time pays for itself
    against the baseline arm (`off`, else the first); null: never, in tokens."""

    arm: str
    contexts: int
    questions: int
    correct: int
    accuracy: float
    question_prompt_tokens: float
    question_completion_tokens: float
    question_tokens: float
    question_latency_ms: float
    replay_tokens: float
    sleeptime_tokens: float
    sleeptime_completion_tokens: float
    sleeptime_runs: float
    break_even_questions: float | None
    break_even_questions_completion_only: float | None
    judge_tokens: int


class AnswerOut(Schema):
    question: str
    expected: str
    kind: str
    answer: str
    correct: bool
    method: str = Field(description="How it was graded: by string matching, the judge, none.")
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    judge_prompt_tokens: int
    judge_completion_tokens: int


class ArmItemOut(Schema):
    """One arm's copy after one item: its provider-reported costs, the memory it had at
    question time, and its answers."""

    arm: str
    item_id: str
    agent_id: str = Field(description="The copy (deleted after the step unless kept).")
    replay_prompt_tokens: int
    replay_completion_tokens: int
    sleeptime_prompt_tokens: int
    sleeptime_completion_tokens: int
    sleeptime_runs: int
    sleeptime_failed: int
    memory: dict[str, str] = Field(description="Its blocks, by label, when it was asked.")
    answers: list[AnswerOut]


class ReportOut(Schema):
    """The report over the steps done so far (partial while the evaluation runs). Token
    counts are the providers'; `estimated_tokens` is the estimate made before it ran."""

    id: str
    status: Status
    estimated_tokens: int
    tokens_used: int
    tokens_discarded: int
    arms: list[ArmSummaryOut]
    items: list[ArmItemOut]
