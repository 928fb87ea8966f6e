"""The evaluation pages: the form that starts one (and refuses bad input visibly, making
nothing), the organization's list, an evaluation's page followed through its steps to
the per-arm table, the plots, each arm's answers and memory, the downloads, and the
cancel, resume and delete buttons within the rules of its status and the reader's role.

Steps are driven in the test by `services.run_step`: the job a step queues is sent on
commit, which never comes inside a test's transaction.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any
from xml.etree import ElementTree

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.models import Agent
from evaluation import services
from evaluation.models import Evaluation, EvaluationStatus
from tests import factories
from tests.ade.evaluations import APPLES, NOTE, QUESTION, answers_from_memory
from tests.factories import build_team, say


def form_data(**overrides: Any) -> dict[str, Any]:
    """What a person submits with the form's defaults: generated arithmetic, off and on."""
    data = {
        "agent": "",
        "model": "",
        "material": "arithmetic",
        "count": "1",
        "seed": "1",
        "jsonl_text": "",
        "questions": "",
        "arm_off": "on",
        "arm_on": "on",
        "extra_model": "",
        "extra_passes": "",
        "extra_frequency": "",
        "judge_model": "",
        "token_budget": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def start(client: Client, **overrides: Any) -> Any:
    return client.post(reverse("evaluation:list"), form_data(**overrides))


def page(client: Client, name: str, *args: str, status: int = 200) -> str:
    response = client.get(reverse(f"evaluation:{name}", args=args))
    assert response.status_code == status
    return response.content.decode()


def run_to_the_end(evaluation: Evaluation) -> Evaluation:
    """Every step, as the workers would do them one job after another."""
    for _ in range(evaluation.steps_total + 2):
        if services.run_step(evaluation.id) == EvaluationStatus.COMPLETED:
            break
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.COMPLETED, evaluation.reason
    return evaluation


def an_evaluation(user: Any, **overrides: Any) -> Evaluation:
    """One made directly by the service, not yet run: a bare model, one context, off and on."""
    overrides.setdefault("model", "openai/gpt-4.1")
    overrides.setdefault("material_spec", {"kind": "arithmetic", "count": 1, "seed": 1})
    overrides.setdefault("arms", ["off", "on"])
    return services.create_evaluation(user, **overrides)


# --- Starting one ---------------------------------------------------------------------------


def test_the_form_starts_an_evaluation_of_an_agent_with_the_arms_chosen(signed_in, make_agent, llm):
    agent = make_agent(name="counter")

    response = start(
        signed_in,
        agent=agent.id,
        count="2",
        seed="7",
        arm_off_memory="on",
        extra_model="openai/gpt-4.1-mini",
        extra_passes="2",
        token_budget="50000",
        keep_copies="on",
    )

    evaluation = Evaluation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("evaluation:detail", args=[evaluation.id])
    assert evaluation.agent == agent
    assert evaluation.arms == [
        "off",
        "off:context=memory",
        "on",
        "on:model=openai/gpt-4.1-mini:passes=2",
    ]
    assert evaluation.material == {"kind": "arithmetic", "count": 2, "seed": 7}
    assert len(evaluation.items) == 2 and evaluation.steps_total == 8
    assert (evaluation.token_budget, evaluation.keep_copies) == (50000, True)
    # The estimate made before it ran is shown, and called one.
    body = signed_in.get(response["Location"]).content.decode()
    estimate = f"{evaluation.estimated_tokens:,}"
    assert evaluation.estimated_tokens > 0
    assert f"Estimated: about {estimate} tokens (an estimate made before it ran" in body
    assert f'about {estimate} <span class="help">an estimate made before it ran' in body
    assert "Evaluation of counter" in body


def test_the_agents_page_links_to_the_form_with_the_agent_chosen(signed_in, make_agent):
    agent = make_agent(name="counter")
    other = make_agent(name="other")

    detail = signed_in.get(reverse("agents:detail", args=[agent.id])).content.decode()
    link = f"{reverse('evaluation:list')}?agent={agent.id}"
    assert f'href="{link}">Evaluate</a>' in detail

    body = signed_in.get(link).content.decode()
    assert '<details class="card evaluation-new" id="new-evaluation" open>' in body
    assert f'<option value="{agent.id}" selected>counter</option>' in body
    assert f'<option value="{other.id}">other</option>' in body
    # And the main navigation leads here.
    assert f'<a href="{reverse("evaluation:list")}" aria-current="page">Evaluations</a>' in body


def test_pasted_jsonl_and_an_uploaded_file_are_the_material(signed_in, llm):
    start(signed_in, model="openai/gpt-4.1", material="jsonl", jsonl_text=APPLES)
    data = form_data(model="openai/gpt-4.1", material="jsonl")
    pears = APPLES.replace("apples", "pears").encode()
    data["jsonl_file"] = SimpleUploadedFile("mine.jsonl", pears)
    signed_in.post(reverse("evaluation:list"), data)

    pasted, uploaded = Evaluation.objects.order_by("created_at")
    assert [item["id"] for item in pasted.items] == ["apples"]
    assert [item["id"] for item in uploaded.items] == ["pears"]
    assert pasted.items[0]["questions"][0] == {"question": QUESTION, "answer": "7", "kind": "jsonl"}
    assert pasted.template["model"] == "openai/gpt-4.1" and pasted.agent is None


def test_the_agents_own_history_is_replayed_with_the_questions_a_person_wrote(
    signed_in, make_agent, llm
):
    agent = make_agent(name="porto")
    say(agent, "We just moved to Porto.")
    say(agent, "My dog is called Rex.")

    start(
        signed_in,
        agent=agent.id,
        material="history",
        questions="Where do I live now? | Porto\n\nWhat is my dog | the good boy called? | Rex\n",
    )

    (item,) = Evaluation.objects.get().items
    assert item["turns"] == ["We just moved to Porto.", "My dog is called Rex."]
    assert item["questions"] == [
        {"question": "Where do I live now?", "answer": "Porto", "kind": "history"},
        {"question": "What is my dog | the good boy called?", "answer": "Rex", "kind": "history"},
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"arm_off": None, "arm_on": None}, "Give at least one arm"),
        ({"material": "jsonl", "jsonl_text": "not json"}, "material: line 1: not JSON"),
        ({"model": "anthropic/claude-3-5-haiku-latest"}, "anthropic"),
        ({"model": ""}, "Choose an agent to copy (agent_id) or a model."),
        ({"material": "history", "questions": "Where?"}, "Line 1: write the question, then"),
        ({"material": "history", "questions": "Where? | Porto"}, "an agent&#x27;s own history"),
        ({"count": "0"}, "Contexts: Ensure this value is greater than or equal to 1."),
    ],
)
def test_a_refused_evaluation_shows_why_keeps_what_was_typed_and_makes_nothing(
    signed_in, llm, monkeypatch, fields, message
):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    typed = {"model": "openai/gpt-4.1", "seed": "1234", "token_budget": "777", **fields}

    response = start(signed_in, **typed)

    body = response.content.decode()
    assert response.status_code == 400
    assert 'class="form-errors" role="alert"' in body
    assert "The evaluation was not started; nothing was created." in body
    assert message in body
    assert 'name="seed" value="1234"' in body and 'name="token_budget" value="777"' in body
    if fields.get("jsonl_text"):
        assert ">\nnot json</textarea>" in body
    assert not Evaluation.objects.exists()
    assert not Agent.objects.exists()


# --- Reading ---------------------------------------------------------------------------------


def test_the_list_shows_the_organizations_evaluations_and_no_one_elses(
    signed_in, user, stranger, make_agent, llm
):
    agent = make_agent(name="counter")
    mine = an_evaluation(user, model=None, agent_id=agent.id)
    bare = an_evaluation(user, arms=["off", "on:passes=2"])
    theirs = an_evaluation(stranger)

    body = page(signed_in, "list")

    assert re.findall(r'<tr id="(evaluation-[^"]+)"', body) == [bare.id, mine.id]
    row = body.split(f'<tr id="{mine.id}"')[1].split("</tr>")[0]
    assert ">counter</a>" in row and ">queued</span>" in row
    assert '<code class="arm">off</code> <code class="arm">on</code>' in row
    assert f'max="{mine.steps_total}" value="0"' in row
    assert "<code>openai/gpt-4.1</code>" in body and ">on:passes=2</code>" in body
    # While one is at work, the table follows it.
    assert 'hx-trigger="every 2s"' in body
    for name in ("detail", "report_json", "report_csv"):
        page(signed_in, name, theirs.id, status=404)
    for name in ("cancel", "resume", "delete"):
        response = signed_in.post(reverse(f"evaluation:{name}", args=[theirs.id]))
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == EvaluationStatus.QUEUED


def test_the_list_costs_the_same_queries_for_one_evaluation_or_many(signed_in, user, llm):
    an_evaluation(user)
    with CaptureQueriesContext(connection) as one:
        page(signed_in, "list")
    an_evaluation(user)
    an_evaluation(user)
    with CaptureQueriesContext(connection) as three:
        page(signed_in, "list")
    assert len(three) == len(one)


def test_a_finished_evaluation_shows_the_table_the_plots_the_answers_and_the_memory(
    signed_in, make_agent, llm
):
    agent = make_agent(name="counter", blocks={"persona": "I count things.", "human": ""})
    llm.main.answer_with(answers_from_memory)
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": NOTE})
    start(signed_in, agent=agent.id, material="jsonl", jsonl_text=APPLES)
    evaluation = run_to_the_end(Evaluation.objects.get())

    body = page(signed_in, "detail", evaluation.id)

    assert ">completed</span>" in body
    assert 'max="2" value="2"' in body and "2 of 2 steps (100%)" in body
    assert f"{evaluation.tokens_used:,}" in body and evaluation.tokens_used > 0
    off_row = body.split('data-arm="off">')[1].split("</tr>")[0]
    on_row = body.split('data-arm="on">')[1].split("</tr>")[0]
    assert "0% (0/1)" in off_row and "baseline" in off_row
    assert "100% (1/1)" in on_row
    # The question costs more with the note in memory: sleep-time never pays in tokens here.
    assert "never" in on_row
    drawing = ElementTree.fromstring(re.search(r"<svg.*?</svg>", body, re.S).group(0))
    dots = drawing.iter("{http://www.w3.org/2000/svg}circle")
    assert {(dot.get("data-arm"), dot.get("data-accuracy")) for dot in dots} == {
        ("off", "0.0"),
        ("on", "1.0"),
    }
    # Each arm's answer to the question, graded, and the memory it had then.
    assert f'{QUESTION}<p class="help">Expected: 7</p>' in body
    assert "I do not know." in body and "You have 7 apples." in body
    assert body.count("verdict-correct") == 1 and body.count("verdict-wrong") == 1
    memories = re.findall(r'<details class="evaluation-memory" data-arm="([^"]+)">', body)
    assert memories == ["off", "on"]
    on_memory = body.split('<details class="evaluation-memory" data-arm="on">')[1]
    assert NOTE in on_memory.split("</details>")[0]
    assert NOTE not in body.split('data-arm="off">')[-1].split("</details>")[0]
    # Nothing polls any more.
    assert 'hx-trigger="every 2s"' not in body


def test_the_reports_download_as_json_and_csv(signed_in, user, llm):
    llm.main.answer_with(answers_from_memory)
    evaluation = run_to_the_end(
        an_evaluation(user, material_spec={"kind": "jsonl", "text": APPLES})
    )

    response = signed_in.get(reverse("evaluation:report_json", args=[evaluation.id]))
    assert response["Content-Disposition"] == f'attachment; filename="{evaluation.id}.json"'
    written = json.loads(response.content)
    assert written == json.loads(json.dumps(services.summary(evaluation)))
    assert [arm["arm"] for arm in written["arms"]] == ["off", "on"]
    assert written["estimated_tokens"] == evaluation.estimated_tokens

    response = signed_in.get(reverse("evaluation:report_csv", args=[evaluation.id]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{evaluation.id}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["arm"], row["question"], row["expected"]) for row in rows] == [
        ("off", QUESTION, "7"),
        ("on", QUESTION, "7"),
    ]
    detail = page(signed_in, "detail", evaluation.id)
    assert f'href="{reverse("evaluation:report_csv", args=[evaluation.id])}" download' in detail


def test_the_page_polls_while_it_runs_and_sends_the_report_when_a_step_finished(
    signed_in, user, llm
):
    evaluation = an_evaluation(user, material_spec={"kind": "jsonl", "text": APPLES})
    url = reverse("evaluation:detail", args=[evaluation.id])

    body = page(signed_in, "detail", evaluation.id)
    assert f'hx-get="{url}?steps=0" hx-trigger="every 2s"' in body
    assert "No step has finished yet; results appear here as they come." in body

    polled = signed_in.get(url + "?steps=0", headers={"HX-Request": "true"}).content.decode()
    assert 'id="evaluation-live"' in polled and "<html" not in polled
    assert 'id="evaluation-report"' not in polled  # nothing new to show

    services.run_step(evaluation.id)
    polled = signed_in.get(url + "?steps=0", headers={"HX-Request": "true"}).content.decode()
    assert "1 of 2 steps (50%)" in polled
    assert f'hx-get="{url}?steps=1"' in polled
    assert '<section id="evaluation-report" class="evaluation-report"' in polled
    assert 'hx-swap-oob="true"' in polled and "So far, from 1 of 2 steps." in polled

    run_to_the_end(evaluation)
    polled = signed_in.get(url + "?steps=2", headers={"HX-Request": "true"}).content.decode()
    assert ">completed</span>" in polled and "hx-trigger" not in polled


def test_a_page_polling_an_evaluation_deleted_meanwhile_says_so_and_stops(signed_in, user, llm):
    evaluation = an_evaluation(user)
    url = reverse("evaluation:detail", args=[evaluation.id])
    services.cancel(evaluation, user)
    services.delete_evaluation(evaluation)

    response = signed_in.get(url + "?steps=0", headers={"HX-Request": "true"})

    assert response.status_code == 286  # htmx stops polling
    assert "This evaluation is gone" in response.content.decode()
    assert signed_in.get(url).status_code == 404


def test_the_list_refreshes_its_table_while_one_runs(signed_in, user, llm):
    evaluation = an_evaluation(user, material_spec={"kind": "jsonl", "text": APPLES})
    url = reverse("evaluation:list")

    polled = signed_in.get(url, headers={"HX-Request": "true"}).content.decode()
    assert polled.startswith('<div id="evaluation-table" hx-get="/evaluations/"')
    assert "Start an evaluation" not in polled and ">queued</span>" in polled

    run_to_the_end(evaluation)
    polled = signed_in.get(url, headers={"HX-Request": "true"}).content.decode()
    assert ">completed</span>" in polled and "hx-trigger" not in polled
    assert 'max="2" value="2"' in polled


# --- Cancel, resume, delete -----------------------------------------------------------------


def act(client: Client, name: str, evaluation: Evaluation) -> str:
    """Press a button on the page; what the page says after the redirect."""
    response = client.post(reverse(f"evaluation:{name}", args=[evaluation.id]), follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_a_queued_evaluation_is_cancelled_then_deleted_but_never_resumed(signed_in, user, llm):
    evaluation = an_evaluation(user)
    body = page(signed_in, "detail", evaluation.id)
    assert ">Cancel</button>" in body and ">Resume</button>" not in body
    assert "Delete evaluation" not in body  # not while queued

    refused = act(signed_in, "delete", evaluation)
    assert f"Evaluation &#x27;{evaluation.id}&#x27; is queued: cancel it first." in refused
    assert Evaluation.objects.filter(pk=evaluation.pk).exists()

    body = act(signed_in, "cancel", evaluation)
    assert "Cancelled. A step at work finishes and is kept; no other starts." in body
    assert ">cancelled</span>" in body and f"cancelled by {user.username}" in body
    assert "Delete evaluation" in body and ">Resume</button>" not in body

    refused = act(signed_in, "resume", evaluation)
    assert "is cancelled: only a paused or failed evaluation resumes." in refused
    refused = act(signed_in, "cancel", evaluation)
    assert "is cancelled: nothing to cancel." in refused

    body = act(signed_in, "delete", evaluation)
    assert f"Deleted evaluation {evaluation.id}." in body
    assert not Evaluation.objects.filter(pk=evaluation.pk).exists()


def test_an_evaluation_paused_by_its_budget_says_why_and_resumes(signed_in, user, llm):
    evaluation = an_evaluation(user, token_budget=1)
    assert services.run_step(evaluation.id) == EvaluationStatus.PAUSED

    body = page(signed_in, "detail", evaluation.id)
    assert ">paused</span>" in body
    assert "past its budget of 1 (0 used)" in body
    assert ">Resume</button>" in body and ">Cancel</button>" in body
    assert "Delete evaluation" in body

    body = act(signed_in, "resume", evaluation)
    assert "Resumed from the steps done." in body and ">queued</span>" in body
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.QUEUED and evaluation.reason == ""


def test_a_failed_step_says_why_and_the_evaluation_resumes_from_it(signed_in, user, llm):
    evaluation = an_evaluation(user, material_spec={"kind": "jsonl", "text": APPLES})
    llm.main.fail(status=400, message="the model is out to lunch", times=50)
    assert services.run_step(evaluation.id) == EvaluationStatus.FAILED

    body = page(signed_in, "detail", evaluation.id)
    assert ">failed</span>" in body
    assert "apples / off:" in body and "the model is out to lunch" in body
    assert ">Resume</button>" in body and ">Cancel</button>" in body
    assert "Delete evaluation" in body

    llm.reset()
    body = act(signed_in, "resume", evaluation)
    assert "Resumed from the steps done." in body and ">queued</span>" in body
    run_to_the_end(evaluation)


def test_deleting_an_evaluation_deletes_the_copies_it_kept(signed_in, user, llm):
    evaluation = run_to_the_end(
        an_evaluation(user, material_spec={"kind": "jsonl", "text": APPLES}, keep_copies=True)
    )
    copies = Agent.objects.filter(evaluation_id=evaluation.id)
    assert copies.count() >= 2
    body = page(signed_in, "detail", evaluation.id)
    assert "Deletes the evaluation, its results and the copies it kept." in body
    assert ">Cancel</button>" not in body  # a completed one has nothing to cancel

    act(signed_in, "delete", evaluation)

    assert not copies.exists()


def test_a_viewer_reads_evaluations_but_cannot_start_or_change_one(django_user_model, llm):
    team = build_team(django_user_model)
    agent = factories.make_agent(team.editor.user, name="shared")
    evaluation = an_evaluation(team.editor.user, model=None, agent_id=agent.id)
    viewer = team.viewer.browser

    body = page(viewer, "list")
    assert evaluation.id in body
    assert "Viewers read evaluations; an editor or admin can start one." in body
    assert "Start evaluation" not in body
    detail = page(viewer, "detail", evaluation.id)
    assert ">Cancel</button>" not in detail and "Delete evaluation" not in detail
    agent_page = viewer.get(reverse("agents:detail", args=[agent.id])).content.decode()
    assert ">Evaluate</a>" not in agent_page

    response = start(viewer, agent=agent.id)
    assert response.status_code == 403
    for name in ("cancel", "delete"):
        response = viewer.post(reverse(f"evaluation:{name}", args=[evaluation.id]))
        assert response.status_code == 403
    assert Evaluation.objects.count() == 1
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.QUEUED
    # The outsider does not see it at all.
    page(team.outsider.browser, "detail", evaluation.id, status=404)
    assert evaluation.id not in page(team.outsider.browser, "list")
