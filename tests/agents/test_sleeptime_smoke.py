"""The sleep-time path end to end inside one process: a turn triggers a run, the run
reads the transcript, edits a shared block, and the primary sees it next turn."""

from __future__ import annotations

from agents import runs
from agents.loop import InputMessage
from agents.models import Run
from agents.services import send_message
from memory import services as memory_services


def test_a_first_turn_starts_a_run_whose_edit_reaches_the_primary(make_agent, llm):
    primary = make_agent(name="chat", blocks={"human": "Name: unknown"}, enable_sleeptime=True)
    result = send_message(primary, [InputMessage(role="user", content="I am Ada, I like tea")])
    assert result.run_ids and len(result.run_ids) == 1
    run = Run.objects.get(pk=result.run_ids[0])
    assert run.status == "created"

    llm.sleeper.tool_call(
        "memory_replace", {"label": "human", "old_str": "unknown", "new_str": "Ada (likes tea)"}
    )
    assert runs.execute_run(run.id) == "completed"

    run.refresh_from_db()
    assert "user: I am Ada, I like tea" in run.transcript
    assert run.metadata["changed"] is True
    assert memory_services.get_agent_block(primary, "human").value == "Name: Ada (likes tea)"
    send_message(primary, [InputMessage(role="user", content="who am I?")])
    assert "Name: Ada (likes tea)" in llm.main.requests[-1]["messages"][0]["content"]
