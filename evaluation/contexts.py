"""What the evaluation pages show: the list's rows, the live status of one, and its
report laid out for reading (the per-arm table, the plots, each item's answers and the
memory each arm had). The numbers are services.summary's; here they are only arranged
and formatted, so the page, its polled partial and the downloads never disagree."""

from __future__ import annotations

import math
from typing import Any, TypedDict

from django.db.models import QuerySet
from django.db.models.fields.json import KT
from django.utils.safestring import SafeString, mark_safe

from evaluation import report, services
from evaluation.models import ACTIVE, RESUMABLE, Evaluation

# The list is not paginated; past this many only the newest are shown.
LIST_LIMIT = 100


def list_rows(user: Any) -> QuerySet[Evaluation]:
    """The organization's evaluations, newest first, without the material and the
    snapshots (up to a megabyte each): the model is read out of the template in SQL."""
    return (
        services.list_evaluations(user)
        .annotate(model=KT("template__model"))
        .only(
            "id",
            "agent_id",
            "agent_name",
            "arms",
            "status",
            "steps_done",
            "steps_total",
            "tokens_used",
            "estimated_tokens",
            "created_at",
        )
    )


def list_context(user: Any) -> dict[str, Any]:
    rows = list(list_rows(user)[: LIST_LIMIT + 1])
    shown = rows[:LIST_LIMIT]
    return {
        "evaluations": shown,
        "truncated": len(rows) > LIST_LIMIT,
        # While one is at work, the table refreshes itself until none is.
        "polling": any(evaluation.status in ACTIVE for evaluation in shown),
    }


def subject(evaluation: Evaluation) -> str:
    """What was copied: the agent's name, or the bare model's handle."""
    return evaluation.agent_name or str(evaluation.template.get("model", ""))


def live_context(evaluation: Evaluation, *, can_edit: bool) -> dict[str, Any]:
    """The part of the page that changes while it runs: status, progress, tokens, and the
    actions its status allows (to editors)."""
    total = evaluation.steps_total
    return {
        "evaluation": evaluation,
        "subject": subject(evaluation),
        "polling": evaluation.status in ACTIVE,
        "percent": math.floor(100 * evaluation.steps_done / total) if total else 0,
        "can_cancel": can_edit and evaluation.status in (*ACTIVE, *RESUMABLE),
        "can_resume": can_edit and evaluation.status in RESUMABLE,
        "can_delete": can_edit and evaluation.status not in ACTIVE,
    }


# --- The report ----------------------------------------------------------------------------


class ArmRow(TypedDict):
    arm: str
    number: int  # its place, 1-based: the colour it has in the plots
    accuracy: str
    accuracy_value: float
    prompt_tokens: str
    completion_tokens: str
    sleeptime_tokens: str
    sleeptime_runs: str
    break_even: str
    break_even_completion: str
    judge_tokens: int


class AnswerCell(TypedDict):
    arm: str
    number: int
    answer: str
    correct: bool
    method: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int


class QuestionRow(TypedDict):
    text: str
    expected: str
    kind: str
    answers: list[AnswerCell]


class Block(TypedDict):
    label: str
    value: str


class ArmMemory(TypedDict):
    arm: str
    number: int
    blocks: list[Block]
    sleeptime_runs: int
    sleeptime_failed: int


class ItemView(TypedDict):
    id: str
    kind: str
    context: str
    turns: list[str]
    questions: list[QuestionRow]
    memory: list[ArmMemory]


def baseline(evaluation: Evaluation) -> str:
    """The arm break-even is measured against: as services.summary chooses it."""
    return "off" if "off" in evaluation.arms else evaluation.arms[0]


def _break_even(value: float | None, *, is_base: bool, has_base: bool) -> str:
    if is_base:
        return "baseline"
    if not has_base:
        return "not yet (the baseline has no results)"
    if value is None:
        return "never"
    if value == 0:
        return "at once"
    questions = math.ceil(value)
    return f"after {questions} question{'' if questions == 1 else 's'}"


def arm_rows(rows: list[report.ArmSummary], base: str) -> list[ArmRow]:
    has_base = any(row["arm"] == base for row in rows)
    return [
        {
            "arm": row["arm"],
            "number": number,
            "accuracy": f"{row['accuracy']:.0%} ({row['correct']}/{row['questions']})",
            "accuracy_value": row["accuracy"],
            "prompt_tokens": f"{row['question_prompt_tokens']:,.0f}",
            "completion_tokens": f"{row['question_completion_tokens']:,.0f}",
            "sleeptime_tokens": f"{row['sleeptime_tokens']:,.0f}",
            "sleeptime_runs": f"{row['sleeptime_runs']:g}",
            "break_even": _break_even(
                row["break_even_questions"], is_base=row["arm"] == base, has_base=has_base
            ),
            "break_even_completion": _break_even(
                row["break_even_questions_completion_only"],
                is_base=row["arm"] == base,
                has_base=has_base,
            ),
            "judge_tokens": row["judge_tokens"],
        }
        for number, row in enumerate(rows, start=1)
    ]


def item_views(evaluation: Evaluation, records: list[dict[str, Any]]) -> list[ItemView]:
    """Per item with results, in the evaluation's order: each question with every arm's
    answer beside it, and each arm's blocks when the questions were asked."""
    numbers = {arm: number for number, arm in enumerate(evaluation.arms, start=1)}
    by_item: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_item.setdefault(record["item_id"], []).append(record)
    views: list[ItemView] = []
    for item in evaluation.items:
        done = by_item.get(item["id"])
        if not done:
            continue
        questions: list[QuestionRow] = [
            {"text": q["question"], "expected": q["answer"], "kind": q["kind"], "answers": []}
            for q in item["questions"]
        ]
        for record in done:
            # Each arm is asked the item's questions in order.
            for row, answer in zip(questions, record["answers"], strict=False):
                row["answers"].append(
                    {
                        "arm": record["arm"],
                        "number": numbers.get(record["arm"], 0),
                        "answer": answer["answer"],
                        "correct": answer["correct"],
                        "method": answer["method"],
                        "prompt_tokens": answer["prompt_tokens"],
                        "completion_tokens": answer["completion_tokens"],
                        "latency_ms": answer["latency_ms"],
                    }
                )
        views.append(
            {
                "id": item["id"],
                "kind": item["kind"],
                "context": item["context"],
                "turns": item["turns"],
                "questions": questions,
                "memory": [
                    {
                        "arm": record["arm"],
                        "number": numbers.get(record["arm"], 0),
                        "blocks": [
                            {"label": label, "value": value}
                            for label, value in record["memory"].items()
                        ],
                        "sleeptime_runs": record["sleeptime_runs"],
                        "sleeptime_failed": record["sleeptime_failed"],
                    }
                    for record in done
                ],
            }
        )
    return views


def report_context(evaluation: Evaluation) -> dict[str, Any]:
    """The report of the steps done so far (all of them once it completed)."""
    summary = services.summary(evaluation)
    rows: list[report.ArmSummary] = summary["arms"]
    # report.svg escapes every text it takes from the evaluation (the arm names).
    plot: SafeString | str = mark_safe(report.svg(rows)) if rows else ""
    return {
        "evaluation": evaluation,
        "arm_rows": arm_rows(rows, baseline(evaluation)),
        "baseline": baseline(evaluation),
        "plot": plot,
        "items": item_views(evaluation, summary["items"]),
    }
