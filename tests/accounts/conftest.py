"""A team: one organization with an admin, an editor and a viewer; and an outsider in an
organization of their own."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import Membership, Organization, Role
from accounts.services import create_api_key


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


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


def patch(client: Client, path: str, body: Any) -> Any:
    return client.patch(path, data=json.dumps(body), content_type="application/json")


def _member(django_user_model: Any, name: str, organization: Organization, role: str) -> Member:
    user = django_user_model.objects.create_user(username=name)
    Membership.objects.create(user=user, organization=organization, role=role)
    _, key = create_api_key(user, organization=organization)
    browser = Client()
    browser.force_login(user)
    return Member(user, key, Client(headers={"Authorization": f"Bearer {key}"}), browser)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def team(db: Any, django_user_model: Any) -> Team:
    return build_team(django_user_model)


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
