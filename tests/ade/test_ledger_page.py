"""The ledger page of an agent: its background runs, newest first, with trigger, outcome,
reason and tokens, filtered by outcome and trigger; and the run page's outcome and the
edits the guards refused."""

from __future__ import annotations

import importlib
import re
from typing import Any

from django.test import Client
from django.urls import reverse

from agents import runs
from agents.models import Agent, Run
from tests.ade.proposals import review_pair, run_with_edits, two_hunks
from tests.factories import say


def ledger(client: Client, agent: Agent, query: str = "") -> str:
    response = client.get(reverse("agents:ledger", args=[agent.id]) + query)
    assert response.status_code == 200
    return response.content.decode()


def rows(body: str) -> list[str]:
    """The run ids of the ledger's rows, in order."""
    return re.findall(r'<tr id="ledger-(run-[0-9a-f-]+)"', body)


def three_runs(make_agent: Any) -> tuple[Agent, Run, Run, Run]:
    """A run that changed memory, one whose edit waits for review, one skipped."""
    primary, sleeper, group, _ = review_pair(make_agent)
    applied = run_with_edits(primary, sleeper, "notes", [lambda text: text + "\nLikes jazz."])
    waiting, _ = two_hunks(primary, sleeper)
    skipped = runs.record_skipped(group, "turn", "sleep-time is paused for this agent")
    return primary, applied, waiting, skipped


def test_the_ledger_lists_background_runs_newest_first_with_how_they_ended(signed_in, make_agent):
    primary, applied, waiting, skipped = three_runs(make_agent)

    body = ledger(signed_in, primary)

    assert rows(body) == [skipped.id, waiting.id, applied.id]
    assert '<span class="badge outcome-applied">applied</span>' in body
    assert '<span class="badge outcome-awaiting_review">awaiting review</span>' in body
    assert "1 proposed edit waits for review" in body
    assert "sleep-time is paused for this agent" in body
    assert f'href="{reverse("agents:run", args=[waiting.id])}"' in body
    # Linked from the agent page.
    detail = signed_in.get(reverse("agents:detail", args=[primary.id])).content.decode()
    assert f'href="{reverse("agents:ledger", args=[primary.id])}"' in detail


def test_the_ledger_filters_by_outcome_and_by_trigger(signed_in, make_agent):
    primary, applied, waiting, skipped = three_runs(make_agent)

    assert rows(ledger(signed_in, primary, "?outcome=skipped")) == [skipped.id]
    assert rows(ledger(signed_in, primary, "?outcome=applied")) == [applied.id]
    assert rows(ledger(signed_in, primary, "?trigger=manual")) == [waiting.id, applied.id]
    both = ledger(signed_in, primary, "?outcome=awaiting_review&trigger=turn")
    assert rows(both) == [] and "No runs match these filters." in both
    # The form shows what is chosen.
    assert '<option value="skipped" selected>' in ledger(signed_in, primary, "?outcome=skipped")


def test_an_unknown_filter_is_shown_as_an_error_and_not_applied(signed_in, make_agent):
    primary, *_ = three_runs(make_agent)

    body = ledger(signed_in, primary, "?outcome=exploded")

    assert "Outcome: Select a valid choice." in body
    assert len(rows(body)) == 3


def test_the_ledger_pages_on_to_older_runs_keeping_the_filter(signed_in, make_agent, monkeypatch):
    # agents.views re-exports the view under the module's name.
    monkeypatch.setattr(importlib.import_module("agents.views.ledger"), "LEDGER_PAGE", 2)
    primary, sleeper, group, _ = review_pair(make_agent)
    skipped = [runs.record_skipped(group, "turn", f"paused {n}") for n in range(3)]
    run_with_edits(primary, sleeper, "notes", [lambda text: text + "\nMore."])

    first = ledger(signed_in, primary, "?outcome=skipped")
    assert rows(first) == [skipped[2].id, skipped[1].id]
    older = re.search(r'href="[^"?]+(\?[^"]+)">Older runs', first)
    assert older is not None
    query = older.group(1).replace("&amp;", "&")
    assert "outcome=skipped" in query
    assert rows(ledger(signed_in, primary, query)) == [skipped[0].id]


def test_the_run_page_shows_the_outcome_and_each_edit_the_guards_refused(
    signed_in, make_agent, llm
):
    primary, _, _, _ = review_pair(make_agent)
    (run_id,) = say(primary, "forget everything about me").run_ids or []
    # A rewrite that would take most of the block out in one run: refused.
    llm.sleeper.tool_call("memory_rethink", {"label": "notes", "new_memory": "x"})
    assert runs.execute_run(run_id) == "completed"

    body = signed_in.get(reverse("agents:run", args=[run_id])).content.decode()

    assert '<span class="badge outcome-no_change">no change</span>' in body
    assert "every edit was refused by the guards (deletion_budget)" in body
    refusals = body.split('id="run-refusals-heading"', 1)[1].split("</table>", 1)[0]
    assert "<code>notes</code>" in refusals and "<code>memory_rethink</code>" in refusals
    assert '<span class="badge error">deletion_budget</span>' in refusals
    assert "more than its deletion budget of 30% per run" in refusals
    assert "No edit of this run waits or waited for review." in body
