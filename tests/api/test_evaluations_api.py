"""/v1/evaluations: making an evaluation of an agent or a model on each kind of material,
refusing bad requests before anything is made, reading evaluations and their reports (JSON,
CSV, SVG) within the organization, and cancelling, resuming and deleting them.

Tests run inside a transaction, so the first step's on-commit enqueue never fires: a test
carries out the steps itself (`services.run_step`), as a worker would. The model is the
scripted one.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, get_args
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from evaluation import material, services
from evaluation.models import Evaluation, EvaluationStatus
from evaluation.schemas import EvaluationOut, Status
from tests.factories import TEST_MODEL, build_team, say
from tests.http import post

DOOR = {"context": "The door code is 4821.", "question": "What is the door code?", "answer": 4821}
SVG = "{http://www.w3.org/2000/svg}"
AGENT = "<the agent's id>"  # in a request body: the id of the test's agent


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.content
    return response.json()


def create(api: Any, **body: Any) -> Any:
    body.setdefault("material", {"kind": "arithmetic", "count": 1})
    if "agent_id" not in body:
        body.setdefault("model", TEST_MODEL)
    return post(api, "/v1/evaluations", body)


def ask(question: str, answer: Any) -> dict[str, Any]:
    return {"question": question, "answer": answer}


def history(*questions: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "history", "questions": list(questions)}


def door_evaluation(api: Any, llm: Any, **body: Any) -> dict[str, Any]:
    """An evaluation of one question the scripted model answers right."""
    llm.main.answer_with(lambda request: "The code is 4821.")
    spec = {"kind": "jsonl", "text": json.dumps(DOOR)}
    return ok(create(api, material=spec, **body))


def carried_out(evaluation_id: str, steps: int = 20) -> Evaluation:
    """Its steps done one after another, as the workers would, until it stops."""
    for _ in range(steps):
        services.run_step(evaluation_id)
        evaluation = Evaluation.objects.get(pk=evaluation_id)
        if evaluation.status not in (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING):
            return evaluation
    raise AssertionError(f"{evaluation_id} did not stop after {steps} steps")


def rows(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


# --- Making one ----------------------------------------------------------------------------


def test_an_agents_evaluation_is_queued_with_what_it_will_replay_and_an_estimate(
    api, user, make_agent, llm
):
    agent = make_agent(name="pal")

    made = ok(
        create(
            api,
            agent_id=agent.id,
            material={"kind": "arithmetic", "count": 2, "seed": 7},
            arms=["off", "on:passes=2"],
        )
    )

    items = material.stateful_arithmetic(7, 2)
    assert made["status"] == "queued" and made["reason"] is None
    assert (made["agent_id"], made["agent_name"], made["model"]) == (agent.id, "pal", TEST_MODEL)
    assert made["arms"] == ["off", "on:passes=2"]
    assert made["material"] == {
        "kind": "arithmetic",
        "seed": 7,
        "items": 2,
        "questions": sum(len(item.questions) for item in items),
    }
    assert made["progress"] == {"steps_done": 0, "steps_total": 4, "percent": 0.0}
    tokens = made["tokens"]
    assert (tokens["used"], tokens["discarded"], tokens["estimated_is_estimate"]) == (0, 0, True)
    assert tokens["estimated"] > 0
    assert made["started_at"] is None and made["finished_at"] is None
    stored = Evaluation.objects.get(pk=made["id"])
    assert (stored.owner, stored.organization_id) == (user, agent.organization_id)
    assert ok(api.get(f"/v1/evaluations/{made['id']}")) == made


def test_a_bare_models_evaluation_compares_sleep_time_off_and_on_by_default(api, llm):
    made = ok(create(api, material={"kind": "personal", "count": 1}, judge_model=TEST_MODEL))

    assert made["agent_id"] is None and made["agent_name"] is None
    assert made["model"] == TEST_MODEL and made["judge_model"] == TEST_MODEL
    assert made["arms"] == ["off", "on"]
    # The seed left out is the default one, said so the material can be made again.
    assert made["material"]["seed"] == 1
    assert made["material"]["items"] == 1 and made["progress"]["steps_total"] == 2


def test_a_users_jsonl_is_the_material(api, llm):
    pets = [ask("Pets?", "a cat"), ask("How many?", 1)]
    lines = [DOOR, {"id": "pets", "turns": ["I have a cat."], "questions": pets}]
    text = "\n".join(json.dumps(line) for line in lines)

    made = ok(create(api, material={"kind": "jsonl", "text": text}, arms=["off"]))

    assert made["material"] == {"kind": "jsonl", "seed": None, "items": 2, "questions": 3}
    stored = Evaluation.objects.get(pk=made["id"])
    assert [item["id"] for item in stored.items] == ["line-1", "pets"]


def test_an_agents_history_is_replayed_with_the_questions_a_person_wrote(api, make_agent, llm):
    agent = make_agent()
    say(agent, "I moved to Porto last week.")
    say(agent, "My sister Ana lives there too.")
    questions = [ask("Where do I live?", "Porto"), ask("My sister's name?", "Ana")]

    made = ok(create(api, agent_id=agent.id, material=history(*questions)))

    assert made["material"] == {"kind": "history", "seed": None, "items": 1, "questions": 2}
    (item,) = Evaluation.objects.get(pk=made["id"]).items
    assert item["turns"] == ["I moved to Porto last week.", "My sister Ana lives there too."]
    assert [q["answer"] for q in item["questions"]] == ["Porto", "Ana"]


# --- Refusing one --------------------------------------------------------------------------


def test_arms_choose_what_the_questions_see_and_may_name_a_model_with_a_colon(api, llm):
    made = door_evaluation(api, llm, arms=["off", "off:context=memory", "on:context=full:passes=2"])

    assert made["arms"] == ["off", "off:context=memory", "on:context=full:passes=2"]
    refused = create(api, material={"kind": "arithmetic"}, arms=["on:model=ollama/llama3.1:8b"])
    # Read as one handle: refused for its provider, not as a malformed arm.
    assert refused.status_code == 400, refused.content
    assert "'ollama' is not configured" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        ({"model": None}, 400, "Choose an agent to copy (agent_id) or a model"),
        ({"agent_id": AGENT, "model": TEST_MODEL}, 400, "not both"),
        ({"agent_id": "agent-missing"}, 404, "agent-missing"),
        ({"agent_id": ""}, 422, "agent_id"),
        ({"model": "gpt-4.1"}, 400, "must look like 'provider/model-name'"),
        ({"model": "nowhere/model"}, 400, "'nowhere' is not configured"),
        ({"judge_model": "nowhere/judge"}, 400, "'nowhere' is not configured"),
        ({"arms": ["on:model=nowhere/x"]}, 400, "'nowhere' is not configured"),
        ({"arms": []}, 422, "arms"),
        ({"arms": ["sideways"]}, 422, "'sideways') is not an arm"),
        ({"arms": ["off:passes=2"]}, 422, "is not an arm"),
        ({"arms": ["on:passes=0"]}, 422, "is not an arm"),
        ({"arms": ["on", "on"]}, 422, "each arm once"),
        ({"arms": [f"on:passes={n}" for n in range(1, 8)]}, 422, "at most 6"),
        ({"material": {"kind": "poetry"}}, 422, "poetry"),
        ({"material": {"kind": "arithmetic", "count": 0}}, 422, "count"),
        ({"material": {"kind": "personal", "count": 51}}, 422, "count"),
        ({"material": {"kind": "arithmetic", "seed": True}}, 422, "seed must be a number"),
        ({"material": {"kind": "jsonl", "text": "  \n "}}, 422, "must not be blank"),
        ({"material": {"kind": "jsonl", "text": "{not json"}}, 400, "line 1: not JSON"),
        ({"material": {"kind": "jsonl", "text": '{"context": "x"}'}}, 400, "missing questions"),
        ({"material": history(ask("Code?", "4821"))}, 400, "choose the agent (agent_id)"),
        ({"agent_id": AGENT, "material": history()}, 422, "questions"),
        ({"agent_id": AGENT, "material": history(ask(" ", "x"))}, 422, "must not be blank"),
        ({"agent_id": AGENT, "material": history(ask("Where?", True))}, 422, "answer"),
        ({"agent_id": AGENT, "material": history(ask("Where?", "Porto"))}, 400, "no messages"),
        ({"token_budget": 0}, 422, "token_budget"),
        ({"keep_copies": "yes"}, 422, "keep_copies must be true or false"),
    ],
)
def test_a_bad_request_says_what_is_wrong_and_makes_nothing(
    api, make_agent, llm, body, status, said
):
    agent = make_agent()
    if body.get("agent_id") == AGENT:
        body = {**body, "agent_id": agent.id}

    response = create(api, **body)

    assert response.status_code == status, response.content
    assert said in json.dumps(response.json()["detail"]), response.json()
    assert not Evaluation.objects.exists()
    assert list(Agent.objects.values_list("pk", flat=True)) == [agent.id]


# --- Reading -------------------------------------------------------------------------------


def test_the_list_is_newest_first_and_pages(api, llm):
    made = [ok(create(api))["id"] for _ in range(3)]

    listed = ok(api.get("/v1/evaluations"))
    first_page = ok(api.get("/v1/evaluations", {"limit": 2}))
    rest = ok(api.get("/v1/evaluations", {"limit": 2, "after": first_page[-1]["id"]}))
    oldest_first = ok(api.get("/v1/evaluations", {"order": "asc"}))

    assert [e["id"] for e in listed] == made[::-1]
    assert [e["id"] for e in first_page + rest] == made[::-1]
    assert [e["id"] for e in oldest_first] == made


def test_listing_costs_the_same_queries_for_one_or_three(api, user, llm, django_assert_num_queries):
    # Serialized here, as the handler does: a request of the test client resets Django's
    # query log, which CaptureQueriesContext reads.
    def page() -> list[dict[str, Any]]:
        return [EvaluationOut.from_orm(e).model_dump() for e in services.list_evaluations(user)]

    ok(create(api))
    with CaptureQueriesContext(connection) as one:
        assert len(page()) == 1
    queries = len(one.captured_queries)  # read before the next request resets the log
    ok(create(api))
    ok(create(api))
    with django_assert_num_queries(queries):
        assert len(page()) == 3


def test_another_organizations_evaluations_are_not_found(db, django_user_model, llm):
    team = build_team(django_user_model)
    theirs = ok(create(team.editor.api))["id"]
    ours = ok(create(team.outsider.api))["id"]
    path = f"/v1/evaluations/{theirs}"

    assert [e["id"] for e in ok(team.outsider.api.get("/v1/evaluations"))] == [ours]
    for response in (
        team.outsider.api.get(path),
        team.outsider.api.get(f"{path}/report"),
        team.outsider.api.get(f"{path}/report.csv"),
        team.outsider.api.get(f"{path}/plot.svg"),
        post(team.outsider.api, f"{path}/cancel", {}),
        team.outsider.api.delete(path),
        team.outsider.api.get("/v1/evaluations", {"after": theirs}),
    ):
        assert response.status_code == 404, response.content
        assert theirs in response.json()["detail"]
    assert Evaluation.objects.get(pk=theirs).status == EvaluationStatus.QUEUED
    # Every member of the organization reads it.
    assert ok(team.viewer.api.get(path))["id"] == theirs


def test_a_viewer_reads_evaluations_but_cannot_make_or_change_one(db, django_user_model, llm):
    team = build_team(django_user_model)
    made = ok(create(team.editor.api))
    path = f"/v1/evaluations/{made['id']}"

    for response in (
        create(team.viewer.api),
        post(team.viewer.api, f"{path}/cancel", {}),
        post(team.viewer.api, f"{path}/resume", {}),
        team.viewer.api.delete(path),
    ):
        assert response.status_code == 403, response.content
        assert "can read but not change" in response.json()["detail"]
    assert Evaluation.objects.count() == 1
    assert ok(team.viewer.api.get(path))["status"] == "queued"
    assert ok(team.viewer.api.get(f"{path}/report"))["items"] == []


# --- The report ----------------------------------------------------------------------------


def test_the_report_grows_with_each_step_and_ends_with_every_arms_answers(api, make_agent, llm):
    agent = make_agent(blocks={"persona": "I keep the keys.", "human": ""})
    made = door_evaluation(api, llm, agent_id=agent.id, arms=["off", "on"])
    path = f"/v1/evaluations/{made['id']}"

    services.run_step(made["id"])
    partial = ok(api.get(f"{path}/report"))
    assert partial["status"] == "queued"
    assert [item["arm"] for item in partial["items"]] == ["off"]
    assert ok(api.get(path))["progress"] == {"steps_done": 1, "steps_total": 2, "percent": 50.0}
    assert len(rows(api.get(f"{path}/report.csv"))) == 1

    carried_out(made["id"])
    done = ok(api.get(f"{path}/report"))
    evaluation = ok(api.get(path))

    assert evaluation["status"] == done["status"] == "completed"
    assert evaluation["progress"]["percent"] == 100.0
    assert evaluation["started_at"] and evaluation["finished_at"]
    off, on = done["arms"]
    assert (off["arm"], on["arm"]) == ("off", "on")
    assert [(arm["questions"], arm["correct"], arm["accuracy"]) for arm in done["arms"]] == [
        (1, 1, 1.0),
        (1, 1, 1.0),
    ]
    assert off["sleeptime_tokens"] == 0 < on["sleeptime_tokens"]
    for item in done["items"]:
        assert item["memory"]["persona"] == "I keep the keys."
        (answer,) = item["answers"]
        assert (answer["expected"], answer["answer"], answer["correct"]) == (
            "4821",
            "The code is 4821.",
            True,
        )
    # Provider-reported tokens add up over the steps; the estimate stays apart.
    spent = sum(step.tokens for step in Evaluation.objects.get(pk=made["id"]).steps.all())
    assert evaluation["tokens"]["used"] == done["tokens_used"] == spent > 0
    assert evaluation["tokens"]["estimated"] == made["tokens"]["estimated"]


def test_the_answers_download_as_csv_a_row_a_question(api, llm):
    made = ok(create(api, material={"kind": "arithmetic", "count": 1, "seed": 3}, arms=["off"]))
    carried_out(made["id"])

    response = api.get(f"/v1/evaluations/{made['id']}/report.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="{made["id"]}.csv"'
    (item,) = material.stateful_arithmetic(3, 1)
    answers = rows(response)
    assert [row["question"] for row in answers] == [q.text for q in item.questions]
    assert [row["expected"] for row in answers] == [q.answer for q in item.questions]
    assert {row["arm"] for row in answers} == {"off"}


def test_the_plot_is_an_svg_with_a_point_and_a_curve_per_arm(api, llm):
    made = door_evaluation(api, llm, arms=["off", "on:passes=2"])
    carried_out(made["id"])

    response = api.get(f"/v1/evaluations/{made['id']}/plot.svg")

    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    svg = ElementTree.fromstring(response.content)
    points = {c.get("data-arm"): c.get("data-accuracy") for c in svg.iter(f"{SVG}circle")}
    assert points == {"off": "1.0", "on:passes=2": "1.0"}
    assert [line.get("data-arm") for line in svg.iter(f"{SVG}polyline")] == ["off", "on:passes=2"]


# --- Cancel, resume, delete ----------------------------------------------------------------


def test_a_queued_evaluation_is_cancelled_once_and_only_then_deleted(api, user, llm):
    made = ok(create(api))
    path = f"/v1/evaluations/{made['id']}"

    refused = [post(api, f"{path}/resume", {}), api.delete(path)]
    cancelled = ok(post(api, f"{path}/cancel", {}))
    again = post(api, f"{path}/cancel", {})
    not_resumed = post(api, f"{path}/resume", {})

    assert [r.status_code for r in refused] == [409, 409]
    assert "only a paused or failed evaluation resumes" in refused[0].json()["detail"]
    assert "cancel it first" in refused[1].json()["detail"]
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    assert cancelled["reason"] == f"cancelled by {user.get_username()}"
    assert (again.status_code, not_resumed.status_code) == (409, 409)
    assert "nothing to cancel" in again.json()["detail"]
    # A cancelled evaluation takes no more steps.
    assert services.run_step(made["id"]) == "skipped"
    assert ok(api.delete(path)) == {"message": f"Evaluation {made['id']} deleted"}
    assert api.get(path).status_code == 404
    assert not Evaluation.objects.exists()


def test_an_evaluation_over_its_budget_pauses_and_resumes(api, llm):
    made = ok(create(api, token_budget=1))
    path = f"/v1/evaluations/{made['id']}"

    assert carried_out(made["id"]).status == EvaluationStatus.PAUSED
    paused = ok(api.get(path))
    resumed = ok(post(api, f"{path}/resume", {}))
    resumed_twice = post(api, f"{path}/resume", {})

    assert paused["status"] == "paused" and "past its budget of 1" in paused["reason"]
    assert paused["progress"]["steps_done"] == 0
    assert (resumed["status"], resumed["reason"]) == ("queued", None)
    assert resumed_twice.status_code == 409
    # Still over the budget: it pauses again, and a paused evaluation may be cancelled.
    assert carried_out(made["id"]).status == EvaluationStatus.PAUSED
    assert ok(post(api, f"{path}/cancel", {}))["status"] == "cancelled"


def test_a_completed_evaluation_cannot_be_cancelled_and_deleting_it_deletes_its_copies(api, llm):
    made = door_evaluation(api, llm, arms=["off", "on"], keep_copies=True)
    path = f"/v1/evaluations/{made['id']}"
    carried_out(made["id"])
    kept = {item["agent_id"] for item in ok(api.get(f"{path}/report"))["items"]}
    copies = Agent.objects.filter(evaluation_id=made["id"]).exclude(agent_type="sleeptime_agent")
    assert set(copies.values_list("pk", flat=True)) == kept
    assert len(kept) == 2

    refused = post(api, f"{path}/cancel", {})
    deleted = api.delete(path)

    assert refused.status_code == 409 and "completed" in refused.json()["detail"]
    assert deleted.status_code == 200
    assert not Agent.objects.filter(evaluation_id=made["id"]).exists()
    assert api.get(f"{path}/report").status_code == 404


def test_the_status_vocabulary_is_the_models(db):
    assert set(get_args(Status)) == set(EvaluationStatus.values)
