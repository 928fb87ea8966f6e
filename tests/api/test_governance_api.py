"""Sleep-time you can trust, through the API: the ledger of background runs, review of the
edits held as proposals, pause, token budgets and spend, and who may set what.

Tests run inside a transaction, so the queue's on-commit enqueue never fires: each test
carries out the runs itself (`runs.execute_run`), as a worker would. The sleep-time model
is the scripted one (its default reply finishes without editing).
"""

from __future__ import annotations

from typing import Any, get_args

import pytest

from agents import runs
from agents.models import Agent, Group, Run, RunOutcome, RunTrigger
from agents.schemas import Outcome, Trigger
from tests.factories import TEST_MODEL, build_team, pair, say
from tests.http import patch, post
from tests.llm_server import make_tool_call

PROFILE = "Name: unknown\nLikes: ?\nCity: ?"


# --- Helpers --------------------------------------------------------------------------------


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.content
    return response.json()


def sleep_pair(api: Any, make_agent: Any, **overrides: Any) -> tuple[Agent, Group]:
    """A primary whose sleep-time agent runs after every turn."""
    overrides.setdefault("blocks", {"human": PROFILE})
    primary, _, group = pair(make_agent, **overrides)
    every_turn = {"manager_config": {"sleeptime_agent_frequency": 1}}
    ok(patch(api, f"/v1/groups/{group.id}", every_turn))
    return primary, group


def triggered_run(primary: Agent, text: str = "I am Ada") -> str:
    """One turn of the primary; the id of the sleep-time run it triggered."""
    (run_id,) = say(primary, text).run_ids
    return run_id


def carried_out(run_id: str) -> Run:
    runs.execute_run(run_id)
    return Run.objects.get(pk=run_id)


def edit(label: str, old: str, new: str) -> Any:
    return make_tool_call("memory_replace", {"label": label, "old_str": old, "new_str": new})


def ids(answer: list[dict[str, Any]]) -> list[str]:
    return [run["id"] for run in answer]


def human(api: Any, primary: Agent) -> dict[str, Any]:
    return ok(api.get(f"/v1/agents/{primary.id}/core-memory/blocks/human"))


# --- The ledger ----------------------------------------------------------------------------


def test_the_ledger_vocabulary_is_the_models(db):
    assert set(get_args(Outcome)) == set(RunOutcome.values)
    assert set(get_args(Trigger)) == set(RunTrigger.values)


def test_runs_are_listed_by_outcome_and_trigger_with_their_reasons(api, make_agent, llm):
    primary, group = sleep_pair(api, make_agent)
    llm.sleeper.reply(tool_calls=[edit("human", "Name: unknown", "Name: Ada")])
    applied = carried_out(triggered_run(primary, "I am Ada"))
    quiet = carried_out(triggered_run(primary, "It is raining"))
    manual = carried_out(ok(post(api, f"/v1/groups/{group.id}/run", {}))[0]["id"])
    ok(post(api, f"/v1/groups/{group.id}/pause", {}))
    skipped = Run.objects.get(pk=triggered_run(primary, "Still raining"))
    outcomes = [run.outcome for run in (applied, quiet, manual, skipped)]
    assert outcomes == ["applied", "no_change", "skipped", "skipped"]

    def listed(**query: Any) -> list[str]:
        return ids(ok(api.get("/v1/runs", {"agent_id": primary.id, **query})))

    assert listed(outcome="applied") == [applied.id]
    assert listed(outcome=["no_change", "skipped"]) == [skipped.id, manual.id, quiet.id]
    assert listed(outcome="no_change") == [quiet.id]
    assert listed(trigger="manual") == [manual.id]
    assert listed(trigger="turn") == [skipped.id, quiet.id, applied.id]
    assert listed(trigger="turn", outcome="skipped") == [skipped.id]
    assert listed(trigger=["manual", "idle"], outcome="applied") == []

    ledger = ok(api.get(f"/v1/agents/{primary.id}/ledger"))
    assert ids(ledger) == [skipped.id, manual.id, quiet.id, applied.id]
    by_id = {run["id"]: run for run in ledger}
    assert by_id[applied.id]["outcome_reason"] is None
    assert by_id[applied.id]["model"] == TEST_MODEL
    assert by_id[quiet.id]["outcome_reason"] == "the agent read everything and changed nothing"
    assert by_id[manual.id]["outcome_reason"] == "no new messages since the last run"
    assert by_id[skipped.id]["outcome_reason"] == "sleep-time is paused for this agent"
    assert by_id[skipped.id]["usage"]["total_tokens"] == 0
    assert ids(ok(api.get(f"/v1/agents/{primary.id}/ledger", {"outcome": "skipped"}))) == [
        skipped.id,
        manual.id,
    ]
    newest, *older = ledger
    page = ok(api.get(f"/v1/agents/{primary.id}/ledger", {"after": newest["id"], "limit": 1}))
    assert ids(page) == [older[0]["id"]]


def test_the_ledger_of_an_agent_that_is_not_there_is_a_404(api):
    response = api.get("/v1/agents/agent-00000000-0000-0000-0000-000000000000/ledger")

    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_a_run_shows_the_edits_the_guards_refused(api, make_agent, llm):
    primary, _ = sleep_pair(api, make_agent)
    llm.sleeper.reply(
        tool_calls=[make_tool_call("memory_rethink", {"label": "human", "new_memory": ""})]
    )

    run = carried_out(triggered_run(primary, "Forget me"))

    shown = ok(api.get(f"/v1/runs/{run.id}"))
    assert shown["outcome"] == "no_change"
    [refusal] = shown["refusals"]
    assert refusal["label"] == "human" and refusal["guard"] == "degenerate"
    assert refusal["reason"] and refusal["reason"] in shown["outcome_reason"]
    assert human(api, primary)["value"] == PROFILE


# --- Review --------------------------------------------------------------------------------


def proposed(api: Any, make_agent: Any, llm: Any, *edits: Any) -> tuple[Agent, dict[str, Any]]:
    """A run of a primary whose `human` block is under review, making `edits`; its
    proposal as the API shows it."""
    primary, _ = sleep_pair(api, make_agent)
    block = ok(
        patch(api, f"/v1/agents/{primary.id}/core-memory/blocks/human", {"policy": "review"})
    )
    assert block["policy"] == "review"
    for call in edits:
        llm.sleeper.reply(tool_calls=[call])
    run = carried_out(triggered_run(primary))
    assert run.outcome == "awaiting_review", run.outcome_reason
    [proposal] = ok(api.get("/v1/proposals", {"agent_id": primary.id, "status": "pending"}))
    assert ok(api.get(f"/v1/runs/{run.id}"))["proposals"] == [proposal["id"]]
    return primary, proposal


def test_a_person_accepts_one_hunk_and_rejects_another_and_the_block_holds_only_the_first(
    api, make_agent, llm
):
    primary, proposal = proposed(
        api,
        make_agent,
        llm,
        edit("human", "Name: unknown", "Name: Ada"),
        edit("human", "City: ?", "City: Porto"),
    )
    assert [(h["removed"], h["added"]) for h in proposal["hunks"]] == [
        (["Name: unknown"], ["Name: Ada"]),
        (["City: ?"], ["City: Porto"]),
    ]
    assert human(api, primary)["value"] == PROFILE  # nothing lands before review

    path = f"/v1/proposals/{proposal['id']}"
    accepted = ok(post(api, f"{path}/accept", {"hunks": [0]}))
    assert [h["status"] for h in accepted["hunks"]] == ["accepted", "pending"]
    assert accepted["status"] == "pending"
    again = post(api, f"{path}/accept", {"hunks": [0]})
    assert again.status_code == 400
    assert "not pending" in again.json()["detail"]
    rejected = ok(post(api, f"{path}/reject", {"hunks": [1]}))

    assert rejected["status"] == "partially_accepted"
    assert rejected["reviewed_by"] == primary.owner.get_username()
    assert human(api, primary)["value"] == "Name: Ada\nLikes: ?\nCity: ?"
    [version] = ok(api.get(f"/v1/blocks/{human(api, primary)['id']}/history", {"limit": 1}))
    assert version["run_id"] == proposal["run_id"]
    added = [line for line in version["diff"].splitlines() if line.startswith("+")]
    assert added == ["+++ human@2", "+Name: Ada"]
    decided = post(api, f"{path}/accept", {})
    assert decided.status_code == 409
    assert "already partially_accepted" in decided.json()["detail"]


def test_accepting_a_proposal_over_a_change_of_the_same_line_is_a_409_and_marks_it_conflict(
    api, make_agent, llm
):
    primary, proposal = proposed(api, make_agent, llm, edit("human", "City: ?", "City: Porto"))
    person = {"value": "Name: unknown\nLikes: ?\nCity: Lisbon"}
    written = ok(patch(api, f"/v1/agents/{primary.id}/core-memory/blocks/human", person))
    assert ok(api.get(f"/v1/proposals/{proposal['id']}"))["conflict"] is True

    response = post(api, f"/v1/proposals/{proposal['id']}/accept", {})

    assert response.status_code == 409
    body = response.json()
    assert "changed since the proposal was made" in body["detail"]
    assert body["current_value"] == person["value"]
    assert body["current_version"] == written["version"]
    shown = ok(api.get(f"/v1/proposals/{proposal['id']}"))
    assert shown["status"] == "conflict"
    assert ok(api.get("/v1/proposals", {"status": "conflict"})) == [shown]
    assert human(api, primary)["value"] == person["value"]


def test_the_schema_documents_the_409s_of_a_review(api):
    paths = ok(api.get("/v1/openapi.json"))["paths"]

    for decision in ("accept", "reject"):
        assert "409" in paths[f"/v1/proposals/{{proposal_id}}/{decision}"]["post"]["responses"]


# --- Pause ---------------------------------------------------------------------------------


def test_a_paused_agents_due_trigger_is_a_skipped_run_with_the_reason(api, make_agent, llm):
    primary, group = sleep_pair(api, make_agent)

    paused = ok(post(api, f"/v1/groups/{group.id}/pause", {}))
    run_id = triggered_run(primary)

    assert paused["paused"] is True
    assert ok(api.get(f"/v1/groups/{group.id}"))["paused"] is True
    run = ok(api.get(f"/v1/runs/{run_id}"))
    assert (run["trigger"], run["status"], run["outcome"]) == ("turn", "completed", "skipped")
    assert run["outcome_reason"] == "sleep-time is paused for this agent"
    assert llm.sleeper.pending_replies == 0 and not llm.sleeper.requests

    resumed = ok(post(api, f"/v1/groups/{group.id}/resume", {}))
    assert resumed["paused"] is False
    after = carried_out(triggered_run(primary, "Back again"))
    assert after.outcome == "no_change"


def test_pause_and_budgets_are_set_with_the_group_update_and_null_clears_a_budget(api, make_agent):
    _, _, group = pair(make_agent)
    path = f"/v1/groups/{group.id}"

    both = ok(
        patch(
            api, path, {"paused": True, "daily_token_budget": 5000, "monthly_token_budget": 90000}
        )
    )
    assert (both["paused"], both["daily_token_budget"], both["monthly_token_budget"]) == (
        True,
        5000,
        90000,
    )
    left = ok(patch(api, path, {"daily_token_budget": None, "description": "tends Ada"}))
    assert (left["daily_token_budget"], left["monthly_token_budget"]) == (None, 90000)
    assert left["paused"] is True and left["description"] == "tends Ada"
    assert ok(patch(api, path, {"paused": False}))["paused"] is False


def test_the_group_shows_how_far_quiet_runs_have_backed_it_off(api, make_agent, llm, settings):
    settings.SLEEPTIME_BACKOFF_MAX = 8
    primary, group = sleep_pair(api, make_agent)
    assert ok(api.get(f"/v1/groups/{group.id}"))["backoff_factor"] == 1

    carried_out(triggered_run(primary, "one"))
    shown = ok(api.get(f"/v1/agents/{primary.id}/groups"))[0]

    assert (shown["quiet_runs"], shown["backoff_factor"]) == (1, 2)
    state = ok(api.get(f"/v1/agents/{primary.id}"))
    assert state["multi_agent_group"]["backoff_factor"] == 2


# --- Budgets -------------------------------------------------------------------------------


def test_an_agent_budget_set_through_the_api_skips_its_next_run(api, make_agent, llm):
    primary, group = sleep_pair(api, make_agent)
    assert (
        ok(patch(api, f"/v1/groups/{group.id}", {"daily_token_budget": 10}))["daily_token_budget"]
        == 10
    )

    run = ok(api.get(f"/v1/runs/{carried_out(triggered_run(primary)).id}"))

    assert run["outcome"] == "skipped"
    assert run["outcome_reason"].startswith("over the agent's daily budget of 10 tokens")
    assert run["usage"]["total_tokens"] == 0
    assert not llm.sleeper.requests


def test_an_organization_budget_set_by_its_admin_skips_the_next_run(api, make_agent, llm):
    primary, _ = sleep_pair(api, make_agent)

    budget = ok(patch(api, "/v1/organization/budget", {"monthly_token_budget": 20}))
    run = carried_out(triggered_run(primary))

    assert budget["monthly_token_budget"] == 20 and budget["daily_token_budget"] is None
    assert budget["limits"] == [
        {"scope": "organization", "period": "monthly", "budget": 20, "spent": 0}
    ]
    assert run.outcome == "skipped"
    assert run.outcome_reason.startswith("over the organization's monthly budget of 20 tokens")
    cleared = ok(patch(api, "/v1/organization/budget", {"monthly_token_budget": None}))
    assert cleared["monthly_token_budget"] is None and cleared["limits"] == []
    assert carried_out(triggered_run(primary, "again")).outcome == "no_change"


def test_only_an_admin_sets_the_organization_budget_and_every_member_reads_it(
    db, django_user_model
):
    team = build_team(django_user_model)
    ok(patch(team.admin.api, "/v1/organization/budget", {"daily_token_budget": 1000}))

    for member in (team.editor, team.viewer):
        refused = patch(member.api, "/v1/organization/budget", {"daily_token_budget": 10**9})
        assert refused.status_code == 403
        assert refused.json()["detail"]
        assert ok(member.api.get("/v1/organization/budget"))["daily_token_budget"] == 1000
    assert (
        "Only an admin"
        in patch(team.editor.api, "/v1/organization/budget", {"daily_token_budget": 1}).json()[
            "detail"
        ]
    )
    # Another organization's budget is its own.
    assert ok(team.outsider.api.get("/v1/organization/budget"))["daily_token_budget"] is None


def test_a_viewer_cannot_pause_or_set_an_agents_budget(db, django_user_model):
    team = build_team(django_user_model)
    primary = ok(
        post(
            team.editor.api,
            "/v1/agents",
            {"name": "pal", "model": TEST_MODEL, "enable_sleeptime": True},
        )
    )
    group_id = primary["multi_agent_group"]["id"]

    for response in (
        patch(team.viewer.api, f"/v1/groups/{group_id}", {"daily_token_budget": 1}),
        post(team.viewer.api, f"/v1/groups/{group_id}/pause", {}),
    ):
        assert response.status_code == 403
    group = ok(team.viewer.api.get(f"/v1/groups/{group_id}"))
    assert (group["paused"], group["daily_token_budget"]) == (False, None)
    assert ok(patch(team.editor.api, f"/v1/groups/{group_id}", {"daily_token_budget": 1}))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/organization/budget", {"daily_token_budget": 0}),
        ("/v1/organization/budget", {"monthly_token_budget": -5}),
        ("/v1/organization/budget", {"monthly_token_budget": True}),
        ("/v1/groups/{group_id}", {"daily_token_budget": 0}),
        ("/v1/groups/{group_id}", {"monthly_token_budget": "many"}),
        ("/v1/agents/{agent_id}/core-memory/blocks/human", {"policy": "sometimes"}),
        ("/v1/agents/{agent_id}/core-memory/blocks/human", {"deletion_budget": 1.5}),
        ("/v1/agents/{agent_id}/core-memory/blocks/human", {"deletion_budget": -0.1}),
    ],
)
def test_a_setting_out_of_range_is_refused_with_a_message_and_changes_nothing(
    api, make_agent, path, body
):
    primary, _, group = pair(make_agent)
    before = (
        ok(api.get("/v1/organization/budget")),
        ok(api.get(f"/v1/groups/{group.id}")),
        human(api, primary),
    )

    response = patch(api, path.format(group_id=group.id, agent_id=primary.id), body)

    assert 400 <= response.status_code < 500, response.content
    assert response.json()["detail"]
    after = (
        ok(api.get("/v1/organization/budget")),
        ok(api.get(f"/v1/groups/{group.id}")),
        human(api, primary),
    )
    assert after == before


# --- Spend ---------------------------------------------------------------------------------


def test_spend_adds_up_to_the_tokens_the_runs_reported(api, make_agent, llm, settings):
    settings.MODEL_PRICES = {TEST_MODEL: (2.0, 8.0)}
    primary, group = sleep_pair(api, make_agent)
    other, _ = sleep_pair(api, make_agent, name="other")
    ok(patch(api, f"/v1/groups/{group.id}", {"daily_token_budget": 1_000_000}))
    llm.sleeper.reply(
        tool_calls=[edit("human", "Name: unknown", "Name: Ada")],
        prompt_tokens=1200,
        completion_tokens=30,
    )
    llm.sleeper.reply(
        tool_calls=[make_tool_call("memory_finish_edits", {})],
        prompt_tokens=1300,
        completion_tokens=5,
    )
    carried_out(triggered_run(primary))
    carried_out(triggered_run(primary, "and again"))  # the default reply's estimated tokens
    carried_out(triggered_run(other, "hello"))
    ok(post(api, f"/v1/groups/{group.id}/pause", {}))
    triggered_run(primary, "paused")  # a skipped run: no tokens

    ledger = ok(api.get("/v1/runs", {"agent_id": primary.id, "background": True}))
    prompt = sum(run["usage"]["prompt_tokens"] for run in ledger)
    completion = sum(run["usage"]["completion_tokens"] for run in ledger)
    assert prompt > 2500 and completion > 35

    spend = ok(api.get(f"/v1/agents/{primary.id}/spend", {"days": 7}))
    [day] = spend["days"]
    assert (day["agent_id"], day["runs"]) == (primary.id, 3)  # the skipped one too
    assert (day["prompt_tokens"], day["completion_tokens"]) == (prompt, completion)
    assert spend["totals"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "runs": 3,
        "cost": pytest.approx((prompt * 2.0 + completion * 8.0) / 1_000_000),
    }
    assert spend["limits"] == [
        {"scope": "agent", "period": "daily", "budget": 1_000_000, "spent": prompt + completion}
    ]

    everyone = ok(api.get("/v1/spend"))
    assert {row["agent_id"] for row in everyone["days"]} == {primary.id, other.id}
    others = ok(api.get("/v1/runs", {"agent_id": other.id, "background": True}))
    other_tokens = sum(run["usage"]["total_tokens"] for run in others)
    assert everyone["totals"]["total_tokens"] == prompt + completion + other_tokens
    assert everyone["totals"]["runs"] == 4
    assert everyone["limits"] == []


def test_spend_of_a_model_without_a_price_has_no_cost(api, make_agent, llm, settings):
    settings.MODEL_PRICES = {}
    primary, _ = sleep_pair(api, make_agent)
    carried_out(triggered_run(primary))

    spend = ok(api.get(f"/v1/agents/{primary.id}/spend"))

    assert spend["totals"]["total_tokens"] > 0
    assert spend["totals"]["cost"] is None and spend["days"][0]["cost"] is None


def test_spend_without_runs_is_empty_and_days_must_be_positive(api, make_agent):
    primary = make_agent()

    assert ok(api.get(f"/v1/agents/{primary.id}/spend")) == {
        "days": [],
        "limits": [],
        "totals": {
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
            "runs": 0,
            "cost": 0.0,
        },
    }
    refused = api.get("/v1/spend", {"days": 0})
    assert refused.status_code == 422 and refused.json()["detail"]


# --- Trust and block policies --------------------------------------------------------------


def test_sources_are_untrusted_until_someone_says_otherwise(api):
    folder = ok(post(api, "/v1/folders", {"name": "inbox"}))
    trusted = ok(post(api, "/v1/sources", {"name": "handbook", "trusted": True}))

    assert folder["trusted"] is False and trusted["trusted"] is True
    assert ok(patch(api, f"/v1/folders/{folder['id']}", {"trusted": True}))["trusted"] is True
    assert ok(api.get(f"/v1/sources/{folder['id']}"))["trusted"] is True
    assert ok(patch(api, f"/v1/sources/{trusted['id']}", {"description": "x"}))["trusted"] is True


def test_conversations_are_trusted_unless_created_or_set_otherwise(api, make_agent):
    agent = make_agent()
    path = f"/v1/conversations/?agent_id={agent.id}"

    assert ok(post(api, path, {}))["trusted"] is True
    widget = ok(post(api, path, {"trusted": False, "description": "public widget"}))

    assert widget["trusted"] is False
    assert ok(api.get(f"/v1/conversations/{widget['id']}"))["trusted"] is False
    changed = ok(patch(api, f"/v1/conversations/{widget['id']}", {"summary": "s"}))
    assert changed["trusted"] is False
    assert ok(patch(api, f"/v1/conversations/{widget['id']}", {"trusted": True}))["trusted"]


def test_an_agent_is_created_with_block_policies_and_its_block_routes_show_them(api):
    agent = ok(
        post(
            api,
            "/v1/agents",
            {
                "name": "careful",
                "model": TEST_MODEL,
                "memory_blocks": [
                    {"label": "rules", "value": "Be kind.", "policy": "review"},
                    {"label": "facts", "value": "", "deletion_budget": 0.1},
                    {"label": "law", "value": "No.", "read_only": True},
                ],
            },
        )
    )
    blocks = {block["label"]: block for block in agent["memory"]["blocks"]}

    assert (blocks["rules"]["policy"], blocks["rules"]["deletion_budget"]) == ("review", 0.3)
    assert (blocks["facts"]["policy"], blocks["facts"]["deletion_budget"]) == ("auto", 0.1)
    assert blocks["law"]["policy"] == "read_only"
    path = f"/v1/agents/{agent['id']}/core-memory/blocks"
    assert {b["label"]: b["policy"] for b in ok(api.get(path))} == {
        "rules": "review",
        "facts": "auto",
        "law": "read_only",
    }
    changed = ok(patch(api, f"{path}/rules", {"policy": "auto", "deletion_budget": 0.5}))
    assert (changed["policy"], changed["deletion_budget"]) == ("auto", 0.5)
    assert ok(api.get(f"{path}/rules"))["deletion_budget"] == 0.5
