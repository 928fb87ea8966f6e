from __future__ import annotations

from django.urls import reverse

from agents.models import Agent, Group
from tests.factories import make_agent as build_agent


def test_delete_asks_for_confirmation_first(signed_in, make_agent):
    agent = make_agent(name="doomed", enable_sleeptime=True)
    response = signed_in.get(reverse("agents:delete", args=[agent.id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Delete doomed?" in body
    assert "doomed-sleeptime" in body
    assert f'action="{reverse("agents:delete", args=[agent.id])}"' in body
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_posting_the_confirmation_deletes_and_returns_to_the_list(signed_in, make_agent):
    agent = make_agent(name="doomed", enable_sleeptime=True)
    response = signed_in.post(reverse("agents:delete", args=[agent.id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("agents:list")
    assert not Agent.objects.filter(pk=agent.pk).exists()
    assert not Agent.objects.filter(name="doomed-sleeptime").exists()
    assert not Group.objects.exists()
    page = signed_in.get(response["Location"])
    assert "Deleted agent doomed." in page.content.decode()


def test_another_persons_agent_cannot_be_deleted(signed_in, stranger):
    theirs = build_agent(stranger, name="theirs")
    assert signed_in.get(reverse("agents:delete", args=[theirs.id])).status_code == 404
    assert signed_in.post(reverse("agents:delete", args=[theirs.id])).status_code == 404
    assert Agent.objects.filter(pk=theirs.pk).exists()
