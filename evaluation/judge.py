"""The optional LLM judge: a configured model decides whether an answer says what the
expected answer says, where string matching could not tell (a paraphrase, a unit spelled
out). Its tokens are the provider's and are reported apart from the agent's.
"""

from __future__ import annotations

from dataclasses import dataclass

import llm

INSTRUCTIONS = (
    "You grade answers to questions. Given the question, the expected answer and a "
    "candidate answer, reply with exactly one word: CORRECT if the candidate states the "
    "expected answer (paraphrases, units and extra words are fine), INCORRECT if it states "
    "something else, hedges between several answers, or does not answer."
)


@dataclass(frozen=True)
class Verdict:
    correct: bool
    prompt_tokens: int
    completion_tokens: int


def judge(handle: str, question: str, expected: str, answer: str) -> Verdict:
    """Ask the judge model; anything but a reply starting with CORRECT is incorrect.
    Raises llm.LLMError when the model cannot be reached."""
    reply = llm.chat(
        handle,
        [
            {"role": "system", "content": INSTRUCTIONS},
            {
                "role": "user",
                "content": f"Question: {question}\nExpected answer: {expected}\n"
                f"Candidate answer: {answer}",
            },
        ],
        temperature=0.0,
        max_tokens=5,
    )
    word = (reply.content or "").strip().upper()
    return Verdict(word.startswith("CORRECT"), reply.prompt_tokens, reply.completion_tokens)
