"""Reviewing a sleep-time agent's proposed edits in the browser: a proposal made in the
background shows up on the open review page and in the agent page's count without a
reload; accepting one change and rejecting another leaves the block holding exactly the
accepted one; a proposal the block has moved away from is shown as conflicting, and
accepting it says why nothing was applied."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect

from agents.models import Agent
from memory import services as memory_services
from memory.models import Proposal
from memory.services import Actor
from tests.ade.proposals import review_pair, two_hunks
from tests.e2e.background import in_background
from tests.e2e.steps import log_in
from tests.factories import make_agent, make_user


@dataclass
class Reviewer:
    username: str
    password: str
    user: Any
    primary: Agent
    sleeper: Agent


@pytest.fixture
def reviewer(live_server_url: str, django_db_blocker: Any) -> Reviewer:
    """A person whose agent's `human` block is under review (committed: the live server
    sees it)."""
    username, password = f"rev-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex

    def build() -> Reviewer:
        user = make_user(username, password=password)
        primary, sleeper, _, _ = review_pair(lambda **fields: make_agent(user, **fields))
        return Reviewer(username, password, user, primary, sleeper)

    return in_background(django_db_blocker, build)


def _review_url(base_url: str, reviewer: Reviewer) -> str:
    return f"{base_url}/agents/{reviewer.primary.id}/review/"


def _human(primary: Agent) -> str:
    return memory_services.get_agent_block(primary, "human").value


def test_a_proposal_made_in_the_background_arrives_on_the_open_pages(
    live_server_url: str, reviewer: Reviewer, django_db_blocker: Any, page: Any
) -> None:
    log_in(page, live_server_url, reviewer.username, reviewer.password)
    page.goto(f"{live_server_url}/agents/{reviewer.primary.id}/")
    link = page.locator("#review-link")
    expect(link).to_have_text("Review queue")
    queue_tab = page.context.new_page()
    queue_tab.goto(_review_url(live_server_url, reviewer))
    expect(queue_tab.locator("#review-proposals")).to_contain_text("Nothing waits for review.")

    in_background(django_db_blocker, two_hunks, reviewer.primary, reviewer.sleeper)

    proposal = queue_tab.locator("article.proposal")
    expect(proposal).to_contain_text("+Likes: coffee")
    expect(proposal).to_contain_text("+City: Paris")
    expect(proposal).to_contain_text("The block's policy is review")
    expect(proposal.get_by_role("link", name=re.compile(r"^run-"))).to_be_visible()
    expect(link).to_contain_text("1 waiting")
    # Deciding it elsewhere clears the count, still without a reload.
    queue_tab.get_by_role("button", name="Reject all changes to human").click()
    expect(queue_tab.locator("#review-feedback")).to_contain_text("Rejected the changes")
    expect(link).to_have_text("Review queue")


def test_one_change_is_accepted_and_the_other_rejected_hunk_by_hunk(
    live_server_url: str, reviewer: Reviewer, django_db_blocker: Any, page: Any
) -> None:
    _, proposal = in_background(django_db_blocker, two_hunks, reviewer.primary, reviewer.sleeper)
    log_in(page, live_server_url, reviewer.username, reviewer.password)
    page.goto(_review_url(live_server_url, reviewer))

    page.get_by_role("button", name="Accept change 1 of human").click()
    feedback = page.locator("#review-feedback")
    expect(feedback).to_contain_text("Accepted change 1 to human.")
    expect(page.get_by_role("group", name="Change 1 of human")).to_contain_text("accepted")
    page.get_by_role("button", name="Reject change 2 of human").click()
    expect(feedback).to_contain_text("Rejected change 2 to human.")

    expect(page.locator("#review-proposals")).to_contain_text("Nothing waits for review.")
    decided = page.locator(".proposal-decided")
    expect(decided).to_contain_text("partially accepted")
    expect(decided).to_contain_text(f"by {reviewer.username}")
    page.goto(f"{live_server_url}/agents/{reviewer.primary.id}/")
    expect(page.locator(".panel-memory")).to_contain_text("Likes: coffee")
    expect(page.locator(".panel-memory")).to_contain_text("City: London")

    held = in_background(django_db_blocker, _human, reviewer.primary)
    assert held == "Name: Ada\nLikes: coffee\nJob: engineer\nCity: London"
    stored = in_background(django_db_blocker, Proposal.objects.get, pk=proposal.id)
    assert (stored.status, stored.accepted_hunks, stored.rejected_hunks) == (
        "partially_accepted",
        [0],
        [1],
    )


def test_a_conflicting_proposal_is_shown_as_such_and_accepting_it_says_why_not(
    live_server_url: str, reviewer: Reviewer, django_db_blocker: Any, page: Any
) -> None:
    def propose_then_edit_the_same_line() -> Proposal:
        _, proposal = two_hunks(reviewer.primary, reviewer.sleeper)
        block = memory_services.get_agent_block(reviewer.primary, "human")
        memory_services.update_block(
            block.id, actor=Actor.for_user(reviewer.user), value=block.value.replace("tea", "mint")
        )
        return proposal

    proposal = in_background(django_db_blocker, propose_then_edit_the_same_line)
    log_in(page, live_server_url, reviewer.username, reviewer.password)
    page.goto(_review_url(live_server_url, reviewer))

    article = page.locator(f"#proposal-{proposal.id}")
    expect(article.locator(".badge")).to_have_text("conflicting")
    expect(article.get_by_label("human now")).to_contain_text("Likes: mint")
    page.get_by_role("button", name="Accept all changes to human").click()

    expect(page.get_by_role("status").locator(".form-errors")).to_contain_text(
        "changed since the proposal was made"
    )
    expect(article.locator(".badge")).to_have_text("conflicting")
    stored = in_background(django_db_blocker, Proposal.objects.get, pk=proposal.id)
    assert stored.status == "conflict"
    held = in_background(django_db_blocker, _human, reviewer.primary)
    assert held == "Name: Ada\nLikes: mint\nJob: engineer\nCity: London"
