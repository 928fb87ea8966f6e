"""`/v1/evaluations`: does sleep-time pay off for this agent? Evaluations are made here,
carried out a step at a time by the workers (evaluation/services.py), read while they
run, and cancelled, resumed or deleted. Everything is the caller's organization's.

The report comes as JSON (per arm, and per item with each arm's answers and memory), as
CSV (a row per question asked) and as an SVG of its two plots; all three cover the steps
done so far, so they can be read while the evaluation runs.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpResponse
from ninja import Query, Router

from config.errors import NotFound
from config.pagination import cursor_page
from config.requests import ApiRequest
from evaluation import report, services
from evaluation.models import Evaluation
from evaluation.schemas import EvaluationIn, EvaluationOut, ReportOut
from memory.schemas import MessageOut

router = Router(tags=["evaluations"])


def _download(media_type: str, what: str) -> dict[str, Any]:
    """The OpenAPI of a 200 that is a file, not JSON (ninja documents no content then)."""
    return {
        "responses": {
            200: {"description": what, "content": {media_type: {"schema": {"type": "string"}}}}
        }
    }


@router.post("", response=EvaluationOut)
def create_evaluation(request: ApiRequest, payload: EvaluationIn) -> Evaluation:
    """Make an evaluation and queue its first step: the material is made (or read) and
    checked, the agent's model, prompt and blocks are copied as they are now, and what
    it will spend is estimated. Every arm replays every item into a fresh copy and is
    asked the item's questions afterwards."""
    return services.create_evaluation(
        request.auth,
        material_spec=payload.material.model_dump(),
        arms=payload.arms,
        agent_id=payload.agent_id,
        model=payload.model,
        judge_model=payload.judge_model,
        token_budget=payload.token_budget,
        keep_copies=payload.keep_copies,
    )


@router.get("", response=list[EvaluationOut])
def list_evaluations(
    request: ApiRequest,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    order: Literal["asc", "desc"] = "desc",
) -> list[Evaluation]:
    """Newest first, unless `order=asc`; the cursors are evaluation ids."""
    evaluations = services.list_evaluations(request.auth)
    for cursor in (after, before):
        # A cursor is resolved with the caller's access, like every id (cursor_page would
        # page from another organization's evaluation).
        if cursor and not evaluations.filter(pk=cursor).exists():
            raise NotFound(f"No evaluation with id '{cursor}' to page from")
    page = cursor_page(
        evaluations, after=after, before=before, limit=limit, ascending=order == "asc"
    )
    return list(page)


@router.get("/{evaluation_id}", response=EvaluationOut)
def retrieve_evaluation(request: ApiRequest, evaluation_id: str) -> Evaluation:
    return services.get_evaluation_for_user(request.auth, evaluation_id)


@router.get("/{evaluation_id}/report", response=ReportOut)
def evaluation_report(request: ApiRequest, evaluation_id: str) -> dict[str, Any]:
    """Per arm: accuracy, tokens per question and per context, break-even against the
    arm without sleep-time; per item and arm: the answers, and the memory the copy had
    when it was asked. Over the steps done so far."""
    evaluation = services.get_evaluation_for_user(request.auth, evaluation_id)
    return services.summary(evaluation)


@router.get("/{evaluation_id}/report.csv", openapi_extra=_download("text/csv", "A row a question"))
def evaluation_csv(request: ApiRequest, evaluation_id: str) -> HttpResponse:
    """A row per question asked: arm, item, question, expected and given answer, whether
    it was right, its tokens and latency."""
    evaluation = services.get_evaluation_for_user(request.auth, evaluation_id)
    response = HttpResponse(
        report.to_csv(services.records(evaluation)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{evaluation.id}.csv"'
    return response


@router.get("/{evaluation_id}/plot.svg", openapi_extra=_download("image/svg+xml", "The plots"))
def evaluation_plot(request: ApiRequest, evaluation_id: str) -> HttpResponse:
    """Accuracy against question-time tokens per arm, and tokens per question once a
    context's sleep-time is shared by 1 to 20 questions."""
    evaluation = services.get_evaluation_for_user(request.auth, evaluation_id)
    # The summary's rows, so the plot compares against the baseline the report names.
    rows = services.summary(evaluation)["arms"]
    return HttpResponse(report.svg(rows), content_type="image/svg+xml")


@router.post("/{evaluation_id}/cancel", response=EvaluationOut)
def cancel_evaluation(request: ApiRequest, evaluation_id: str) -> Evaluation:
    """Stop it: a step at work finishes (and is kept), no other starts. A 409 when it
    already ended."""
    evaluation = services.get_evaluation_for_user(request.auth, evaluation_id)
    return services.cancel(evaluation, request.auth)


@router.post("/{evaluation_id}/resume", response=EvaluationOut)
def resume_evaluation(request: ApiRequest, evaluation_id: str) -> Evaluation:
    """Go on from the steps done, after a pause for a budget or a failed step (which is
    done again). A 409 for any other state."""
    evaluation = services.get_evaluation_for_user(request.auth, evaluation_id)
    return services.resume(evaluation)


@router.delete("/{evaluation_id}", response=MessageOut)
def delete_evaluation(request: ApiRequest, evaluation_id: str) -> dict[str, str]:
    """Delete it, its report and the copies it kept. One queued or running must be
    cancelled first (a 409)."""
    evaluation = services.get_evaluation_for_user(request.auth, evaluation_id)
    services.delete_evaluation(evaluation)
    return {"message": f"Evaluation {evaluation_id} deleted"}
