"""Two clients sending to one agent at once, over HTTP against the live server: the turns
run one after the other (agents/loop.py TurnLock), both clients get their answer, and the
stored conversation holds each turn whole."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.factories import TEST_MODEL
from tests.live import wait_until
from tests.llm_server import ScriptedLLM


@pytest.fixture
def http(live_server_url: str, api_key: str) -> Any:
    with httpx.Client(
        base_url=live_server_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60
    ) as client:
        yield client


def _say(http: httpx.Client, agent_id: str, text: str) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": text}]}
    return http.post(f"/v1/agents/{agent_id}/messages", json=body)


def _turn_lock_waiters(agent_id: str) -> int:
    """Sessions of this test database waiting for the agent's turn lock."""
    from django.db import connection

    from agents.loop import TurnLock

    (key,) = TurnLock(agent_id).keys
    with connection.cursor() as cursor:
        # A bigint advisory key shows in pg_locks as its high and low 32 bits.
        cursor.execute(
            """
            SELECT count(*) FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
              AND classid = %s AND objid = %s
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """,
            [key >> 32, key & 0xFFFF_FFFF],
        )
        return int(cursor.fetchone()[0])


def _stored_turns(agent_id: str) -> list[tuple[str, str, str]]:
    from agents.models import Message

    rows = Message.objects.filter(agent_id=agent_id).exclude(turn_id="").order_by("seq")
    return list(rows.values_list("turn_id", "role", "content"))


def test_a_second_client_waits_for_the_first_turn_and_both_get_their_answer(
    http: httpx.Client, llm: ScriptedLLM, django_db_blocker: Any
):
    created = http.post("/v1/agents/", json={"name": "busy", "model": TEST_MODEL})
    assert created.status_code == 200, created.text
    agent_id = created.json()["id"]

    llm.main.hold()
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(_say, http, agent_id, "first question")
        llm.main.wait_for_waiting(1, timeout=15)
        second = pool.submit(_say, http, agent_id, "second question")
        with django_db_blocker.unblock():
            wait_until(
                lambda: _turn_lock_waiters(agent_id) == 1,
                timeout=15,
                what="the second turn to wait for the agent's turn lock",
            )
            # While it waits, nothing of the second turn is stored or sent to the model.
            assert [content for _, role, content in _stored_turns(agent_id) if role == "user"] == [
                "first question"
            ]
        assert len(llm.main.requests) == 1
        assert not first.done() and not second.done()

        llm.main.release()
        answers = [first.result(timeout=60), second.result(timeout=60)]

    for answer, question in zip(answers, ["first question", "second question"], strict=True):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["stop_reason"]["stop_reason"] == "end_turn", body
        replies = [
            m["content"] for m in body["messages"] if m["message_type"] == "assistant_message"
        ]
        assert replies == [f"echo: {question}"], body["messages"]
    # The second turn's model request saw the whole first turn before its own question.
    assert len(llm.main.requests) == 2
    second_prompt = str(llm.main.requests[1]["messages"])
    assert second_prompt.index("first question") < second_prompt.index("echo: first question")
    assert second_prompt.index("echo: first question") < second_prompt.index("second question")

    with django_db_blocker.unblock():
        stored = _stored_turns(agent_id)
    turn_order = [turn_id for turn_id, _, _ in stored]
    # Never interleaved: each turn's messages are one contiguous stretch.
    turns = list(dict.fromkeys(turn_order))
    assert len(turns) == 2
    assert turn_order == sorted(turn_order, key=turns.index), stored
    first_turn = [(role, content) for turn_id, role, content in stored if turn_id == turns[0]]
    second_turn = [(role, content) for turn_id, role, content in stored if turn_id == turns[1]]
    assert first_turn[0] == ("user", "first question"), first_turn
    assert second_turn[0] == ("user", "second question"), second_turn
    assert len(first_turn) > 1 and len(second_turn) > 1
    assert all(role != "user" for role, _ in first_turn[1:] + second_turn[1:])


def test_turns_of_two_agents_wait_for_the_model_at_once_and_other_requests_go_on(
    http: httpx.Client, llm: ScriptedLLM
):
    # Each request runs its sync code in a thread of its own (agents/api/agents.py,
    # offload): a turn waiting for the model holds up no other request.
    agent_ids = []
    for name in ("left", "right"):
        created = http.post("/v1/agents/", json={"name": name, "model": TEST_MODEL})
        assert created.status_code == 200, created.text
        agent_ids.append(created.json()["id"])

    llm.main.hold()
    with ThreadPoolExecutor(max_workers=2) as pool:
        turns = [pool.submit(_say, http, agent_id, "hello") for agent_id in agent_ids]
        llm.main.wait_for_waiting(2, timeout=15)
        listed = http.get("/v1/agents/", timeout=10)
        assert not any(turn.done() for turn in turns)
        llm.main.release()
        answers = [turn.result(timeout=60) for turn in turns]

    assert listed.status_code == 200, listed.text
    assert {agent["id"] for agent in listed.json()} >= set(agent_ids)
    assert [answer.status_code for answer in answers] == [200, 200]
