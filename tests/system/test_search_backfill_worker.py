"""`manage.py worker` as deployed fills the search vectors of passages stored before
full-text search existed: its clock queues the backfill on its first beat, a worker of its
cluster carries it out, and search then finds those passages by their words."""

from __future__ import annotations

import uuid
from typing import Any

from memory import services
from memory.models import Passage
from tests.factories import make_agent, make_user
from tests.live import wait_until

LOCAL = "local/hashing-bow"


def test_a_starting_worker_fills_the_search_vectors_an_older_release_left_empty(
    start_worker: Any, django_db_blocker: Any
):
    with django_db_blocker.unblock():
        user = make_user(f"backfill-{uuid.uuid4().hex[:8]}")
        agent = make_agent(user, name="archivist", embedding=LOCAL)
        for number in range(4472, 4480):
            services.insert_passage(agent, f"Ticket AX-{number} is open.")
        old = services.insert_passage(
            agent,
            "After a long review of the supplier contract, the maintenance team closed "
            "ticket AX-4471 on Friday afternoon.",
        )
        # As a release without full-text search left it (the trigger fills new rows).
        Passage.objects.filter(pk=old.pk).update(search_vector=None)
        assert old.pk not in [p.pk for p in services.search_passages(agent, "AX-4471", top_k=3)]

    start_worker()

    with django_db_blocker.unblock():
        wait_until(
            lambda: Passage.objects.filter(pk=old.pk, search_vector__isnull=False).exists(),
            timeout=30,
            what="the worker's backfill",
        )
        assert services.search_passages(agent, "AX-4471", top_k=3)[0].pk == old.pk
