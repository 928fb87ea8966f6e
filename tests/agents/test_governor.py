"""The cost governor at work: a run over a budget is skipped before it calls the model,
spend figures add up to the runs' token counts, and runs that change nothing come less
often (back-off) until one changes memory or a person runs it."""

from __future__ import annotations

from datetime import timedelta

from accounts.models import Organization
from agents import governor, sleeptime
from agents.models import Agent, Group, Run, RunTrigger
from tests.agents.faults import HUMAN, execute, pair, say, started_run, value
from tests.llm_server import ScriptedLLM

# --- Budgets -----------------------------------------------------------------------------------


def test_a_run_over_the_agents_daily_budget_is_skipped_before_it_calls_the_model(
    make_agent, llm: ScriptedLLM
):
    primary, _, group = pair(make_agent)
    Group.objects.filter(pk=group.pk).update(daily_token_budget=100)
    run = started_run(primary, "Puff is a ginger cat")

    run = execute(run)

    assert llm.sleeper.requests == []
    assert (run.status, run.outcome) == ("completed", "skipped")
    assert "over the agent's daily budget of 100 tokens" in run.outcome_reason
    estimate = run.metadata["estimate_tokens"]
    assert estimate > 100 and f"about {estimate:,} more" in run.outcome_reason
    assert (run.prompt_tokens, run.completion_tokens) == (0, 0)
    assert value(primary) == HUMAN
    group.refresh_from_db()
    assert group.last_processed_seq is None

    # With room in the budget, the next run reads what the skipped one did not.
    Group.objects.filter(pk=group.pk).update(daily_token_budget=None)
    (later,) = sleeptime.run_now(group)
    later = execute(later)
    assert later.outcome == "no_change"
    assert "Puff is a ginger cat" in later.transcript
    assert len(llm.sleeper.requests) == 1


def test_a_run_over_the_organizations_monthly_budget_is_skipped(make_agent, llm: ScriptedLLM):
    primary, _, _ = pair(make_agent)
    first = execute(started_run(primary, "I like tea"))
    spent = first.prompt_tokens + first.completion_tokens
    assert spent > 0
    # Room for a little more than was spent, not for another run.
    Organization.objects.filter(pk=primary.organization_id).update(monthly_token_budget=spent + 10)
    requests = len(llm.sleeper.requests)

    second = execute(started_run(primary, "and coffee"))

    assert len(llm.sleeper.requests) == requests
    assert second.outcome == "skipped"
    assert (
        f"over the organization's monthly budget of {spent + 10:,} tokens: {spent:,} spent"
        in second.outcome_reason
    )


def test_spend_adds_up_to_the_token_counts_of_the_runs(make_agent, llm: ScriptedLLM, settings):
    settings.MODEL_PRICES = {"openai/gpt-4.1": (2.0, 8.0)}
    primary, _, group = pair(make_agent)
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": "Drinks: tea"})
    execute(started_run(primary, "I like tea"))
    execute(started_run(primary, "and coffee"))
    Group.objects.filter(pk=group.pk).update(daily_token_budget=1)
    execute(started_run(primary, "and cocoa"))  # skipped: spends nothing
    background = Run.objects.filter(primary_agent=primary).exclude(trigger=RunTrigger.MESSAGE)
    assert sorted(background.values_list("outcome", flat=True)) == [
        "applied",
        "no_change",
        "skipped",
    ]

    (day,) = governor.spend(Run.objects.filter(primary_agent=primary))

    prompt = sum(run.prompt_tokens for run in background)
    completion = sum(run.completion_tokens for run in background)
    assert prompt > 0 and completion > 0
    assert day["agent_id"] == primary.id
    assert (day["prompt_tokens"], day["completion_tokens"]) == (prompt, completion)
    assert day["total_tokens"] == prompt + completion
    assert day["runs"] == 3
    assert day["cost"] == round((prompt * 2.0 + completion * 8.0) / 1_000_000, 6)
    # The turns of the conversation are not background spend.
    turns = Run.objects.filter(primary_agent=primary, trigger=RunTrigger.MESSAGE)
    assert turns.count() == 3 and all(turn.prompt_tokens > 0 for turn in turns)


def test_spend_is_unpriced_when_a_models_price_is_unknown(make_agent, llm: ScriptedLLM, settings):
    settings.MODEL_PRICES = {}
    primary, _, _ = pair(make_agent)
    execute(started_run(primary, "I like tea"))

    (day,) = governor.spend(Run.objects.filter(primary_agent=primary))

    assert day["total_tokens"] > 0
    assert day["cost"] is None


# --- Back-off -------------------------------------------------------------------------------------


def turns_that_trigger(primary: Agent, turns: range) -> list[int]:
    """Talk once per number in `turns`, carrying out each started run before the next turn."""
    triggered = []
    for number in turns:
        started = say(primary, f"message {number}")
        if started:
            triggered.append(number)
            for run_id in started:
                execute(Run.objects.get(pk=run_id))
    return triggered


def test_runs_that_change_nothing_back_off_and_a_run_that_changes_memory_resets_it(
    make_agent, llm: ScriptedLLM, settings
):
    settings.SLEEPTIME_BACKOFF_MAX = 8
    primary, _, group = pair(make_agent)  # a run after every turn

    # Each quiet run doubles the interval: 1, 2, 4, then 8 turns (the most allowed).
    assert turns_that_trigger(primary, range(1, 16)) == [1, 3, 7, 15]
    group.refresh_from_db()
    assert group.quiet_runs == 4
    assert governor.backoff_factor(group) == 8

    assert turns_that_trigger(primary, range(16, 23)) == []
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": "Talks a lot"})
    assert turns_that_trigger(primary, range(23, 24)) == [23]

    group.refresh_from_db()
    assert group.quiet_runs == 0
    assert "Talks a lot" in value(primary)
    # The next turn runs again; that run changes nothing, so the one after waits.
    assert turns_that_trigger(primary, range(24, 27)) == [24, 26]


def test_the_idle_timer_backs_off_too_and_a_run_a_person_starts_resets_it(
    make_agent, llm: ScriptedLLM, settings
):
    settings.SLEEPTIME_BACKOFF_MAX = 8
    primary, _, group = pair(make_agent, sleeptime_agent_frequency=0, sleeptime_idle_seconds=60)
    Group.objects.filter(pk=group.pk).update(quiet_runs=2)  # two quiet runs: 4 x 60 seconds
    say(primary, "nice weather today")
    primary.refresh_from_db()

    def idle(seconds: int) -> list[Run]:
        now = primary.last_turn_at + timedelta(seconds=seconds)
        return [run for run in sleeptime.fire_idle(now=now) if run.primary_agent_id == primary.id]

    assert idle(61) == []
    assert idle(239) == []
    (run,) = idle(241)
    run = execute(run)
    assert run.outcome == "no_change"
    group.refresh_from_db()
    assert group.quiet_runs == 3

    (manual,) = sleeptime.run_now(group)
    assert execute(manual).outcome == "skipped"  # nothing new since
    group.refresh_from_db()
    assert group.quiet_runs == 0
