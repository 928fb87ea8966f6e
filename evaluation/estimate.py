"""What an evaluation will probably spend, before it runs: an estimate from the length of
what each model call reads (about four characters a token), never a count. Reports show
it apart from the provider-reported usage, and call it an estimate.

Each replayed turn reads the system prompt, the blocks, the tools and the replay so far;
each sleep-time run reads all of it, and each question too unless the arm asks it against
memory alone. The cost governor's own estimate
of a call's reply and of the calls a run makes (agents.governor.estimate) is used for all
of them.
"""

from __future__ import annotations

from agents import governor
from evaluation.material import Item
from evaluation.runner import Arm, Template

CHARS_PER_TOKEN = 4
# The tool schemas every call carries.
TOOL_TOKENS = 1500


def _tokens(chars: int) -> int:
    return chars // CHARS_PER_TOKEN


def step(template: Template, item: Item, arm: Arm) -> int:
    """Tokens of one arm's copy for one item: replay, sleep-time, questions."""
    base = TOOL_TOKENS + _tokens(len(template.system) + sum(map(len, template.blocks.values())))
    replay = ([f"Context: {item.context}"] if item.context.strip() else []) + list(item.turns)
    total, read = 0, 0
    for number, text in enumerate(replay, start=1):
        read += _tokens(len(text)) + governor.REPLY_TOKENS
        total += governor.estimate(base + read)
        if arm.sleeptime and arm.frequency and number % arm.frequency == 0:
            total += governor.estimate(base + read)
    if arm.sleeptime:
        total += arm.passes * governor.estimate(base + read)
    # Asked against the memory alone, a question reads no replay (the blocks it grew
    # into are not known yet; the template's are in `base`).
    context = read if arm.context == "full" else 0
    for question in item.questions:
        total += governor.estimate(base + context + _tokens(len(question.text)))
    return total


def evaluation(template: Template, items: list[Item], arms: list[Arm]) -> int:
    return sum(step(template, item, arm) for item in items for arm in arms)
