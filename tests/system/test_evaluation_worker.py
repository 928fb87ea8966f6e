"""An evaluation carried out by `manage.py worker` as deployed, and picked up again after
the worker doing it is killed mid-step: the lost step's copy goes, the step is done again
by the next worker, and the evaluation completes with every step once."""

from __future__ import annotations

import uuid
from typing import Any

from tests.live import WorkerProcess, wait_until
from tests.llm_server import ScriptedLLM


def _status(evaluation_id: str) -> str:
    from evaluation.models import Evaluation

    return str(Evaluation.objects.get(pk=evaluation_id).status)


def test_an_evaluation_killed_with_its_worker_resumes_and_completes(
    worker: WorkerProcess, llm: ScriptedLLM, django_db_blocker: Any
):
    from accounts.services import get_or_create_user
    from agents.models import Agent
    from evaluation import services
    from evaluation.models import Evaluation
    from tests.factories import TEST_MODEL

    main = llm.main
    main.hold()  # the first step's first replayed turn waits at the model
    with django_db_blocker.unblock():
        user, _ = get_or_create_user(f"eval-{uuid.uuid4().hex[:8]}")
        evaluation = services.create_evaluation(
            user,
            model=TEST_MODEL,
            material_spec={"kind": "arithmetic", "count": 1, "seed": 5},
            arms=["off", "on"],
        )
        try:
            main.wait_for_waiting(1, timeout=20)
            assert _status(evaluation.id) == "running"
            lost_copy = Agent.objects.get(evaluation_id=evaluation.id)

            worker.kill()
            main.release()  # the dead worker's request gets an answer nobody reads
            wait_until(lambda: main.waiting == 0, what="the held request to leave")
        finally:
            worker.start()

        wait_until(
            lambda: _status(evaluation.id) in ("completed", "failed"),
            timeout=60,
            what="the evaluation to end",
        )
        evaluation = Evaluation.objects.get(pk=evaluation.id)
        assert evaluation.status == "completed", evaluation.reason
        assert [step.position for step in evaluation.steps.all()] == [0, 1]
        assert evaluation.steps_done == 2
        assert not Agent.objects.filter(pk=lost_copy.pk).exists()
        assert not Agent.objects.filter(evaluation_id=evaluation.id).exists()
        assert evaluation.tokens_used == sum(step.tokens for step in evaluation.steps.all()) > 0
        services.delete_evaluation(evaluation)
