"""Archival search fuses the vector ranking with a full-text ranking (Reciprocal Rank
Fusion): an exact rare word finds its passage where the embedding alone would not, within
the same filters, and the order is the vector ranking's when full text has nothing to add."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.postgres.search import SearchRank
from django.db.models import F
from django.utils import timezone

from llm.local_embedder import embed_text
from memory import services
from memory.models import EMBEDDING_DIM, Passage
from sources.services import attach_source, create_source

LOCAL = "local/hashing-bow"
CODE = "AX-4471"
# Long, so its embedding shares little with the bare code: by the vector alone, the short
# tickets with neighbouring numbers rank first.
TARGET = (
    "After a long review of the supplier contract, the maintenance team closed ticket "
    "AX-4471 on Friday afternoon."
)
NEIGHBOURS = [f"Ticket AX-{number} is open." for number in range(4472, 4480)]


def texts(passages: list[Passage]) -> list[str]:
    return [passage.text for passage in passages]


def ids(passages: list[Passage]) -> list[str]:
    return [passage.id for passage in passages]


def vector_order(agent: Any, query: str, top_k: int) -> list[str]:
    """The vector ranking alone, equal distances in key order (as fusion breaks ties)."""
    nearest = services.search_passages(agent, query, top_k=100, full_text=False)
    nearest.sort(key=lambda passage: (passage.distance, passage.id))  # type: ignore[attr-defined]
    return ids(nearest[:top_k])


def source_passage(user: Any, source: Any, text: str) -> Passage:
    return Passage.objects.create(
        owner=user,
        source=source,
        text=text,
        embedding=embed_text(text, EMBEDDING_DIM),
        embedding_handle=LOCAL,
    )


@pytest.fixture
def tickets(make_agent: Any) -> Any:
    """An agent whose archival memory holds the target among its near-namesakes."""
    agent = make_agent(embedding=LOCAL)
    for text in NEIGHBOURS:
        services.insert_passage(agent, text)
    services.insert_passage(agent, TARGET)
    return agent


def test_the_vector_ranking_alone_misses_the_passage_with_the_exact_code(tickets):
    # The premise of the tests below: the local embedder blurs AX-4471 among its neighbours.
    nearest = services.search_passages(tickets, CODE, top_k=3, full_text=False)

    assert TARGET not in texts(nearest)
    assert all(text.startswith("Ticket AX-44") for text in texts(nearest))


def test_a_rare_exact_word_finds_its_passage_first(tickets):
    found = services.search_passages(tickets, CODE, top_k=3)

    assert texts(found)[0] == TARGET
    assert len(found) == 3


def test_the_fused_order_is_reciprocal_rank_fusion_of_both_rankings(make_agent):
    agent = make_agent(embedding=LOCAL)
    for text in [
        "The boiler is serviced every March.",
        "Boiler service: call Ada before the engineer comes.",
        "The service lift is out of order.",
        "The boiler room key hangs by the door.",
        "Annual service of the car is due.",
        "A boiler service engineer visited; the boiler service report is in the drawer.",
        "Ada's cat is named Pixel.",
    ]:
        services.insert_passage(agent, text)
    query = "boiler service"

    nearest = services.search_passages(agent, query, top_k=100, full_text=False)
    words = services.full_text_query(query, Passage.objects.filter(agent=agent))
    matching = list(
        Passage.objects.filter(agent=agent, search_vector=words)
        .annotate(rank=SearchRank(F("search_vector"), words, cover_density=True))
        .order_by("-rank", "id")
        .values_list("id", flat=True)
    )
    assert len(matching) == 2  # the passages holding both words
    scores: dict[str, float] = defaultdict(float)
    for ranking in (ids(nearest), matching):
        for rank, passage_id in enumerate(ranking, start=1):
            scores[passage_id] += 1 / (services.RRF_K + rank)
    distance = {p.id: p.distance for p in nearest}  # type: ignore[attr-defined]
    expected = sorted(scores, key=lambda pid: (-scores[pid], distance[pid], pid))

    found = services.search_passages(agent, query, top_k=5)

    assert ids(found) == expected[:5]
    # The two passages with both words lead the full-text ranking, and the fused one.
    assert set(matching[:2]) == set(ids(found[:2]))


def test_each_result_carries_its_cosine_distance_found_by_full_text_or_not(tickets):
    query = embed_text(CODE, EMBEDDING_DIM)

    found = services.search_passages(tickets, CODE, top_k=3)

    for passage in found:
        stored = embed_text(passage.text, EMBEDDING_DIM)
        cosine = sum(a * b for a, b in zip(query, stored, strict=True))
        assert passage.distance == pytest.approx(1 - cosine, abs=1e-5)  # type: ignore[attr-defined]
    assert all("embedding" in passage.get_deferred_fields() for passage in found)


def test_another_agents_passage_with_the_word_is_never_returned(tickets, make_agent, user):
    other = make_agent(name="neighbour", embedding=LOCAL)
    services.insert_passage(other, f"{CODE} is the neighbour's ticket.")
    elsewhere = create_source(user, name="elsewhere", embedding=LOCAL)
    attach_source(other, elsewhere)
    source_passage(user, elsewhere, f"The manual mentions {CODE} once.")

    found = services.search_passages(tickets, CODE, top_k=20)

    assert texts(found)[0] == TARGET
    assert {passage.agent_id for passage in found} == {tickets.id}
    assert len(found) == 9


def test_an_attached_sources_passage_is_found_by_its_words(tickets, user):
    handbook = create_source(user, name="handbook", embedding=LOCAL)
    attach_source(tickets, handbook)
    manual = "The escalation procedure of the maintenance handbook lists AX-4471 twice: AX-4471."
    source_passage(user, handbook, manual)

    found = services.search_passages(tickets, CODE, top_k=3)

    assert set(texts(found[:2])) == {TARGET, manual}


def test_tag_and_date_filters_hold_for_full_text_matches(make_agent):
    agent = make_agent(embedding=LOCAL)
    now = timezone.now()
    for text in NEIGHBOURS:
        services.insert_passage(agent, text, tags=["open"], created_at=now)
    services.insert_passage(agent, TARGET, tags=["closed"], created_at=now - timedelta(days=30))

    by_tag = services.search_passages(agent, CODE, top_k=20, tags=["open"])
    recent = services.search_passages(agent, CODE, top_k=20, start=now - timedelta(days=1))
    older = services.search_passages(agent, CODE, top_k=20, end=now - timedelta(days=1))
    closed = services.search_passages(agent, CODE, top_k=20, tags=["closed", "open"])

    assert TARGET not in texts(by_tag) and len(by_tag) == len(NEIGHBOURS)
    assert TARGET not in texts(recent) and len(recent) == len(NEIGHBOURS)
    assert texts(older) == [TARGET]
    assert texts(closed)[0] == TARGET


@pytest.mark.parametrize("query", ["?!", "—", "zqxv wombat"])
def test_without_full_text_terms_or_matches_the_order_is_the_vector_rankings(tickets, query):
    found = services.search_passages(tickets, query, top_k=5)

    assert ids(found) == vector_order(tickets, query, 5)
    assert len(found) == 5


def test_a_passage_not_yet_backfilled_is_found_by_its_vector_alone(tickets):
    Passage.objects.filter(text=TARGET).update(search_vector=None)

    found = services.search_passages(tickets, CODE, top_k=3)

    assert TARGET not in texts(found)
    assert ids(found) == vector_order(tickets, CODE, 3)


def test_a_question_is_searched_by_its_words_that_say_what_it_asks(tickets):
    # Every word had to match before: "what", "did", "say" and "about" are in no ticket.
    found = services.search_passages(tickets, f"What did I say about {CODE}?", top_k=1)

    assert CODE in found[0].text
    assert services.full_text_query("what is it?") is None
    assert services.full_text_query("room 7") is not None  # a number is a word
