"""Upgrading a database from before organizations: every user's agents, blocks, runs,
sources and keys land in an organization of that user's own, and nothing is lost."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("accounts", "0001_initial"),
    ("agents", "0003_digest_trigger"),
    ("memory", "0003_source_passages"),
    ("sources", "0001_sources_and_files"),
]


@pytest.mark.django_db(transaction=True)
def test_existing_rows_move_into_their_owners_own_organization():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    users = old.get_model("auth", "User")
    ada = users.objects.create(username="ada")
    bob = users.objects.create(username="bob")
    agent = old.get_model("agents", "Agent").objects.create(owner=ada, name="a", tools=[])
    block = old.get_model("memory", "Block").objects.create(owner=bob, label="human")
    source = old.get_model("sources", "Source").objects.create(owner=ada, name="docs")
    key = old.get_model("accounts", "ApiKey").objects.create(
        user=bob, prefix="rev-x", key_hash="0" * 64
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    new = executor.loader.project_state(executor.loader.graph.leaf_nodes()).apps
    membership = new.get_model("accounts", "Membership")
    ada_org = membership.objects.get(user_id=ada.pk).organization_id
    bob_org = membership.objects.get(user_id=bob.pk).organization_id
    assert ada_org != bob_org
    assert membership.objects.get(user_id=ada.pk).role == "admin"
    assert new.get_model("agents", "Agent").objects.get(pk=agent.pk).organization_id == ada_org
    assert new.get_model("memory", "Block").objects.get(pk=block.pk).organization_id == bob_org
    assert new.get_model("sources", "Source").objects.get(pk=source.pk).organization_id == ada_org
    assert new.get_model("accounts", "ApiKey").objects.get(pk=key.pk).organization_id == bob_org
