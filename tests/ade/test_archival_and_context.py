"""The agent's archival memory page (its passages and its sources', searchable, paged) and
its context-window page (tokens by component against the window)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from agents.views.memory import ARCHIVAL_PAGE
from memory.models import EMBEDDING_DIM, Passage
from sources import ingest, services
from sources.models import Source, SourceFile
from tests.factories import make_agent as build_agent
from tests.sources.pdfs import text_pdf


def archival(client: Client, agent: Agent, **params: str) -> str:
    response = client.get(reverse("agents:archival", args=[agent.id]), params)
    assert response.status_code == 200
    return response.content.decode()


def passage(agent: Agent, text: str, *, minutes_ago: int = 0, **fields: Any) -> Passage:
    """A passage stored directly: these pages read passages, they never embed."""
    fields.setdefault("agent", None if "source" in fields else agent)
    made = Passage.objects.create(
        owner_id=agent.owner_id,
        text=text,
        embedding=[0.0] * (EMBEDDING_DIM - 1) + [1.0],
        embedding_handle="local/hashing-bow",
        **fields,
    )
    Passage.objects.filter(pk=made.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return made


def attached_source(agent: Agent, name: str = "handbook") -> Source:
    source = services.create_source(agent.owner, name=name)
    services.attach_source(agent, source)
    return source


def stored_file(source: Source, name: str) -> SourceFile:
    return SourceFile.objects.create(
        source=source,
        owner=source.owner,
        organization_id=source.organization_id,
        file_name=name,
        original_file_name=name,
        file_type="text/plain",
        kind="text",
        file_size=1,
        content_hash=name,
    )


# --- Archival memory -----------------------------------------------------------------------


def test_it_lists_the_agents_and_its_sources_passages_newest_first(signed_in, make_agent):
    agent = make_agent(name="reader")
    source = attached_source(agent)
    services.upload_file(
        source,
        file_name="handbook.pdf",
        content_type="application/pdf",
        data=text_pdf(["Rooms are booked in the morning.", "Holidays need two weeks notice."]),
    )
    ingest.process_file(SourceFile.objects.get(source=source).id)
    passage(agent, "The user prefers tea over coffee.", minutes_ago=-5)

    html = archival(signed_in, agent)
    assert "The user prefers tea over coffee." in html and "inserted by the agent" in html
    assert "Holidays need two weeks notice." in html
    assert "<strong>handbook</strong> / handbook.pdf, page 2" in html
    assert html.index("prefers tea") < html.index("Holidays need")


def test_another_agents_and_detached_sources_passages_are_not_listed(signed_in, make_agent):
    agent = make_agent(name="reader")
    other = make_agent(name="other")
    passage(other, "Belongs to the other agent.")
    loose = services.create_source(agent.owner, name="loose")
    passage(agent, "From a source nobody attached.", source=loose)
    html = archival(signed_in, agent)
    assert "other agent" not in html and "nobody attached" not in html
    assert "No passages yet." in html


def test_the_search_box_filters_by_text(signed_in, make_agent):
    agent = make_agent(name="reader")
    source = attached_source(agent)
    passage(agent, "Meetings happen on Mondays.")
    passage(agent, "The handbook covers holidays.", source=source)
    passage(agent, "Lunch is at noon.")

    html = archival(signed_in, agent, q="HOLIDAYS")
    assert "The handbook covers holidays." in html
    assert "Mondays" not in html and "noon" not in html
    assert 'value="HOLIDAYS"' in html
    assert "No passage contains" in archival(signed_in, agent, q="submarine")


def test_passage_text_is_escaped(signed_in, make_agent):
    agent = make_agent(name="reader")
    passage(agent, "<script>alert(1)</script>")
    html = archival(signed_in, agent)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;" in archival(signed_in, agent, q="<script>")


def test_it_pages_by_fifty(signed_in, make_agent):
    agent = make_agent(name="reader")
    for number in range(ARCHIVAL_PAGE + 1):
        passage(agent, f"Fact number {number:03d}.", minutes_ago=number)

    first = archival(signed_in, agent)
    assert "Fact number 000." in first and "Fact number 049." in first
    assert "Fact number 050." not in first
    newest = Passage.objects.get(text="Fact number 049.")
    assert f"?after={newest.id}" in first

    second = archival(signed_in, agent, after=newest.id)
    assert "Fact number 050." in second and "Fact number 049." not in second
    assert "Older passages" not in second and "Newest passages" in second


def test_the_archival_page_costs_the_same_for_1_or_10_passages(
    signed_in, make_agent, django_assert_num_queries
):
    def fill(agent: Agent, count: int) -> None:
        source = attached_source(agent, name=f"docs-{count}")
        files = [stored_file(source, f"{count}-a.txt"), stored_file(source, f"{count}-b.txt")]
        passage(agent, "An agent's own fact.")
        for number in range(count):
            passage(agent, f"Passage {number}", source=source, file=files[number % 2], page=1)

    one = make_agent(name="one")
    fill(one, 1)
    with CaptureQueriesContext(connection) as captured:
        archival(signed_in, one)

    ten = make_agent(name="ten")
    fill(ten, 10)
    with django_assert_num_queries(len(captured)):
        html = archival(signed_in, ten)
    assert html.count('class="passage"') == 11


# --- Context window ------------------------------------------------------------------------


def test_the_context_page_shows_each_component_with_its_tokens(signed_in, make_agent):
    agent = make_agent(name="reader", blocks={"persona": "I am careful. " * 40, "human": ""})
    html = signed_in.get(reverse("agents:context", args=[agent.id])).content.decode()
    for label in (
        "System prompt",
        "Tools (function definitions)",
        "Core memory",
        "Summary",
        "Messages",
        "External memory summary",
    ):
        assert label in html
    assert f"of {agent.context_window} tokens used" in html
    assert 'class="context-part context-core_memory" style="width: ' in html
    assert 'class="context-part context-summary"' not in html  # no summary yet: no segment


def test_the_context_bar_widths_are_shares_of_the_window(make_agent):
    from agents.views.memory import context_parts

    overview = {
        "context_window_size_max": 1000,
        "num_tokens_system": 100,
        "num_tokens_functions_definitions": 200,
        "num_tokens_core_memory": 50,
        "num_tokens_summary_memory": 0,
        "num_tokens_messages": 150,
        "num_tokens_external_memory_summary": 25,
    }
    widths = {part["key"]: part["percent"] for part in context_parts(overview)}
    assert widths == {
        "system": 10.0,
        "functions": 20.0,
        "core_memory": 5.0,
        "summary": 0.0,
        "messages": 15.0,
        "external": 2.5,
    }
    # Past the window, the bar still fits: the shares are of what is used.
    overview["num_tokens_messages"] = 1625
    assert sum(part["percent"] for part in context_parts(overview)) == 100.0


# --- Access --------------------------------------------------------------------------------


def test_another_users_agent_is_404_on_both_pages(signed_in, stranger):
    theirs = build_agent(stranger, name="theirs")
    for name in ("agents:archival", "agents:context"):
        assert signed_in.get(reverse(name, args=[theirs.id])).status_code == 404
    assert Client().get(reverse("agents:archival", args=[theirs.id])).status_code == 302
