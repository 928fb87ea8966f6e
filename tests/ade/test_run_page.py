"""The page of one background run: what it read, did, cost and changed, and undoing it.

Runs are made with the real services: a turn of a primary with sleep-time starts one,
and the test executes it as a worker would, with the scripted model making the edit.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from agents import runs, sleeptime
from agents.loop import InputMessage
from agents.models import Agent, Run
from agents.services import send_message
from memory import services as memory_services
from memory.services import Actor
from tests.factories import make_agent as build_agent

PROFILE = "Name: unknown\nLikes: ?\nCity: ?"


def completed_run(
    make_agent: Any, llm: Any, *, said: str = "I am Ada", new_str: str = "Name: Ada"
) -> tuple[Agent, Run]:
    """A primary whose first turn started a run that rewrote the name line."""
    primary = make_agent(name="chat", enable_sleeptime=True, blocks={"human": PROFILE})
    (run_id,) = send_message(primary, [InputMessage(role="user", content=said)]).run_ids or []
    llm.sleeper.tool_call(
        "memory_replace", {"label": "human", "old_str": "Name: unknown", "new_str": new_str}
    )
    assert runs.execute_run(run_id) == "completed"
    return primary, Run.objects.get(pk=run_id)


def queued_run(agent: Agent) -> Run:
    group = sleeptime.group_of(agent)
    assert group is not None
    (run,) = sleeptime.run_now(group)
    return run


def human(agent: Agent) -> str:
    return memory_services.get_agent_block(agent, "human").value


def page(client: Any, run: Run) -> str:
    response = client.get(reverse("agents:run", args=[run.id]))
    assert response.status_code == 200
    return response.content.decode()


def revert(client: Any, run: Run) -> Any:
    return client.post(reverse("agents:run_revert", args=[run.id]), follow=True)


def test_the_page_shows_what_the_run_read_did_cost_and_changed(signed_in, make_agent, llm):
    primary, run = completed_run(make_agent, llm)
    body = page(signed_in, run)
    assert "completed" in body
    assert "turn" in body  # the trigger
    assert f'href="{reverse("agents:detail", args=[primary.id])}"' in body
    assert "user: I am Ada" in body  # the transcript
    assert "<code>memory_replace</code>" in body
    assert "&quot;old_str&quot;: &quot;Name: unknown&quot;" in body  # pretty-printed arguments
    assert "<code>memory_finish_edits</code>" in body
    assert '<span class="line-removed">-Name: unknown' in body
    assert '<span class="line-added">+Name: Ada' in body
    total = run.prompt_tokens + run.completion_tokens
    assert run.prompt_tokens > 0 and run.completion_tokens > 0
    assert f"{run.prompt_tokens} prompt + {run.completion_tokens} completion = {total}" in body
    assert f"{run.duration_ms} ms" in body
    assert "Revert this run" in body


def test_reverting_through_the_page_restores_the_block_and_reports_it(signed_in, make_agent, llm):
    primary, run = completed_run(make_agent, llm)
    assert human(primary) == "Name: Ada\nLikes: ?\nCity: ?"

    response = revert(signed_in, run)

    assert response.redirect_chain == [(reverse("agents:run", args=[run.id]), 302)]
    body = response.content.decode()
    assert "Reverted human (version 2)." in body
    assert human(primary) == PROFILE
    run.refresh_from_db()
    assert run.reverted_at is not None
    assert ">reverted</span>" in body  # the badge


def test_reverting_again_reports_the_edit_as_already_undone(signed_in, make_agent, llm):
    primary, run = completed_run(make_agent, llm)
    revert(signed_in, run)
    body = revert(signed_in, run).content.decode()
    assert "Already undone: human (version 2)." in body
    assert human(primary) == PROFILE


def test_an_edit_changed_again_since_is_reported_as_a_conflict(signed_in, make_agent, llm, user):
    primary, run = completed_run(make_agent, llm)
    block = memory_services.get_agent_block(primary, "human")
    newer = "Name: Ada Lovelace\nLikes: ?\nCity: ?"
    memory_services.update_block(block.id, actor=Actor.for_user(user), value=newer)

    body = revert(signed_in, run).content.decode()

    assert "Not reverted: human (version 2): later edits changed the same lines." in body
    assert "Reverted human" not in body
    assert human(primary) == newer
    run.refresh_from_db()
    assert run.reverted_at is None


def test_a_run_still_in_progress_is_not_reverted_and_says_why(signed_in, make_agent):
    agent = make_agent(enable_sleeptime=True)
    run = queued_run(agent)
    body = revert(signed_in, run).content.decode()
    assert "The run is still in progress; wait for it to end, then revert it." in body
    run.refresh_from_db()
    assert run.status == "created" and run.reverted_at is None


def test_another_persons_run_is_not_found(signed_in, stranger):
    theirs = build_agent(stranger, name="theirs", enable_sleeptime=True)
    run = queued_run(theirs)
    assert signed_in.get(reverse("agents:run", args=[run.id])).status_code == 404
    assert signed_in.post(reverse("agents:run_revert", args=[run.id])).status_code == 404


def test_a_missing_run_is_not_found(signed_in):
    url = reverse("agents:run", args=["run-00000000-0000-0000-0000-000000000000"])
    assert signed_in.get(url).status_code == 404


def test_the_page_needs_a_sign_in_and_reverting_needs_a_post(client, signed_in, make_agent):
    run = queued_run(make_agent(enable_sleeptime=True))
    assert signed_in.get(reverse("agents:run_revert", args=[run.id])).status_code == 405
    signed_in.logout()
    response = client.get(reverse("agents:run", args=[run.id]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_transcript_and_tool_arguments_are_shown_as_text_not_markup(signed_in, make_agent, llm):
    _, run = completed_run(
        make_agent,
        llm,
        said="<script>alert('said')</script>",
        new_str="Name: <script>alert('arg')</script>",
    )
    body = page(signed_in, run)
    assert "<script>alert" not in body
    assert "user: &lt;script&gt;alert(&#x27;said&#x27;)&lt;/script&gt;" in body
    assert "Name: &lt;script&gt;alert(&#x27;arg&#x27;)&lt;/script&gt;" in body
    assert "+Name: &lt;script&gt;" in body  # the diff, too


def test_a_document_digests_tool_calls_come_from_the_run_once_its_agent_is_gone(
    signed_in, make_agent, user
):
    primary = make_agent(enable_sleeptime=True)
    run = Run.objects.create(
        owner=user,
        organization_id=primary.organization_id,
        run_agent_id="agent-deleted",
        primary_agent=primary,
        trigger="digest",
        status="completed",
        metadata={
            "tool_calls": [
                {
                    "id": "call_1",
                    "name": "memory_insert",
                    "arguments": '{"label": "notes", "new_str": "<b>fact</b>"}',
                    "status": "success",
                    "result": "Inserted.",
                }
            ]
        },
    )
    body = page(signed_in, run)
    assert "<code>memory_insert</code>" in body
    assert "&quot;new_str&quot;: &quot;&lt;b&gt;fact&lt;/b&gt;&quot;" in body
    assert "Inserted." in body
    assert "This run changed no memory blocks." in body
    assert "Revert this run" not in body
