"""`manage.py evaluate`: generated or a user's material, arms, the printed table and the
JSON and CSV it writes; bad input is a clear error before anything is made."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from agents.models import Agent
from evaluation import material
from tests.factories import say
from tests.llm_server import _last_user_text


def evaluate(*args: str) -> str:
    out = io.StringIO()
    call_command("evaluate", *args, stdout=out)
    return out.getvalue()


def test_an_evaluation_of_generated_material_writes_its_report(make_agent, llm, tmp_path):
    agent = make_agent()
    report_path, answers_path = tmp_path / "report.json", tmp_path / "answers.csv"
    plot_path = tmp_path / "plot.svg"

    printed = evaluate(
        "--agent", agent.id, "--material", "arithmetic", "--count", "1", "--seed", "7",
        "--arms", "off", "on", "--json", str(report_path), "--csv", str(answers_path),
        "--svg", str(plot_path),
    )  # fmt: skip

    (item,) = material.stateful_arithmetic(7, 1)
    written = json.loads(report_path.read_text())
    assert [arm["arm"] for arm in written["arms"]] == ["off", "on"]
    assert [arm["questions"] for arm in written["arms"]] == [len(item.questions)] * 2
    assert written["arms"][1]["sleeptime_tokens"] > 0
    rows = list(csv.DictReader(answers_path.read_text().splitlines()))
    assert [row["expected"] for row in rows] == [q.answer for q in item.questions] * 2
    assert "break-even" in printed and "sleep-time/ctx" in printed
    assert plot_path.read_text().count("<polyline") == 2
    # The copies are gone; the agent evaluated is untouched.
    assert list(Agent.objects.values_list("pk", flat=True)) == [agent.id]


def test_a_users_jsonl_is_replayed_and_graded(make_agent, llm, tmp_path):
    agent = make_agent()
    path = tmp_path / "mine.jsonl"
    path.write_text(
        json.dumps({"context": "The door code is 4821.", "question": "Code?", "answer": "4821"})
    )
    llm.main.answer_with(lambda body: "The code is 4821.")
    report_path = tmp_path / "report.json"

    evaluate(
        "--agent",
        agent.id,
        "--material",
        f"jsonl:{path}",
        "--arms",
        "off",
        "--json",
        str(report_path),
    )

    (arm,) = json.loads(report_path.read_text())["arms"]
    assert (arm["questions"], arm["correct"]) == (1, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arms", "sideways"], "arm"),
        (["--material", "poetry"], "--material"),
        (["--material", "jsonl:/nonexistent.jsonl"], "No such file"),
        (["--agent", "agent-missing"], "No agent"),
        (["--material", "history:/nonexistent.jsonl"], "No such file"),
    ],
)
def test_bad_input_is_a_clear_error_and_makes_nothing(make_agent, llm, args, message):
    agent = make_agent()
    base = ["--agent", agent.id] if "--agent" not in args else []
    with pytest.raises(CommandError, match=message):
        evaluate(*base, *args)
    assert Agent.objects.count() == 1


def test_an_agents_history_is_replayed_with_the_questions_written_for_it(make_agent, llm, tmp_path):
    agent = make_agent()
    say(agent, "Our wifi password is tulip-42.")
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"question": "The wifi password?", "answer": "tulip-42"}))
    llm.main.answer_with(lambda body: "It is tulip-42.")
    report_path = tmp_path / "report.json"

    printed = evaluate(
        "--agent", agent.id, "--material", f"history:{questions}", "--arms", "off",
        "--json", str(report_path),
    )  # fmt: skip

    assert "(an estimate" in printed
    written = json.loads(report_path.read_text())
    (arm,) = written["arms"]
    assert (arm["questions"], arm["correct"]) == (1, 1)
    # The copy was told what the agent was told, once, and then asked.
    said = [_last_user_text(request["messages"]) for request in llm.requests]
    assert said.count("Our wifi password is tulip-42.") == 2  # the agent's turn, the copy's
    assert said[-1] == "The wifi password?"
