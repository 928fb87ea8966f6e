"""The evaluation's answer: per arm, accuracy against question-time tokens (the paper's
Pareto view), what sleep-time cost per context, and after how many questions per context
that cost pays for itself against the arm without sleep-time.

Break-even: an arm with sleep-time spends S tokens per context once and q_on per
question; without it, q_off per question. Over n questions it is cheaper once
S + n * q_on <= n * q_off, so from n = S / (q_off - q_on); when a question costs no less
with sleep-time, it never pays in tokens (None). The paper counts completion tokens only;
here both are reported, and break-even is given for all tokens and for completion only.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict
from html import escape
from typing import Any, TypedDict

from evaluation.runner import ArmItem


class ArmSummary(TypedDict):
    arm: str
    contexts: int
    questions: int
    correct: int
    accuracy: float
    question_prompt_tokens: float  # means per question
    question_completion_tokens: float
    question_tokens: float
    question_latency_ms: float
    replay_tokens: float  # means per context
    sleeptime_tokens: float
    sleeptime_completion_tokens: float
    sleeptime_runs: float
    break_even_questions: float | None
    break_even_questions_completion_only: float | None
    # The LLM judge's tokens (not the agent's), in all.
    judge_tokens: int


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


def _break_even(once: float, with_it: float, without: float) -> float | None:
    if once <= 0:
        return 0.0
    if without <= with_it:
        return None
    return round(once / (without - with_it), 2)


def summarise(records: list[ArmItem], baseline: str = "off") -> list[ArmSummary]:
    """One row per arm, in the order arms first appear; break-even against `baseline`."""
    arms: dict[str, list[ArmItem]] = {}
    for record in records:
        arms.setdefault(record.arm, []).append(record)
    rows: list[ArmSummary] = []
    for name, items in arms.items():
        answers = [answer for item in items for answer in item.answers]
        correct = sum(answer.correct for answer in answers)
        rows.append(
            {
                "arm": name,
                "contexts": len(items),
                "questions": len(answers),
                "correct": correct,
                "accuracy": round(correct / len(answers), 4) if answers else 0.0,
                "question_prompt_tokens": _mean([a.prompt_tokens for a in answers]),
                "question_completion_tokens": _mean([a.completion_tokens for a in answers]),
                "question_tokens": _mean([a.prompt_tokens + a.completion_tokens for a in answers]),
                "question_latency_ms": _mean([a.latency_ms for a in answers]),
                "replay_tokens": _mean(
                    [i.replay_prompt_tokens + i.replay_completion_tokens for i in items]
                ),
                "sleeptime_tokens": _mean(
                    [i.sleeptime_prompt_tokens + i.sleeptime_completion_tokens for i in items]
                ),
                "sleeptime_completion_tokens": _mean(
                    [i.sleeptime_completion_tokens for i in items]
                ),
                "sleeptime_runs": _mean([i.sleeptime_runs for i in items]),
                "break_even_questions": None,
                "break_even_questions_completion_only": None,
                "judge_tokens": sum(
                    a.judge_prompt_tokens + a.judge_completion_tokens for a in answers
                ),
            }
        )
    base = next((row for row in rows if row["arm"] == baseline), None)
    for row in rows:
        if base is None or row is base:
            continue
        row["break_even_questions"] = _break_even(
            row["sleeptime_tokens"], row["question_tokens"], base["question_tokens"]
        )
        row["break_even_questions_completion_only"] = _break_even(
            row["sleeptime_completion_tokens"],
            row["question_completion_tokens"],
            base["question_completion_tokens"],
        )
    return rows


def amortised_cost(row: ArmSummary, questions: int) -> float:
    """Tokens per question when `questions` questions share one context's sleep-time."""
    return row["question_tokens"] + row["sleeptime_tokens"] / max(questions, 1)


def to_json(records: list[ArmItem], baseline: str = "off") -> dict[str, Any]:
    return {
        "arms": summarise(records, baseline),
        "items": [asdict(record) for record in records],
    }


def to_csv(records: list[ArmItem]) -> str:
    """Per question: arm, item, question, expected, answer, correct and its costs."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "arm",
            "item",
            "kind",
            "question",
            "expected",
            "answer",
            "correct",
            "prompt_tokens",
            "completion_tokens",
            "latency_ms",
        ]
    )
    for record in records:
        for a in record.answers:
            writer.writerow(
                [
                    record.arm,
                    record.item_id,
                    a.kind,
                    a.question,
                    a.expected,
                    a.answer,
                    a.correct,
                    a.prompt_tokens,
                    a.completion_tokens,
                    a.latency_ms,
                ]
            )
    return out.getvalue()


def table(rows: list[ArmSummary]) -> str:
    """The summary as plain text, for the command line."""
    head = ["arm", "accuracy", "q tokens", "q completion", "sleep-time/ctx", "break-even"]
    lines = [head]
    for row in rows:
        even = row["break_even_questions"]
        lines.append(
            [
                row["arm"],
                f"{row['accuracy']:.0%} ({row['correct']}/{row['questions']})",
                f"{row['question_tokens']:.0f}",
                f"{row['question_completion_tokens']:.0f}",
                f"{row['sleeptime_tokens']:.0f}",
                "-" if row["arm"] == "off" else "never" if even is None else f"{math.ceil(even)}",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    )


# --- The plot ------------------------------------------------------------------------------

PLOT_WIDTH, PLOT_HEIGHT, MARGIN = 320, 200, 36
CURVE_QUESTIONS = 20


def _scale(value: float, low: float, high: float, size: float) -> float:
    return round(size * (value - low) / (high - low), 2) if high > low else round(size / 2, 2)


def svg(rows: list[ArmSummary]) -> str:
    """Two plots side by side, as one SVG: accuracy against question-time tokens per arm
    (the paper's Pareto view), and tokens per question once a context's sleep-time is
    shared by 1 to 20 questions (the break-even curve; flat for an arm without it)."""
    inner_w, inner_h = PLOT_WIDTH - 2 * MARGIN, PLOT_HEIGHT - 2 * MARGIN
    xs = [row["question_tokens"] for row in rows] or [0.0]
    low_x, high_x = min(xs) * 0.9, max(xs) * 1.1 or 1.0
    points = []
    for row in rows:
        x = MARGIN + _scale(row["question_tokens"], low_x, high_x, inner_w)
        y = MARGIN + inner_h - _scale(row["accuracy"], 0.0, 1.0, inner_h)
        points.append(
            f'<circle cx="{x}" cy="{y}" r="4" data-arm="{escape(row["arm"])}" '
            f'data-accuracy="{row["accuracy"]}" data-tokens="{row["question_tokens"]}">'
            f"<title>{escape(row['arm'])}: {row['accuracy']:.0%} at "
            f"{row['question_tokens']:.0f} tokens a question</title></circle>"
            f'<text x="{x + 6}" y="{y - 6}">{escape(row["arm"])}</text>'
        )
    curves = {
        row["arm"]: [amortised_cost(row, n) for n in range(1, CURVE_QUESTIONS + 1)] for row in rows
    }
    every = [cost for costs in curves.values() for cost in costs] or [0.0]
    low_y, high_y = 0.0, max(every) * 1.1 or 1.0
    lines = []
    for arm, costs in curves.items():
        coordinates = " ".join(
            f"{PLOT_WIDTH + MARGIN + _scale(n, 1, CURVE_QUESTIONS, inner_w)},"
            f"{MARGIN + inner_h - _scale(cost, low_y, high_y, inner_h)}"
            for n, cost in enumerate(costs, start=1)
        )
        values = " ".join(f"{cost:.2f}" for cost in costs)
        lines.append(
            f'<polyline fill="none" stroke="currentColor" points="{coordinates}" '
            f'data-arm="{escape(arm)}" data-costs="{values}"><title>{escape(arm)}</title>'
            "</polyline>"
        )
    axes = (
        f'<text x="{MARGIN}" y="16">Accuracy against question-time tokens</text>'
        f'<text x="{PLOT_WIDTH + MARGIN}" y="16">Tokens per question, sleep-time shared by '
        f"1 to {CURVE_QUESTIONS} questions</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {2 * PLOT_WIDTH} {PLOT_HEIGHT}" '
        f'font-size="9">{axes}{"".join(points)}{"".join(lines)}</svg>'
    )
