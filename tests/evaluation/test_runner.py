"""The evaluation's runs with the scripted model: matched copies per arm, the replay, the
questions asked against the same context, and accounting that adds up to what the
provider reported for every turn and run."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

import pytest

from agents.models import Agent, Run, RunTrigger
from evaluation import report
from evaluation.material import Item, Question
from evaluation.runner import Arm, Template, run_item
from tests.llm_server import _last_user_text

QUESTION = "How many apples do I have now?"
ITEM = Item(
    id="apples",
    kind="arithmetic",
    context="A kitchen.",
    turns=["I have 3 apples.", "I buy 4 more apples."],
    questions=[Question(QUESTION, "7", "total"), Question(QUESTION, "7", "total")],
)


@pytest.fixture
def template(make_agent) -> Template:
    agent = make_agent(blocks={"persona": "I count things.", "human": ""})
    return Template.of(agent)


def knows_apples(body: dict[str, Any]) -> str:
    asked = _last_user_text(body.get("messages") or [])
    return "You have 7 apples." if asked == QUESTION else "Noted."


def test_each_arm_gets_its_own_copy_replays_the_material_and_is_graded(user, template, llm):
    llm.main.answer_with(knows_apples)

    off = run_item(user, template, ITEM, Arm.parse("off"))
    on = run_item(user, template, ITEM, Arm.parse("on:passes=2"))

    copies = Agent.objects.filter(pk__in=[off.agent_id, on.agent_id])
    assert {(a.enable_sleeptime or False) for a in copies} == {False, True}
    for record in (off, on):
        assert [a.correct for a in record.answers] == [True, True]
        assert record.answers[0].answer == "You have 7 apples."
        assert record.memory["persona"] == "I count things."
    assert (off.sleeptime_runs, on.sleeptime_runs) == (0, 2)  # two reflection passes
    assert off.sleeptime_prompt_tokens == 0 < on.sleeptime_prompt_tokens


def test_every_token_counted_is_one_the_provider_reported(user, template, llm):
    llm.main.answer_with(knows_apples)

    record = run_item(user, template, ITEM, Arm.parse("on"))

    turns = Run.objects.filter(primary_agent_id=record.agent_id, trigger=RunTrigger.MESSAGE)
    replay, questions = list(turns.order_by("created_at"))[:3], list(turns)[3:]
    assert record.replay_prompt_tokens == sum(r.prompt_tokens for r in replay) > 0
    assert [a.prompt_tokens for a in record.answers] == [r.prompt_tokens for r in questions]
    assert [a.completion_tokens for a in record.answers] == [r.completion_tokens for r in questions]
    background = Run.objects.filter(primary_agent_id=record.agent_id).exclude(
        trigger=RunTrigger.MESSAGE
    )
    assert record.sleeptime_completion_tokens == sum(r.completion_tokens for r in background)
    # Each question was asked against the same context: the first one's exchange left it.
    first, second = record.answers
    assert first.prompt_tokens == second.prompt_tokens


def answers_from_memory_or_context(body: dict[str, Any]) -> str:
    """The scripted agent knows the total only where it can read it: in the replay still
    in its context, or in the memory block sleep-time wrote."""
    asked = _last_user_text(body.get("messages") or [])
    if asked != QUESTION:
        return "Noted."
    everything = json.dumps(body.get("messages"))
    return (
        "You have 7 apples." if "4 more apples" in everything or "Apples: 7" in everything else "?"
    )


def test_with_sleep_time_questions_are_asked_against_memory_and_it_pays_off(user, template, llm):
    llm.main.answer_with(answers_from_memory_or_context)
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": "Apples: 7"})
    records = [
        run_item(user, template, ITEM, Arm.parse("off")),
        run_item(user, template, ITEM, Arm.parse("off:context=memory")),
        run_item(user, template, ITEM, Arm.parse("on")),
    ]

    off, forgetful, on = report.summarise(records)

    # Without the replay in context and without sleep-time, nothing holds the answer.
    assert (off["accuracy"], forgetful["accuracy"], on["accuracy"]) == (1.0, 0.0, 1.0)
    assert records[2].memory["human"] == "Apples: 7"
    # The learned context is shorter than the replay: each question costs less, and the
    # sleep-time run pays for itself after S / (q_off - q_on) questions.
    assert on["question_tokens"] < off["question_tokens"]
    assert on["break_even_questions"] == round(
        on["sleeptime_tokens"] / (off["question_tokens"] - on["question_tokens"]), 2
    )
    assert off["break_even_questions"] is None


def test_sleep_time_with_the_replay_still_in_context_never_pays_in_tokens(user, template, llm):
    llm.main.answer_with(knows_apples)
    records = [
        run_item(user, template, ITEM, Arm.parse("off")),
        run_item(user, template, ITEM, Arm.parse("on:context=full")),
    ]

    off, on = report.summarise(records)

    assert (off["accuracy"], on["accuracy"]) == (1.0, 1.0)
    # The same context at question time: a question costs the same with sleep-time, so
    # its runs never pay for themselves in tokens.
    assert on["question_tokens"] == off["question_tokens"]
    assert on["sleeptime_tokens"] > 0
    assert on["break_even_questions"] is None
    assert "never" in report.table([off, on])
    rows = report.to_csv(records).splitlines()
    assert len(rows) == 1 + 4 and rows[1].startswith("off,apples,total,")


def test_break_even_is_the_sleep_time_cost_over_the_tokens_each_question_saves():
    assert report._break_even(1000, 300, 500) == 5.0
    assert report._break_even(1000, 500, 500) is None
    assert report._break_even(0, 500, 400) == 0.0


@pytest.mark.parametrize(
    "text", ["sometimes", "on:passes=0", "on:model=", "off:passes=2", "on:speed=3"]
)
def test_a_bad_arm_is_refused_with_its_text(text):
    with pytest.raises(ValueError, match="arm"):
        Arm.parse(text)


def test_the_judge_rules_on_what_matching_missed_and_its_tokens_are_its_own(user, template, llm):
    def agent_or_judge(body: dict[str, Any]) -> str:
        system = str((body.get("messages") or [{}])[0].get("content", ""))
        if system.startswith("You grade answers"):
            return "CORRECT" if "three plus four" in _last_user_text(body["messages"]) else "NO"
        # Right, but no string rule sees it: the last number given is 4.
        asked = _last_user_text(body["messages"])
        return "As many as three plus four." if asked == QUESTION else "Noted."

    llm.main.answer_with(agent_or_judge)

    record = run_item(user, template, ITEM, Arm.parse("off"), judge_model=template.model)

    first = record.answers[0]
    assert (first.correct, first.method) == (True, "judge")
    assert first.judge_prompt_tokens > 0 and first.judge_completion_tokens > 0
    turns = Run.objects.filter(primary_agent_id=record.agent_id, trigger=RunTrigger.MESSAGE)
    assert first.prompt_tokens == list(turns)[-2].prompt_tokens  # the agent's, not the judge's
    (row,) = report.summarise([record])
    assert row["judge_tokens"] == sum(
        a.judge_prompt_tokens + a.judge_completion_tokens for a in record.answers
    )


def test_the_plot_shows_each_arm_where_its_numbers_put_it(user, template, llm):
    llm.main.answer_with(knows_apples)
    records = [
        run_item(user, template, ITEM, Arm.parse("off")),
        run_item(user, template, ITEM, Arm.parse("on")),
    ]
    rows = report.summarise(records)

    drawing = ElementTree.fromstring(report.svg(rows))

    space = "{http://www.w3.org/2000/svg}"
    dots = {dot.get("data-arm"): dot for dot in drawing.iter(f"{space}circle")}
    assert set(dots) == {"off", "on"}
    for row in rows:
        assert float(dots[row["arm"]].get("data-accuracy")) == row["accuracy"]
        assert float(dots[row["arm"]].get("data-tokens")) == row["question_tokens"]
    curves = {line.get("data-arm"): line for line in drawing.iter(f"{space}polyline")}
    on = next(row for row in rows if row["arm"] == "on")
    costs = [float(value) for value in curves["on"].get("data-costs").split()]
    assert len(costs) == 20
    assert costs[0] == pytest.approx(on["question_tokens"] + on["sleeptime_tokens"], abs=0.01)
    assert costs[9] == pytest.approx(on["question_tokens"] + on["sleeptime_tokens"] / 10, abs=0.01)


def test_a_model_handle_with_a_colon_is_one_arm_option():
    arm = Arm.parse("on:model=ollama/llama3.1:8b:passes=2")

    assert (arm.model, arm.passes, arm.context) == ("ollama/llama3.1:8b", 2, "memory")
    with pytest.raises(ValueError, match="8b"):
        Arm.parse("on:passes=2:8b")
