"""Every list endpoint pages to its end, in both orders, from every cursor: paged with
`after` forwards and with `before` backwards at any limit, it gives exactly the whole
list, never losing or repeating an item, and a page is empty only past the end (the
1.x SDK's pager stops at the first empty page).

Random lists (hypothesis): how many items, which of them share a creation time (the
order breaks such ties by id), the page size and the cursor to start from. Messages,
whose stored rows split into several Letta messages, are tests/agents/test_message_paging.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.services import create_api_key
from agents import sleeptime
from agents.conversations import ConversationSpec, create_conversation
from agents.models import Conversation, Insight, Run
from evaluation.models import Evaluation
from forgetting.models import ForgetJob, Tombstone
from memory import services as memory_services
from memory.models import Passage
from sources import services as source_services
from tests.factories import TEST_EMBEDDING, make_agent, make_user, passage
from tests.paging import Cursors, assert_pages_to_the_end, getter

ASC_DESC: list[dict[str, Any]] = [{"order": "asc"}, {"order": "desc"}]
# The 0.1.x SDK's flag, beside the 1.x SDK's `order`.
ASCENDING: list[dict[str, Any]] = [{"ascending": "true"}, {"ascending": "false"}]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Listed:
    """A list endpoint over items made for the test."""

    path: str
    # Rows whose creation times the test sets, to make ties.
    rows: list[Model] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=lambda: list(ASC_DESC))
    params: dict[str, Any] = field(default_factory=dict)
    cursors: Callable[[dict[str, Any]], Cursors] = lambda order: Cursors()
    key: Callable[[Any], Any] | None = None


def _agents(user: Any, n: int) -> Listed:
    made = [make_agent(user, name=f"agent-{i}") for i in range(n)]
    return Listed("/v1/agents/", made, orders=ASC_DESC + ASCENDING)


def _blocks(user: Any, n: int) -> Listed:
    made = [memory_services.create_block(user, label=f"block_{i}") for i in range(n)]
    return Listed("/v1/blocks/", made)


def _block_agents(user: Any, n: int) -> Listed:
    shared = memory_services.create_block(user, label="shared")
    made = [make_agent(user, name=f"agent-{i}", block_ids=[shared.id]) for i in range(n)]
    return Listed(f"/v1/blocks/{shared.id}/agents", made)


def _block_history(user: Any, n: int) -> Listed:
    block = memory_services.create_block(user, label="notes")
    actor = memory_services.Actor.for_user(user)
    for i in range(n):
        memory_services.update_block(block.id, actor=actor, value=f"version {i}")

    def cursors(order: dict[str, Any]) -> Cursors:
        # Version numbers: newest first, the next page is `before` the last number.
        if order.get("order") == "asc":
            return Cursors(forward="after", backward="before")
        return Cursors(forward="before", backward="after")

    return Listed(f"/v1/blocks/{block.id}/history", cursors=cursors, key=lambda v: v["version"])


def _groups(user: Any, n: int) -> Listed:
    primaries = [make_agent(user, name=f"agent-{i}", enable_sleeptime=True) for i in range(n)]
    return Listed("/v1/groups/", [sleeptime.group_of(primary) for primary in primaries])


def _runs(user: Any, n: int) -> Listed:
    primary = make_agent(user, name="primary", enable_sleeptime=True)
    group = sleeptime.group_of(primary)
    (sleeper,) = sleeptime.sleeptime_agents(group)
    made = [
        Run.objects.create(
            owner=user,
            organization=primary.organization,
            run_agent_id=sleeper.id,
            primary_agent=primary,
            group=group,
            trigger="manual",
            status="completed",
        )
        for _ in range(n)
    ]
    return Listed("/v1/runs/", made, orders=ASC_DESC + ASCENDING)


def _runs_of_an_agent(user: Any, n: int) -> Listed:
    listed = _runs(user, n)
    listed.params = {"agent_id": listed.rows[0].run_agent_id} if listed.rows else {}
    return listed


def _sources(collection: str) -> Callable[[Any, int], Listed]:
    def build(user: Any, n: int) -> Listed:
        made = [_source(user, f"source-{i}") for i in range(n)]
        return Listed(f"/v1/{collection}/", made)

    return build


def _source(user: Any, name: str = "handbook") -> Any:
    return source_services.create_source(user, name=name, embedding=TEST_EMBEDDING)


def _files(collection: str) -> Callable[[Any, int], Listed]:
    def build(user: Any, n: int) -> Listed:
        source = _source(user)
        made = [
            source_services.upload_file(
                source, file_name=f"f{i}.txt", content_type="text/plain", data=f"{i}".encode()
            )
            for i in range(n)
        ]
        return Listed(f"/v1/{collection}/{source.id}/files", made)

    return build


def _source_passages(user: Any, n: int) -> Listed:
    source = _source(user)
    files = [
        source_services.upload_file(
            source, file_name=f"f{i}.txt", content_type="text/plain", data=f"{i}".encode()
        )
        for i in range(n)
    ]
    for upload in files:
        for chunk in range(2):
            Passage.objects.create(
                owner=user,
                source=source,
                file=upload,
                chunk_index=chunk,
                text=f"{upload.file_name} #{chunk}",
                embedding=[1.0] + [0.0] * 1535,
                embedding_handle=TEST_EMBEDDING,
            )
    # Document order: the files as uploaded (ties by id), their chunks in order.
    return Listed(f"/v1/sources/{source.id}/passages", files)


def _source_agents(user: Any, n: int) -> Listed:
    source = _source(user)
    made = [make_agent(user, name=f"agent-{i}") for i in range(n)]
    for agent in made:
        source_services.attach_source(agent, source)
    return Listed(f"/v1/folders/{source.id}/agents", made)


def _agent_sources(collection: str) -> Callable[[Any, int], Listed]:
    def build(user: Any, n: int) -> Listed:
        agent = make_agent(user)
        made = [_source(user, f"source-{i}") for i in range(n)]
        for source in made:
            source_services.attach_source(agent, source)
        return Listed(f"/v1/agents/{agent.id}/{collection}", made)

    return build


def _archival(user: Any, n: int) -> Listed:
    agent = make_agent(user)
    made = [passage(agent, f"fact {i}") for i in range(n)]
    return Listed(f"/v1/agents/{agent.id}/archival-memory", made, orders=ASCENDING)


def _agent_blocks(user: Any, n: int) -> Listed:
    agent = make_agent(user, blocks={f"block_{i}": "" for i in range(n)})
    return Listed(f"/v1/agents/{agent.id}/core-memory/blocks")


def _agent_tools(user: Any, n: int) -> Listed:
    agent = make_agent(user)
    return Listed(f"/v1/agents/{agent.id}/tools")


def _tools(user: Any, n: int) -> Listed:
    return Listed("/v1/tools/")


def _sleeptime_tools(user: Any, n: int) -> Listed:
    return Listed("/v1/tools/", params={"tool_types": "letta_sleeptime_core"})


def _insights(user: Any, n: int) -> Listed:
    agent = make_agent(user)
    made = [Insight.objects.create(agent=agent, title=f"insight {i}", body="-") for i in range(n)]
    return Listed(f"/v1/agents/{agent.id}/insights", made)


def _tombstones(user: Any, n: int) -> Listed:
    agent = make_agent(user)
    made = [
        Tombstone.objects.create(
            agent_id=agent.id, organization_id=agent.organization_id, who=user.id, kind="messages"
        )
        for _ in range(n)
    ]
    return Listed(f"/v1/agents/{agent.id}/forget", made)


def _forget_jobs(user: Any, n: int) -> Listed:
    agent = make_agent(user)
    made = [
        ForgetJob.objects.create(
            agent_id=agent.id,
            organization_id=agent.organization_id,
            who=user.id,
            status="completed",
        )
        for _ in range(n)
    ]
    return Listed(f"/v1/agents/{agent.id}/forget/jobs", made)


def _evaluations(user: Any, n: int) -> Listed:
    made = [
        Evaluation.objects.create(
            owner=user,
            organization=user.memberships.get().organization,
            template={"model": "openai/gpt-4.1"},
            material={"kind": "arithmetic"},
            items=[],
            arms=["off"],
        )
        for _ in range(n)
    ]
    return Listed("/v1/evaluations", made)


def _conversations(order_by: str) -> Callable[[Any, int], Listed]:
    def build(user: Any, n: int) -> Listed:
        agent = make_agent(user)
        made = [
            create_conversation(user, agent, ConversationSpec(summary=f"thread {i}"))
            for i in range(n)
        ]
        # Some talked in, some not (those never talked in come last), some at one moment.
        for i, conversation in enumerate(made[::2]):
            Conversation.objects.filter(pk=conversation.pk).update(
                last_message_at=EPOCH + timedelta(seconds=i % 2)
            )
        params = {"agent_id": agent.id, "order_by": order_by}
        return Listed("/v1/conversations/", made, params=params)

    return build


LISTS: dict[str, Callable[[Any, int], Listed]] = {
    "conversations": _conversations("created_at"),
    "conversations by their last message": _conversations("last_message_at"),
    "agents": _agents,
    "blocks": _blocks,
    "a block's agents": _block_agents,
    "a block's history": _block_history,
    "groups": _groups,
    "runs": _runs,
    "an agent's runs": _runs_of_an_agent,
    "sources": _sources("sources"),
    "folders": _sources("folders"),
    "a source's files": _files("sources"),
    "a folder's files": _files("folders"),
    "a source's passages": _source_passages,
    "a folder's agents": _source_agents,
    "an agent's sources": _agent_sources("sources"),
    "an agent's folders": _agent_sources("folders"),
    "archival memory": _archival,
    "an agent's blocks": _agent_blocks,
    "an agent's tools": _agent_tools,
    "tools": _tools,
    "tools of a type": _sleeptime_tools,
    "insights": _insights,
    "tombstones": _tombstones,
    "forget jobs": _forget_jobs,
    "evaluations": _evaluations,
}


@st.composite
def shapes(draw: Any) -> tuple[int, list[int]]:
    """How many items, and the second each was made at: few seconds, so many tie."""
    n = draw(st.integers(0, 6))
    return n, draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))


def _client_of_a_new_user() -> tuple[Any, Client]:
    # Every example in an organization of its own, so that no list sees another's items.
    user = make_user(f"pager-{uuid.uuid4().hex[:8]}")
    _, key = create_api_key(user)
    return user, Client(headers={"Authorization": f"Bearer {key}"})


@pytest.mark.parametrize("name", list(LISTS))
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=shapes(), limit=st.integers(1, 4), pick=st.integers(0, 100))
def test_a_list_pages_to_its_end_both_ways_from_every_cursor(
    db: Any, name: str, shape: tuple[int, list[int]], limit: int, pick: int
) -> None:
    n, seconds = shape
    user, client = _client_of_a_new_user()
    listed = LISTS[name](user, n)
    for row, second in zip(listed.rows, seconds, strict=False):
        type(row)._default_manager.filter(pk=row.pk).update(
            created_at=EPOCH + timedelta(seconds=second)
        )
    get = getter(client, listed.path)
    wholes = []
    for order in listed.orders:
        keyed = {"key": listed.key} if listed.key else {}
        whole = assert_pages_to_the_end(
            get,
            {**listed.params, **order},
            limit=limit,
            pick=pick,
            cursors=listed.cursors(order),
            **keyed,
        )
        wholes.append(whole)
    # The orders are each other's reverse (and the 0.1.x flag means the same).
    ascending, descending, *flags = wholes
    assert descending == ascending[::-1]
    assert flags in ([], [ascending, descending])


def test_the_orders_are_opposite_and_the_sdks_order_wins_over_the_old_flag(api, user):
    for i in range(3):
        make_agent(user, name=f"agent-{i}")
    names = [agent["name"] for agent in api.get("/v1/agents/", {"order": "asc"}).json()]
    newest_first = api.get("/v1/agents/", {"order": "desc", "ascending": "true"}).json()

    assert names == ["agent-0", "agent-1", "agent-2"]
    assert [agent["name"] for agent in newest_first] == names[::-1]
    assert api.get("/v1/agents/", {"ascending": "false"}).json() == newest_first


def test_an_unknown_cursor_is_a_404(api, user):
    make_agent(user)

    response = api.get("/v1/tools/", {"after": "tool-nope"})

    assert response.status_code == 404
    assert "tool-nope" in response.json()["detail"]
