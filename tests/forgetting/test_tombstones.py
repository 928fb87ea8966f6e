"""A tombstone records who removed what kind of data and when, and never the text."""

from __future__ import annotations

from django.forms.models import model_to_dict

from forgetting import tasks
from forgetting.models import Tombstone
from forgetting.services import ForgetSpec, forget
from tests.factories import passage, say

TEXT = "Quetzal-Nine"


def test_no_kind_of_tombstone_holds_the_text(make_agent, llm):
    agent = make_agent(blocks={"human": f"Works on {TEXT}"})
    say(agent, f"I work on {TEXT}")
    passage(agent, f"{TEXT} has a budget")

    for kind in ("messages", "passages", "block_text"):
        forget(agent, ForgetSpec(kind=kind, text=TEXT.lower()), who="7")
    job = forget(agent, ForgetSpec(kind="matter", text=TEXT), who=f"agent:{agent.id}")
    tasks.run_forget_job(job.id)

    tombstones = list(Tombstone.objects.order_by("created_at"))
    assert [t.kind for t in tombstones] == ["messages", "passages", "block_text", "matter"]
    assert [t.who for t in tombstones] == ["7", "7", "7", f"agent:{agent.id}"]
    for tombstone in tombstones:
        assert tombstone.agent_id == agent.id
        assert tombstone.created_at is not None
        assert "quetzal" not in str(model_to_dict(tombstone)).lower()
    assert tombstones[0].details["messages"] == 2
    assert tombstones[1].details["passages"] == 1
    # The value rewritten, as a new version; the old version and the new one rewritten.
    assert tombstones[2].details == {"blocks_rewritten": 1, "versions": 2}
