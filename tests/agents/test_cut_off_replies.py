"""A reply cut off at the model's output limit: its tool calls may carry text that lost its
end (a rewrite of a block that stops mid-sentence) even when the arguments still parse, so
none of them runs, and the run says why."""

from __future__ import annotations

from agents import runs, sleeptime
from memory import services as memory_services
from tests.agents.test_runs import pair, say
from tests.llm_server import make_tool_call

PROFILE = "\n".join(
    [
        "Name: Ada Lovelace",
        "Works as: an analyst of engines",
        "Likes: tea, long walks, and mathematics",
        "Lives in: London",
        "Pet: a cat called Bernoulli",
    ]
)


def test_a_rewrite_cut_off_at_the_output_limit_is_not_applied(make_agent, llm):
    primary, _, group = pair(make_agent, blocks={"human": PROFILE})
    say(primary, "By the way, I moved to Paris.")
    (run,) = sleeptime.run_now(group)
    # Valid JSON, but the rewrite lost everything after the second line.
    cut = make_tool_call(
        "memory_rethink",
        {"label": "human", "new_memory": "Name: Ada Lovelace\nLives in: Paris\nLikes: tea, lo"},
    )
    llm.sleeper.reply(tool_calls=[cut], finish_reason="length")

    assert runs.execute_run(run.id) == "completed"

    run.refresh_from_db()
    assert memory_services.get_agent_block(primary, "human").value == PROFILE
    (refusal,) = run.metadata["refusals"]
    assert (refusal["tool"], refusal["guard"]) == ("memory_rethink", "truncated")
    assert run.outcome == "no_change"
    assert "cut off at the output token limit" in run.outcome_reason
    result = runs.run_messages(run).get(tool_call_id=cut.id)
    assert result.tool_status == "error"
    assert "was not run" in result.content
