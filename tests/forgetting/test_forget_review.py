"""Forgetting reaches what sleep-time you can trust keeps: proposals waiting for review
(and the reasons they quote) and the ledger's outcome reasons. A matter forgotten must
not survive in a proposal a person has not decided yet."""

from __future__ import annotations

from agents.models import Run
from forgetting import tasks
from forgetting.services import request_forget
from memory import services as memory_services
from memory.models import Proposal
from memory.services import Actor
from tests.agents.faults import execute, pair, started_run
from tests.forgetting.support import grep_database

MATTER = "Zephyr-Quokka"


def test_a_forgotten_matter_leaves_pending_proposals_and_outcome_reasons(make_agent, llm):
    primary, _, _ = pair(make_agent, tools=["forget"])
    # A run whose every edit the guards refused: the ledger quotes what it tried.
    looping = started_run(primary, f"I lead {MATTER}")
    llm.sleeper.tool_call("memory_insert", {"label": "human", "new_str": f"Leads {MATTER}. " * 40})
    looping = execute(looping)
    assert MATTER in looping.outcome_reason
    # A run whose edit waits for review on the `persona` block.
    persona = memory_services.get_agent_block(primary, "persona")
    memory_services.update_block(
        persona.id, actor=Actor.system(), **memory_services.policy_fields("review")
    )
    proposing = started_run(primary, f"{MATTER} launches on May 3")
    llm.sleeper.tool_call("memory_insert", {"label": "persona", "new_str": f"Helps with {MATTER}"})
    proposing = execute(proposing)
    (proposal,) = Proposal.objects.filter(run_id=proposing.id)
    assert MATTER in proposal.proposed_value
    job = request_forget(primary, MATTER, who="7")

    assert tasks.run_forget_job(job.id) == "completed"

    assert grep_database(MATTER) == {}
    proposal.refresh_from_db()
    assert "[forgotten]" in proposal.proposed_value
    assert "[forgotten]" in Run.objects.get(pk=looping.id).outcome_reason
