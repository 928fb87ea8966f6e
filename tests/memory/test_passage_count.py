"""The archival count in the system prompt comes from counts the database keeps on every
insert and delete of a passage, so it is exact on every write path (the agent's own
passages, a file's passages in its source, deletions, an agent or a source going away)
and costs a lookup however large archival memory grows."""

from __future__ import annotations

from typing import Any

from agents import loop
from agents.services import delete_agent
from llm.local_embedder import embed_text
from memory import services
from memory.models import EMBEDDING_DIM, Passage, PassageCount
from sources.services import attach_source, create_source, delete_source, detach_source


def source_passages(user: Any, source: Any, count: int) -> None:
    Passage.objects.bulk_create(
        [
            Passage(
                owner=user,
                source=source,
                text=f"Page {n} of the manual.",
                embedding=embed_text(f"Page {n} of the manual.", EMBEDDING_DIM),
                embedding_handle="local/hashing-bow",
            )
            for n in range(count)
        ],
        batch_size=7,
    )


def test_the_count_follows_every_way_passages_come_and_go(make_agent, user, llm):
    agent, other = make_agent(name="counted"), make_agent(name="other")
    for n in range(3):
        services.insert_passage(agent, f"Ada fact {n}.")
    services.insert_passage(other, "Not Ada's.")
    manual = create_source(user, name="manual")
    source_passages(user, manual, 20)
    assert services.archival_count(agent) == 3

    attach_source(agent, manual)
    assert services.archival_count(agent) == services.agent_passages(agent).count() == 23

    Passage.objects.filter(source=manual, text__startswith="Page 1").delete()  # 1, 10-19
    first = services.agent_passages(agent).filter(agent=agent).first()
    assert first is not None
    services.delete_passage(agent, first.id)
    assert services.archival_count(agent) == services.agent_passages(agent).count() == 11
    assert services.archival_count(other) == 1

    detach_source(agent, manual)
    assert services.archival_count(agent) == 2
    delete_source(manual)
    delete_agent(agent)
    assert set(PassageCount.objects.values_list("holder", flat=True)) == {other.id}


def test_the_prompt_says_how_many_passages_archival_memory_holds(make_agent, user, llm):
    agent = make_agent()
    assert "- 0 total memories you created are stored in archival memory" in (
        loop.compile_system(agent)
    )
    services.insert_passage(agent, "Ada likes tea.")
    manual = create_source(user, name="manual")
    source_passages(user, manual, 4)
    attach_source(agent, manual)

    system = loop.compile_system(agent)

    assert "- 5 total memories you created are stored in archival memory" in system
