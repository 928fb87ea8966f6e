"""Small builders for tests: sensible defaults, override what the test is about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client

from accounts.access import ensure_membership
from accounts.models import Membership, Organization, Role
from accounts.services import create_api_key
from agents import runs, sleeptime
from agents.loop import InputMessage
from agents.models import Agent, Group, Run
from agents.services import AgentSpec, BlockSpec, create_agent, send_message
from memory.models import Passage


def make_user(username: str, **fields: Any) -> Any:
    """A person in an organization of their own, as Reverie makes users (and as every
    user is after signing in): they act there unless a test adds them elsewhere."""
    user = get_user_model().objects.create_user(username=username, **fields)
    ensure_membership(user)
    return user


TEST_MODEL = "openai/gpt-4.1"
TEST_EMBEDDING = "openai/text-embedding-3-small"


def make_agent(owner: Any, **overrides: Any) -> Agent:
    blocks = overrides.pop("blocks", {"persona": "I am a helpful assistant.", "human": ""})
    spec = AgentSpec(
        name=overrides.pop("name", "test-agent"),
        model=overrides.pop("model", TEST_MODEL),
        embedding=overrides.pop("embedding", TEST_EMBEDDING),
        memory_blocks=[
            BlockSpec(label=label, value=value, limit=overrides.pop(f"{label}_limit", None))
            for label, value in blocks.items()
        ],
        **overrides,
    )
    return create_agent(owner, spec)


# --- Sleep-time pairs, messages, runs, passages ---------------------------------------


def pair(make_agent: Any, **overrides: Any) -> tuple[Agent, Agent, Group]:
    """A primary with sleep-time on, its sleep-time agent and their group."""
    overrides.setdefault("name", "chat")
    primary = make_agent(enable_sleeptime=True, **overrides)
    group = sleeptime.group_of(primary)
    assert group is not None
    (sleeper,) = sleeptime.sleeptime_agents(group)
    return primary, sleeper, group


def say(agent: Agent, text: str) -> Any:
    return send_message(agent, [InputMessage(role="user", content=text)])


def run_sleeper_now(group: Group) -> Run:
    """Start a run of the group's sleep-time agent and carry it out, as a worker would."""
    (run,) = sleeptime.run_now(group)
    assert runs.execute_run(run.id) == "completed", Run.objects.get(pk=run.id).error
    run.refresh_from_db()
    return run


def passage(agent: Agent, text: str) -> Passage:
    """An archival passage without a model call (the embedding is not what is tested)."""
    return Passage.objects.create(
        owner_id=agent.owner_id,
        agent=agent,
        text=text,
        embedding=[1.0] + [0.0] * 1535,
        embedding_handle=TEST_EMBEDDING,
    )


# --- A team: an organization with an admin, an editor and a viewer; an outsider ------


@dataclass
class Member:
    user: Any
    key: str
    api: Client
    browser: Client


@dataclass
class Team:
    organization: Organization
    admin: Member
    editor: Member
    viewer: Member
    outsider: Member


def _member(django_user_model: Any, name: str, organization: Organization, role: str) -> Member:
    user = django_user_model.objects.create_user(username=name)
    Membership.objects.create(user=user, organization=organization, role=role)
    _, key = create_api_key(user, organization=organization)
    browser = Client()
    browser.force_login(user)
    return Member(user, key, Client(headers={"Authorization": f"Bearer {key}"}), browser)


def build_team(django_user_model: Any) -> Team:
    acme = Organization.objects.create(name="acme")
    elsewhere = Organization.objects.create(name="elsewhere")
    return Team(
        organization=acme,
        admin=_member(django_user_model, "ada", acme, Role.ADMIN),
        editor=_member(django_user_model, "ed", acme, Role.EDITOR),
        viewer=_member(django_user_model, "vi", acme, Role.VIEWER),
        outsider=_member(django_user_model, "out", elsewhere, Role.ADMIN),
    )
