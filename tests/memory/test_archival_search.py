"""Archival search: which passages it ranks, in what order, and the query it sends."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from llm.local_embedder import embed_text
from memory import services
from memory.models import EMBEDDING_DIM, Passage
from sources.models import Source
from sources.services import attach_source, create_source

LOCAL = "local/hashing-bow"


def source_passage(user: Any, source: Any, text: str) -> Passage:
    return Passage.objects.create(
        owner=user,
        source=source,
        text=text,
        embedding=embed_text(text, EMBEDDING_DIM),
        embedding_handle=LOCAL,
    )


def texts(passages: list[Passage]) -> list[str]:
    return [passage.text for passage in passages]


def test_it_ranks_the_agents_own_passages_and_its_sources_together_best_first(make_agent, user):
    agent = make_agent(embedding=LOCAL)
    source = create_source(user, name="handbook", embedding=LOCAL)
    attach_source(agent, source)
    services.insert_passage(agent, "Ada's cat is named Pixel.")
    services.insert_passage(agent, "The office wifi password is on the fridge.")
    source_passage(user, source, "Staff get 25 vacation days a year.")

    found = services.search_passages(agent, "how many vacation days", top_k=3)

    assert texts(found)[0] == "Staff get 25 vacation days a year."
    assert len(found) == 3
    distances = [passage.distance for passage in found]  # type: ignore[attr-defined]
    assert distances == sorted(distances)


def test_it_leaves_out_other_agents_passages_and_sources_not_attached(make_agent, user):
    agent = make_agent(name="mine", embedding=LOCAL)
    other = make_agent(name="theirs", embedding=LOCAL)
    attached = create_source(user, name="attached", embedding=LOCAL)
    elsewhere = create_source(user, name="elsewhere", embedding=LOCAL)
    attach_source(agent, attached)
    attach_source(other, elsewhere)
    services.insert_passage(agent, "My cat sleeps on the sofa.")
    services.insert_passage(other, "Their cat sleeps on the bed.")
    source_passage(user, attached, "Cats may visit the office on Fridays.")
    source_passage(user, elsewhere, "Cats are not allowed in the lab.")

    found = services.search_passages(agent, "cat", top_k=10)

    assert sorted(texts(found)) == [
        "Cats may visit the office on Fridays.",
        "My cat sleeps on the sofa.",
    ]


def test_an_agent_without_sources_searches_its_own_passages(make_agent):
    agent = make_agent(embedding=LOCAL)
    services.insert_passage(agent, "The boiler is serviced every March.")

    assert texts(services.search_passages(agent, "boiler service")) == [
        "The boiler is serviced every March."
    ]


def test_the_results_leave_their_embeddings_in_the_database(make_agent):
    agent = make_agent(embedding=LOCAL)
    services.insert_passage(agent, "The boiler is serviced every March.")

    (found,) = services.search_passages(agent, "boiler")

    assert "embedding" in found.get_deferred_fields()


def test_the_ranking_query_filters_on_the_passage_table_alone(make_agent, user):
    # An OR across a join to the attachments hides from the planner how many rows an
    # agent has, and it then walks the vector index through other agents' rows where
    # ranking the agent's few rows exactly is faster (bench/archival.py).
    agent = make_agent(embedding=LOCAL)
    source = create_source(user, name="handbook", embedding=LOCAL)
    attach_source(agent, source)
    services.insert_passage(agent, "The boiler is serviced every March.")

    with CaptureQueriesContext(connection) as captured:
        services.search_passages(agent, "boiler")

    (ranking,) = [query["sql"] for query in captured.captured_queries if "<=>" in query["sql"]]
    assert Source.agents.through._meta.db_table not in ranking
    # Both rankings, by vector and by full text, filter on the attached source's id.
    assert ranking.count(source.id) == 2
    settings = [query["sql"] for query in captured.captured_queries if "set_config" in query["sql"]]
    assert settings and "hnsw.ef_search" in settings[0]
