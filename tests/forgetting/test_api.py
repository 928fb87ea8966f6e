"""`/v1/agents/{agent_id}/forget`: forgetting through the API, and reading the record."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents.models import Message
from forgetting import tasks
from forgetting.models import ForgetJob, Tombstone
from tests.factories import make_agent as build_agent
from tests.factories import make_user, passage, say
from tests.forgetting.support import contents


def forget(client: Client, agent_id: str, body: dict[str, Any]) -> Any:
    return client.post(
        f"/v1/agents/{agent_id}/forget", data=json.dumps(body), content_type="application/json"
    )


def test_forgetting_messages_answers_with_the_tombstone_which_is_then_listed(
    api, make_agent, user, llm
):
    agent = make_agent()
    say(agent, "The alarm code is 9911")
    say(agent, "Nice weather")

    response = forget(api, agent.id, {"kind": "messages", "text": "alarm code"})

    assert response.status_code == 200, response.content
    tombstone = response.json()
    assert tombstone["kind"] == "messages"
    assert tombstone["who"] == str(user.pk)
    assert tombstone["count"] == tombstone["details"]["messages"] == 2
    assert "alarm" not in json.dumps(tombstone)
    assert not any("alarm" in text for text in contents(agent))
    listed = api.get(f"/v1/agents/{agent.id}/forget").json()
    assert [row["id"] for row in listed] == [tombstone["id"]]


def test_forgetting_a_matter_answers_202_with_the_job_whose_result_can_be_read(
    api, make_agent, llm
):
    agent = make_agent()
    say(agent, "Project Kestrel starts Monday")

    response = forget(api, agent.id, {"kind": "matter", "text": "Kestrel"})

    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "queued"
    assert "Kestrel" not in json.dumps(job)
    tasks.run_forget_job(job["id"])
    done = api.get(f"/v1/agents/{agent.id}/forget/jobs/{job['id']}").json()
    assert done["status"] == "completed"
    assert done["tombstone"]["kind"] == "matter"
    assert done["tombstone"]["details"]["messages"] == 2
    assert [row["id"] for row in api.get(f"/v1/agents/{agent.id}/forget/jobs").json()] == [
        job["id"]
    ]


def test_passages_and_block_text_are_forgotten_through_the_api(api, make_agent):
    agent = make_agent(blocks={"human": "Partner: Sam"})
    doomed = passage(agent, "Sam's birthday is in June")

    by_id = forget(api, agent.id, {"kind": "passages", "passage_ids": [doomed.id]})
    in_blocks = forget(api, agent.id, {"kind": "block_text", "text": "Sam"})

    assert (by_id.status_code, in_blocks.status_code) == (200, 200)
    assert by_id.json()["details"] == {"passages": 1}
    assert in_blocks.json()["details"]["versions"] >= 1


def test_another_persons_agent_is_not_found_and_nothing_is_forgotten(api, stranger_agent):
    say_nothing = Message.objects.filter(agent=stranger_agent).count()

    assert forget(api, stranger_agent.id, {"kind": "messages", "all": True}).status_code == 404
    assert api.get(f"/v1/agents/{stranger_agent.id}/forget").status_code == 404
    assert api.get(f"/v1/agents/{stranger_agent.id}/forget/jobs").status_code == 404
    assert Message.objects.filter(agent=stranger_agent).count() == say_nothing
    assert not Tombstone.objects.exists()


@pytest.fixture
def stranger_agent(db: Any) -> Any:

    stranger = make_user("stranger-forget")
    return build_agent(stranger, name="theirs")


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"kind": "messages"}, 400, "exactly one of"),
        ({"kind": "messages", "all": True, "text": "abc"}, 400, "exactly one of"),
        ({"kind": "matter", "text": "ab"}, 400, "at least 3 characters"),
        ({"kind": "matter", "text": "abc", "file_id": "file-x"}, 400, "file_id cannot be used"),
        ({"kind": "file"}, 400, "file_id"),
        (
            {
                "kind": "messages",
                "start_date": "2026-02-01T00:00:00Z",
                "end_date": "2026-01-01T00:00:00Z",
            },
            400,
            "start_date is after end_date",
        ),
        ({"kind": "file", "file_id": "file-nope"}, 404, "not found"),
        ({"kind": "messages", "message_ids": ["message-nope"]}, 404, "not found"),
        ({"kind": "everything", "text": "abc"}, 422, "kind"),
        ({"kind": "block_text", "text": "nul\u0000here"}, 400, "NUL"),
        ({"kind": "matter", "text": "half \ud800 a pair"}, 400, "not valid Unicode"),
        ({"kind": "messages", "message_ids": ["message-\u0000"]}, 400, "NUL"),
    ],
)
def test_bad_input_is_a_clear_4xx_and_changes_nothing(api, make_agent, llm, body, status, says):
    agent = make_agent()
    say(agent, "keep every word")
    before = contents(agent)

    response = forget(api, agent.id, body)

    assert response.status_code == status, response.content
    assert says in json.dumps(response.json()["detail"])
    assert contents(agent) == before
    assert not Tombstone.objects.exists()
    assert not ForgetJob.objects.exists()


def test_a_job_of_another_agent_is_not_found(api, make_agent):
    agent, other = make_agent(), make_agent(name="other")
    job = forget(api, other.id, {"kind": "matter", "text": "Kestrel"}).json()

    assert api.get(f"/v1/agents/{agent.id}/forget/jobs/{job['id']}").status_code == 404
