"""Every way a passage is written leaves it findable by its words: the database fills its
search vector, whatever wrote the row."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.db import connection

from llm.local_embedder import embed_text
from memory import services
from memory.models import EMBEDDING_DIM, Passage

LOCAL = "local/hashing-bow"


def holding(words: str) -> list[str]:
    """The texts of the passages whose search vector holds all of `words`."""
    query = SearchQuery(words, config="simple", search_type="websearch")
    return sorted(Passage.objects.filter(search_vector=query).values_list("text", flat=True))


def unsaved(agent: Any, text: str) -> Passage:
    return Passage(
        owner_id=agent.owner_id,
        agent=agent,
        text=text,
        embedding=embed_text(text, EMBEDDING_DIM),
        embedding_handle=LOCAL,
    )


def test_a_passage_inserted_by_the_service_is_indexed_by_its_words(make_agent):
    agent = make_agent(embedding=LOCAL)

    services.insert_passage(agent, "Ticket AX-4471 was closed by Zoltán.")

    assert holding("AX-4471") == ["Ticket AX-4471 was closed by Zoltán."]
    assert holding("zoltán ticket") == ["Ticket AX-4471 was closed by Zoltán."]


def test_passages_stored_in_bulk_are_indexed_too(make_agent):
    agent = make_agent(embedding=LOCAL)

    # Ingestion stores a file's chunks this way (sources/ingest.py).
    Passage.objects.bulk_create(
        [unsaved(agent, "The lease ends in June."), unsaved(agent, "Rent is due monthly.")]
    )

    assert holding("lease") == ["The lease ends in June."]
    assert holding("rent monthly") == ["Rent is due monthly."]


def test_a_changed_text_is_indexed_anew_whichever_way_it_is_saved(make_agent):
    agent = make_agent(embedding=LOCAL)
    passage = services.insert_passage(agent, "The boiler is serviced in March.")

    passage.text = "The boiler is serviced in October."
    passage.save()
    assert holding("october") == ["The boiler is serviced in October."]
    assert holding("march") == []

    Passage.objects.filter(pk=passage.pk).update(text="The boiler was replaced.")
    assert holding("replaced") == ["The boiler was replaced."]
    assert holding("october") == []


def test_raw_sql_inserts_are_indexed_too(make_agent):
    agent = make_agent(embedding=LOCAL)
    row = unsaved(agent, "Imported from a dump: the gate code is 8812.")

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO memory_passage (id, owner_id, agent_id, text, embedding,"
            " embedding_handle, tags, metadata, created_at, updated_at)"
            " VALUES ('passage-raw', %s, %s, %s, %s::vector, %s, '[]', '{}', now(), now())",
            [agent.owner_id, agent.id, row.text, str(row.embedding), LOCAL],
        )

    assert holding("gate 8812") == ["Imported from a dump: the gate code is 8812."]


def test_changing_other_fields_keeps_the_search_vector(make_agent):
    agent = make_agent(embedding=LOCAL)
    passage = services.insert_passage(agent, "Pixel the cat likes tuna.")

    # archive_removed records metadata this way, right after the insert.
    Passage.objects.filter(pk=passage.pk).update(metadata={"label": "human"}, tags=["pets"])

    assert holding("pixel tuna") == ["Pixel the cat likes tuna."]
