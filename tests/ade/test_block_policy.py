"""What agents may do to a block, set on its edit form (the policy and the deletion budget
as a percentage), and whether a source is trusted, set on the sources panel. Bad input
shows why and changes nothing."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from agents.models import Agent
from memory import services as memory_services
from memory.models import Block
from sources import services as source_services
from sources.models import Source
from tests.ade import HTMX


def human(agent: Agent) -> Block:
    return memory_services.get_agent_block(agent, "human")


def save(client: Client, block: Block, **fields: Any) -> Any:
    data = {
        "value": block.value,
        "description": block.description,
        "limit": block.limit,
        "policy": block.policy,
        "deletion_budget": "30",
        "base_version": block.version,
        **fields,
    }
    return client.post(reverse("memory:block_edit", args=[block.id]), data, **HTMX)


def test_the_editor_shows_the_policy_and_the_budget_as_a_percentage(signed_in, make_agent):
    block = human(make_agent(blocks={"human": "Name: Ada"}))
    memory_services.update_block(
        block.id, actor=memory_services.Actor.system(), deletion_budget=0.15
    )

    body = signed_in.get(reverse("memory:block_edit", args=[block.id]), **HTMX).content.decode()

    assert '<option value="auto" selected>' in body
    assert '<option value="review">review: edits wait for a person</option>' in body
    assert 'name="deletion_budget" value="15.0"' in body


def test_saving_the_policy_and_budget_changes_them_and_records_no_version(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = human(agent)

    answer = save(signed_in, block, policy="review", deletion_budget="12.5")

    assert answer.status_code == 200
    assert '<span class="badge review"' in answer.content.decode()
    block.refresh_from_db()
    assert (block.policy, block.deletion_budget, block.version) == ("review", 0.125, 1)
    save(signed_in, block, policy="read_only", deletion_budget="12.5")
    block.refresh_from_db()
    assert (block.read_only, block.requires_review, block.deletion_budget) == (True, False, 0.125)


def test_a_budget_outside_0_to_100_shows_an_error_and_saves_nothing(signed_in, make_agent):
    agent = make_agent(blocks={"human": "Name: Ada"})
    block = human(agent)

    answer = save(
        signed_in, block, value="Name: Grace", policy="review", deletion_budget="150"
    ).content.decode()

    assert '<p class="field-error" role="alert">The deletion budget is a percentage' in answer
    assert answer.lstrip().startswith("<form")  # the editor stays open, with the error
    block.refresh_from_db()
    assert (block.value, block.policy, block.deletion_budget) == ("Name: Ada", "auto", 0.3)


def test_an_unknown_policy_shows_an_error_and_saves_nothing(signed_in, make_agent):
    block = human(make_agent(blocks={"human": "Name: Ada"}))

    answer = save(signed_in, block, policy="anything").content.decode()

    assert "Select a valid choice." in answer
    block.refresh_from_db()
    assert block.policy == "auto"


def _source(agent: Agent, user: Any) -> Source:
    source = source_services.create_source(user, name="handbook")
    source_services.attach_source(agent, source)
    return source


def test_a_source_is_untrusted_until_its_box_is_ticked(signed_in, make_agent, user):
    agent = make_agent(name="reader")
    source = _source(agent, user)
    panel = signed_in.get(reverse("sources:panel", args=[agent.id]), **HTMX).content.decode()
    assert f'<input type="checkbox" name="trusted" id="trust-{source.id}" aria-describedby' in panel
    assert "Untrusted, its digest writes only to its own block" in panel
    url = reverse("sources:trust", args=[agent.id, source.id])

    ticked = signed_in.post(url, {"trusted": "on"}, **HTMX).content.decode()
    assert f'id="trust-{source.id}" checked' in ticked
    source.refresh_from_db()
    assert source.trusted

    signed_in.post(url, {}, **HTMX)
    source.refresh_from_db()
    assert not source.trusted


def test_a_new_source_may_be_created_trusted(signed_in, make_agent):
    agent = make_agent(name="reader")
    url = reverse("sources:create", args=[agent.id])

    signed_in.post(url, {"name": "plain"}, **HTMX)
    signed_in.post(url, {"name": "vouched", "trusted": "on"}, **HTMX)

    trusted = dict(agent.sources.values_list("name", "trusted"))
    assert trusted == {"plain": False, "vouched": True}
