"""The review queue of an agent: its proposals with their hunks, decided hunk by hunk or
all at once by an editor, conflicts shown as such, viewers reading only; and the agent
page's link counting what waits."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.models import Agent
from memory import services as memory_services
from memory.models import Proposal
from memory.services import Actor
from tests.ade import HTMX
from tests.ade.proposals import review_pair, two_hunks
from tests.factories import build_team, make_agent


def review_page(client: Client, agent: Agent) -> str:
    response = client.get(reverse("agents:review", args=[agent.id]))
    assert response.status_code == 200
    return response.content.decode()


def decide(
    client: Client, agent: Agent, proposal: Proposal, verb: str, hunk: int | None = None
) -> Any:
    url = reverse(f"agents:proposal_{verb}", args=[agent.id, proposal.id])
    return client.post(url, {} if hunk is None else {"hunk": hunk}, **HTMX)


def human(agent: Agent) -> str:
    return memory_services.get_agent_block(agent, "human").value


def test_a_waiting_proposal_shows_its_block_run_reasons_and_hunks(signed_in, make_agent):
    primary, sleeper, _, _ = review_pair(make_agent)
    run, proposal = two_hunks(primary, sleeper)

    body = review_page(signed_in, primary)

    assert f'id="proposal-{proposal.id}"' in body
    assert "<code>human</code>" in body
    assert f'href="{reverse("agents:run", args=[run.id])}"' in body
    assert "The block&#x27;s policy is review" in body
    assert '<div class="diff-line diff-removed">-Likes: tea</div>' in body
    assert '<div class="diff-line diff-added">+Likes: coffee</div>' in body
    assert '<div class="diff-line diff-added">+City: Paris</div>' in body
    assert 'Accept<span class="visually-hidden"> change 2 of human' in body
    assert "Accept all" in body and "Reject all" in body
    # The agent page links to it, counting what waits.
    detail = signed_in.get(reverse("agents:detail", args=[primary.id])).content.decode()
    assert f'href="{reverse("agents:review", args=[primary.id])}"' in detail
    assert '<span class="badge review-count">1<span class="visually-hidden"> waiting' in detail


def test_accepting_one_hunk_and_rejecting_the_other_leaves_only_the_accepted_change(
    signed_in, make_agent, user
):
    primary, sleeper, _, block = review_pair(make_agent)
    _, proposal = two_hunks(primary, sleeper)

    accepted = decide(signed_in, primary, proposal, "accept", hunk=0)
    assert accepted.status_code == 200
    assert "Accepted change 1 to human." in accepted.content.decode()
    rejected = decide(signed_in, primary, proposal, "reject", hunk=1)

    assert human(primary) == "Name: Ada\nLikes: coffee\nJob: engineer\nCity: London"
    proposal.refresh_from_db()
    assert proposal.status == "partially_accepted"
    assert proposal.reviewed_by == user
    body = rejected.content.decode()
    assert "Rejected change 2 to human." in body
    assert "Nothing waits for review." in body
    assert "partially accepted" in body and f"by {user.get_username()}" in body
    version = block.versions.order_by("-number").first()
    assert version.reviewed_by == user and version.proposal_id == proposal.id


def test_accept_all_without_htmx_redirects_back_with_a_message(signed_in, make_agent):
    primary, sleeper, _, _ = review_pair(make_agent)
    _, proposal = two_hunks(primary, sleeper)
    url = reverse("agents:proposal_accept", args=[primary.id, proposal.id])

    response = signed_in.post(url, follow=True)

    assert response.redirect_chain[-1][0].endswith(f"/review/#proposal-{proposal.id}")
    assert "Accepted the changes to human that were waiting." in response.content.decode()
    assert human(primary) == "Name: Ada\nLikes: coffee\nJob: engineer\nCity: Paris"


def test_a_conflicting_proposal_is_marked_and_accepting_it_is_refused_with_a_message(
    signed_in, make_agent, user
):
    primary, sleeper, _, block = review_pair(make_agent)
    _, proposal = two_hunks(primary, sleeper)
    # A person changes the drink line meanwhile: change 1 no longer fits.
    memory_services.update_block(
        block.id,
        actor=Actor.for_user(user),
        value="Name: Ada\nLikes: green tea\nJob: engineer\nCity: London",
    )
    assert "conflicting" in review_page(signed_in, primary)

    answer = decide(signed_in, primary, proposal, "accept").content.decode()

    assert "changed since the proposal was made" in answer
    assert 'class="form-errors"' in answer
    assert "proposal-conflict" in answer
    assert "Likes: green tea" in answer  # the block as it is now, beside the proposal
    proposal.refresh_from_db()
    assert proposal.status == "conflict"
    assert human(primary) == "Name: Ada\nLikes: green tea\nJob: engineer\nCity: London"
    # The change that still fits may still be accepted on its own.
    decide(signed_in, primary, proposal, "accept", hunk=1)
    assert human(primary) == "Name: Ada\nLikes: green tea\nJob: engineer\nCity: Paris"


def test_deciding_a_hunk_twice_says_so_and_changes_nothing(signed_in, make_agent):
    primary, sleeper, _, _ = review_pair(make_agent)
    _, proposal = two_hunks(primary, sleeper)
    decide(signed_in, primary, proposal, "reject", hunk=0)

    answer = decide(signed_in, primary, proposal, "accept", hunk=0).content.decode()

    assert "not pending" in answer
    assert human(primary) == "Name: Ada\nLikes: tea\nJob: engineer\nCity: London"


@pytest.fixture
def team(django_user_model: Any) -> Any:
    return build_team(django_user_model)


def test_a_viewer_reads_the_queue_but_cannot_decide(team):
    primary, sleeper, _, _ = review_pair(lambda **fields: make_agent(team.admin.user, **fields))
    _, proposal = two_hunks(primary, sleeper)

    body = review_page(team.viewer.browser, primary)
    assert "+Likes: coffee" in body
    assert "Viewers read the queue" in body
    assert "Accept all" not in body and "Reject<span" not in body

    refused = decide(team.viewer.browser, primary, proposal, "accept")
    assert refused.status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == "pending"
    # An editor decides.
    assert "Accept all" in review_page(team.editor.browser, primary)
    decide(team.editor.browser, primary, proposal, "accept")
    proposal.refresh_from_db()
    assert proposal.status == "accepted" and proposal.reviewed_by == team.editor.user


def test_another_agents_proposal_or_another_organizations_is_not_found(
    signed_in, make_agent, stranger
):
    primary, sleeper, _, _ = review_pair(make_agent)
    _, proposal = two_hunks(primary, sleeper)
    other = make_agent(name="other")

    assert decide(signed_in, other, proposal, "accept").status_code == 404
    outsider = Client()
    outsider.force_login(stranger)
    assert outsider.get(reverse("agents:review", args=[primary.id])).status_code == 404
    assert decide(outsider, primary, proposal, "reject").status_code == 404
    proposal.refresh_from_db()
    assert proposal.status == "pending"


def test_the_run_page_links_to_its_proposals_and_shows_its_outcome(signed_in, make_agent):
    primary, sleeper, _, _ = review_pair(make_agent)
    run, proposal = two_hunks(primary, sleeper)

    body = signed_in.get(reverse("agents:run", args=[run.id])).content.decode()

    assert "awaiting review" in body
    assert "1 proposed edit waits for review" in body
    review = reverse("agents:review", args=[primary.id])
    assert f'href="{review}#proposal-{proposal.id}"' in body


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_the_queue_and_the_ledger_cost_the_same_queries_for_one_run_or_four(
    signed_in, make_agent, user
):
    primary, sleeper, _, _ = review_pair(make_agent)
    _, first = two_hunks(primary, sleeper)
    review, ledger = (reverse(f"agents:{name}", args=[primary.id]) for name in ("review", "ledger"))
    counts = (_queries(signed_in, review), _queries(signed_in, ledger))
    decide(signed_in, primary, first, "accept", hunk=0)
    for _ in range(3):
        _, last = two_hunks(primary, sleeper)
    decide(signed_in, primary, last, "reject")

    assert (_queries(signed_in, review), _queries(signed_in, ledger)) == counts
    body = review_page(signed_in, primary)
    assert body.count('<article class="proposal') == 3
    assert body.count('<li class="proposal proposal-decided"') == 1
