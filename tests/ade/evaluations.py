"""Material for the evaluation page tests (ADE and browser): one context about apples,
and a scripted model that answers right only when the fact is in the copy's memory, where
only sleep-time puts it, so the arms differ in a way a reader can see."""

from __future__ import annotations

import json
from typing import Any

from tests.llm_server import _last_user_text

QUESTION = "How many apples do I have now?"
APPLES = json.dumps(
    {
        "id": "apples",
        "context": "A kitchen.",
        "turns": ["I have 3 apples.", "I buy 4 more apples."],
        "questions": [{"question": QUESTION, "answer": 7}],
    }
)
# What the sleep-time agent writes into the "on" copy's memory; the scripted model
# answers right only when it reads it there, so sleep-time makes the difference.
NOTE = "Has 7 apples."


def answers_from_memory(body: dict[str, Any]) -> str:
    if _last_user_text(body.get("messages") or []) != QUESTION:
        return "Noted."
    system = str((body.get("messages") or [{}])[0].get("content", ""))
    return "You have 7 apples." if NOTE in system else "I do not know."
