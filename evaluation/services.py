"""Evaluations as durable background jobs: made (and checked) here, then carried out a
step at a time by the workers, within budgets, resumable after a worker dies.

A step is one arm's copy for one item (runner.run_item). Each is its own job, so none
comes near the queue's timeout, and the steps done are kept: a worker killed mid-step
costs that step only. The clock (`manage.py worker`) hands an evaluation whose worker
stopped beating to another worker, which deletes the copy the lost step left and does
that step again; the tokens the lost try had spent are kept apart (`tokens_discarded`).

Before each step the step's estimate is held against the evaluation's own token budget
and the organization's (agents.governor, which counts every evaluation's spend as
background work): a step that would go over is not started, and the evaluation waits,
paused, with the reason, until a person resumes it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone

import llm
from accounts.access import access_for, bind, membership_in
from agents import governor
from agents import services as agent_services
from agents.models import Agent, AgentType, Message, Role, Run
from config.errors import Conflict, InvalidRequest, NotFound
from config.heartbeat import Heartbeat
from config.tasks import enqueue_on_commit
from evaluation import estimate, material, report
from evaluation.models import ACTIVE, RESUMABLE, Evaluation, EvaluationStatus, EvaluationStep
from evaluation.runner import Arm, ArmItem, StepFailed, Template, run_item

logger = logging.getLogger("reverie.evaluation")

MAX_COUNT = 50  # generated contexts per evaluation
MAX_ATTEMPTS = 3  # tries of one step before the evaluation fails
MAX_ARMS = 6
MAX_HISTORY_TURNS = 200  # the newest messages of an agent's history replayed
MAX_JSONL_CHARS = 1_000_000
DEFAULT_PERSONA = "I am a helpful assistant."


# --- Making one ----------------------------------------------------------------------------


def _count(spec: dict[str, Any], name: str, default: int, high: int) -> int:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidRequest(f"material.{name} is a whole number from 1 to {high}, not {value!r}.")
    return value


def _history(agent: Agent | None, spec: dict[str, Any]) -> list[material.Item]:
    if agent is None:
        raise InvalidRequest(
            "History material replays an agent's own history: choose the agent (agent_id)."
        )
    return [history_item(agent, spec.get("questions"))]


def history_item(agent: Agent, questions: object) -> material.Item:
    """What the agent's user said (the newest MAX_HISTORY_TURNS messages), and the
    questions a person wrote about it."""
    said = (
        Message.objects.filter(agent=agent, role=Role.USER)
        .exclude(content="")
        .order_by("-seq")
        .values_list("content", flat=True)[:MAX_HISTORY_TURNS]
    )
    try:
        return material.from_history(list(reversed(said)), questions)
    except material.MaterialError as error:
        raise InvalidRequest(f"material: {error}") from None


def _items(spec: dict[str, Any], agent: Agent | None) -> list[material.Item]:
    """The material `spec` names, made now (generated ones are deterministic by seed)."""
    kind = spec.get("kind")
    seed = spec.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidRequest(f"material.seed is a whole number, not {seed!r}.")
    if kind == "arithmetic":
        return material.stateful_arithmetic(seed, _count(spec, "count", 3, MAX_COUNT))
    if kind == "personal":
        return material.personal_memory(seed, _count(spec, "count", 3, MAX_COUNT))
    if kind == "jsonl":
        text = spec.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InvalidRequest("material 'jsonl' needs its lines as text.")
        if len(text) > MAX_JSONL_CHARS:
            raise InvalidRequest(f"material.text is over {MAX_JSONL_CHARS:,} characters.")
        try:
            items = material.from_jsonl(text)
        except material.MaterialError as error:
            raise InvalidRequest(f"material: {error}") from None
        if not items:
            raise InvalidRequest("material: the JSONL holds no items.")
        return items
    if kind == "history":
        return _history(agent, spec)
    raise InvalidRequest(f"material.kind is arithmetic, personal, jsonl or history, not {kind!r}.")


def _arms(texts: list[str]) -> list[Arm]:
    if not texts:
        raise InvalidRequest("Give at least one arm (off, on, on:model=...:passes=2).")
    if len(texts) > MAX_ARMS:
        raise InvalidRequest(f"At most {MAX_ARMS} arms.")
    try:
        arms = [Arm.parse(text) for text in texts]
    except ValueError as error:
        raise InvalidRequest(str(error)) from None
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        raise InvalidRequest("Each arm once: two arms are the same.")
    return arms


def _configured(handles: list[str]) -> None:
    for handle in handles:
        provider, _, model = handle.partition("/")
        if not provider or not model:
            raise InvalidRequest(f"{handle!r} must look like 'provider/model-name'.")
        try:
            llm.ensure_configured(handle)
        except llm.ProviderNotConfigured as error:
            raise InvalidRequest(str(error)) from None


def create_evaluation(
    user: Any,
    *,
    material_spec: dict[str, Any],
    arms: list[str],
    agent_id: str | None = None,
    model: str | None = None,
    judge_model: str | None = None,
    token_budget: int | None = None,
    keep_copies: bool = False,
) -> Evaluation:
    """Check everything it needs, snapshot the template and the material, estimate what
    it will spend, and queue its first step."""
    agent = agent_services.get_agent_for_user(user, agent_id) if agent_id else None
    if agent is None and not model:
        raise InvalidRequest("Choose an agent to copy (agent_id) or a model.")
    if agent is not None and model:
        raise InvalidRequest(
            "Choose an agent (agent_id) or a model, not both: a copy keeps its agent's model."
        )
    if token_budget is not None and token_budget < 1:
        raise InvalidRequest("token_budget is a positive number of tokens.")
    parsed = _arms(arms)
    items = _items(material_spec, agent)
    template = (
        Template.of(agent)
        if agent is not None
        else Template(
            model=str(model),
            embedding=agent_services.default_embedding_handle(),
            system="",
            blocks={"persona": DEFAULT_PERSONA, "human": ""},
        )
    )
    handles = [template.model, *(arm.model for arm in parsed if arm.model)]
    _configured(handles + ([judge_model] if judge_model else []))
    spec = {k: v for k, v in material_spec.items() if k in ("kind", "count", "seed")}
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            owner=user,
            organization=access_for(user).organization,
            agent=agent,
            agent_name=agent.name if agent is not None else "",
            template=asdict(template),
            material=spec,
            items=[material.to_dict(item) for item in items],
            item_count=len(items),
            question_count=sum(len(item.questions) for item in items),
            arms=[arm.name for arm in parsed],
            judge_model=judge_model or "",
            keep_copies=keep_copies,
            token_budget=token_budget,
            estimated_tokens=estimate.evaluation(template, items, parsed),
            steps_total=len(items) * len(parsed),
        )
        _enqueue(evaluation)
    return evaluation


def _enqueue(evaluation: Evaluation) -> None:
    enqueue_on_commit("evaluation.tasks.run_step", evaluation.id)


# --- Reading -------------------------------------------------------------------------------


def list_evaluations(user: Any) -> QuerySet[Evaluation]:
    """Newest first, without the material (up to a megabyte each) a list never shows."""
    return Evaluation.objects.for_user(user).defer("items").order_by("-created_at", "id")


def get_evaluation_for_user(user: Any, evaluation_id: str) -> Evaluation:
    try:
        return Evaluation.objects.for_user(user).get(pk=evaluation_id)
    except Evaluation.DoesNotExist:
        raise NotFound(f"Evaluation '{evaluation_id}' not found") from None


def records(evaluation: Evaluation) -> list[ArmItem]:
    """What each finished step measured, in the evaluation's order."""
    return [ArmItem.from_dict(step.record) for step in evaluation.steps.order_by("position")]


def summary(evaluation: Evaluation) -> dict[str, Any]:
    """The report: per arm (accuracy, tokens, break-even) and per item, with the memory
    each arm had at question time; token counts are the provider's, the estimate apart."""
    done = records(evaluation)
    baseline = "off" if "off" in evaluation.arms else evaluation.arms[0]
    return {
        "id": evaluation.id,
        "status": evaluation.status,
        "estimated_tokens": evaluation.estimated_tokens,
        "tokens_used": evaluation.tokens_used,
        "tokens_discarded": evaluation.tokens_discarded,
        **report.to_json(done, baseline),
    }


# --- People's actions ----------------------------------------------------------------------


def cancel(evaluation: Evaluation, by: Any) -> Evaluation:
    """Stop it: a step at work finishes (and is kept), no other starts."""
    updated = Evaluation.objects.filter(pk=evaluation.pk, status__in=(*ACTIVE, *RESUMABLE)).update(
        status=EvaluationStatus.CANCELLED,
        reason=f"cancelled by {by.get_username()}",
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    evaluation.refresh_from_db()
    if not updated:
        raise Conflict(f"Evaluation '{evaluation.id}' is {evaluation.status}: nothing to cancel.")
    return evaluation


def resume(evaluation: Evaluation) -> Evaluation:
    """Go on from the steps done: after a pause for a budget, or a failed step."""
    with transaction.atomic():
        updated = Evaluation.objects.filter(pk=evaluation.pk, status__in=RESUMABLE).update(
            status=EvaluationStatus.QUEUED,
            reason="",
            heartbeat_at=None,
            attempts=0,
            updated_at=timezone.now(),
        )
        evaluation.refresh_from_db()
        if not updated:
            raise Conflict(
                f"Evaluation '{evaluation.id}' is {evaluation.status}: only a paused or "
                "failed evaluation resumes."
            )
        _enqueue(evaluation)
    return evaluation


def delete_evaluation(evaluation: Evaluation) -> None:
    """Delete it and the copies it kept; one at work must be cancelled first."""
    if evaluation.status in ACTIVE:
        raise Conflict(f"Evaluation '{evaluation.id}' is {evaluation.status}: cancel it first.")
    for copy in _copies(evaluation):
        agent_services.delete_agent(copy)
    evaluation.delete()


# --- The steps (a worker's) ----------------------------------------------------------------


def _copies(evaluation: Evaluation) -> QuerySet[Agent]:
    """The evaluation's copies (their sleep-time agents go with them)."""
    return Agent.objects.filter(evaluation_id=evaluation.id).exclude(agent_type=AgentType.SLEEPTIME)


def _claim(evaluation_id: str) -> Evaluation | None:
    """The evaluation, now `running` for this worker; None when it is not this worker's
    (finished, paused, cancelled, or another worker's heartbeat is fresh)."""
    stale = timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS)
    with transaction.atomic():
        evaluation = (
            Evaluation.objects.select_for_update(skip_locked=True).filter(pk=evaluation_id).first()
        )
        if evaluation is None or evaluation.status not in ACTIVE:
            return None
        beating = evaluation.heartbeat_at is not None and evaluation.heartbeat_at > stale
        if evaluation.status == EvaluationStatus.RUNNING and beating:
            return None
        now = timezone.now()
        evaluation.status = EvaluationStatus.RUNNING
        evaluation.heartbeat_at = now
        evaluation.started_at = evaluation.started_at or now
        evaluation.attempts += 1
        evaluation.save(
            update_fields=["status", "heartbeat_at", "started_at", "attempts", "updated_at"]
        )
    return evaluation


def _next_step(evaluation: Evaluation) -> tuple[int, material.Item, Arm] | None:
    done = set(evaluation.steps.values_list("position", flat=True))
    arms = [Arm.parse(text) for text in evaluation.arms]
    position = 0
    for data in evaluation.items:
        item = material.from_dict(data)
        for arm in arms:
            if position not in done:
                return position, item, arm
            position += 1
    return None


def _discard_leftovers(evaluation: Evaluation) -> tuple[int, int]:
    """Delete the copies of steps a stopped worker left unfinished; what they spent
    (prompt, completion)."""
    kept = {step.record.get("agent_id") for step in evaluation.steps.only("record")}
    lost = _copies(evaluation).exclude(pk__in=kept)
    spent = Run.objects.filter(primary_agent__in=lost).aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens")
    )
    for copy in lost:
        agent_services.delete_agent(copy)
    return int(spent["prompt"] or 0), int(spent["completion"] or 0)


def _over_budget(evaluation: Evaluation, expected: int) -> str:
    if evaluation.token_budget is not None:
        if evaluation.tokens_used + expected > evaluation.token_budget:
            return (
                f"the next step would need about {expected:,} tokens and take the evaluation "
                f"past its budget of {evaluation.token_budget:,} ({evaluation.tokens_used:,} "
                "used)"
            )
    for limit in governor.organization_limits(evaluation.organization):
        if limit.spent + expected > limit.budget:
            return (
                f"the next step would need about {expected:,} tokens and take the "
                f"organization past its {limit.period} budget of {limit.budget:,} "
                f"({limit.spent:,} spent)"
            )
    return ""


def _stop(evaluation: Evaluation, status: str, reason: str) -> None:
    finished = status in (EvaluationStatus.COMPLETED, EvaluationStatus.FAILED)
    Evaluation.objects.filter(pk=evaluation.pk, status=EvaluationStatus.RUNNING).update(
        status=status,
        reason=reason,
        heartbeat_at=None,
        finished_at=timezone.now() if finished else None,
        updated_at=timezone.now(),
    )


def run_step(evaluation_id: str) -> str:
    """Do the evaluation's next step and queue the one after it. Safe to call twice."""
    evaluation = _claim(evaluation_id)
    if evaluation is None:
        return "skipped"
    rows = Evaluation.objects.filter(pk=evaluation.pk)
    if evaluation.attempts > MAX_ATTEMPTS:
        # Lost with its worker every time: killed, or longer than the queue lets a job
        # run. Trying again would only spend again.
        timeout = settings.Q_CLUSTER["timeout"]
        _stop(
            evaluation,
            EvaluationStatus.FAILED,
            f"a step was lost with its worker {MAX_ATTEMPTS} times (a worker killed, or a "
            f"step longer than the queue's timeout of {timeout} s): give fewer turns per item",
        )
        return EvaluationStatus.FAILED
    with Heartbeat(rows, settings.RUN_STALE_SECONDS / 4):
        discarded = _discard_leftovers(evaluation)
        if sum(discarded):
            rows.update(tokens_discarded=F("tokens_discarded") + sum(discarded))
        following = _next_step(evaluation)
        if following is None:
            _stop(evaluation, EvaluationStatus.COMPLETED, "")
            return EvaluationStatus.COMPLETED
        position, item, arm = following
        template = Template(**evaluation.template)
        owner = evaluation.owner
        membership = membership_in(owner, evaluation.organization_id)
        if membership is None:
            _stop(evaluation, EvaluationStatus.FAILED, "its owner left the organization")
            return EvaluationStatus.FAILED
        bind(owner, membership)  # the copies are the organization's
        why = _over_budget(evaluation, estimate.step(template, item, arm))
        if why:
            _stop(evaluation, EvaluationStatus.PAUSED, why)
            return EvaluationStatus.PAUSED
        try:
            record = run_item(
                owner,
                template,
                item,
                arm,
                judge_model=evaluation.judge_model or None,
                evaluation_id=evaluation.id,
            )
        except (StepFailed, llm.LLMError) as error:
            _discard_leftovers(evaluation)
            _stop(evaluation, EvaluationStatus.FAILED, f"{item.id} / {arm.name}: {error}")
            return EvaluationStatus.FAILED
        except Exception as error:  # never leave it `running` behind
            logger.exception("evaluation %s: step %s crashed", evaluation.id, position)
            _stop(evaluation, EvaluationStatus.FAILED, f"internal error: {error}")
            return EvaluationStatus.FAILED
        with transaction.atomic():
            EvaluationStep.objects.create(
                evaluation=evaluation,
                organization_id=evaluation.organization_id,
                position=position,
                arm=arm.name,
                item_id=item.id,
                record=asdict(record),
                tokens=record.tokens,
                discarded_prompt_tokens=discarded[0],
                discarded_completion_tokens=discarded[1],
            )
            rows.update(
                steps_done=F("steps_done") + 1,
                attempts=0,
                tokens_used=F("tokens_used") + record.tokens,
                updated_at=timezone.now(),
            )
            # Cancelled meanwhile: the step is kept, nothing more starts.
            going_on = rows.filter(status=EvaluationStatus.RUNNING).update(
                status=EvaluationStatus.QUEUED, heartbeat_at=None
            )
            if going_on:
                _enqueue(evaluation)
    if not evaluation.keep_copies:
        copy = Agent.objects.filter(pk=record.agent_id).first()
        if copy is not None:
            agent_services.delete_agent(copy)
    return "step done"


# --- The budget and the clock --------------------------------------------------------------


def spend_rows(organization_id: str, since: datetime) -> list[governor.SpendDay]:
    """The organization's evaluations' spend per evaluation and day since `since`, as
    the governor's spend rows (its budgets and the spend page count them): every token of
    every step, those of tries lost with a worker included, priced per model where
    MODEL_PRICES has the price."""
    steps = EvaluationStep.objects.filter(
        organization_id=organization_id, created_at__gte=since
    ).select_related("evaluation")
    merged: dict[tuple[str, str], governor.SpendDay] = {}
    for step in steps:
        evaluation = step.evaluation
        model = str(evaluation.template.get("model", ""))
        arm = Arm.parse(step.arm)
        used = ArmItem.from_dict(step.record).tokens_by_model(
            model, arm.model or model, evaluation.judge_model
        )
        lost = used.setdefault(model, [0, 0])
        lost[0] += step.discarded_prompt_tokens
        lost[1] += step.discarded_completion_tokens
        day = timezone.localdate(step.created_at, UTC).isoformat()
        row = merged.setdefault(
            (day, evaluation.id),
            {
                "date": day,
                "agent_id": evaluation.id,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "total_tokens": 0,
                "runs": 0,
                "cost": 0.0,
            },
        )
        row["runs"] += 1
        for handle, (prompt, completion) in used.items():
            row["prompt_tokens"] += prompt
            row["completion_tokens"] += completion
            row["total_tokens"] += prompt + completion
            cost, so_far = governor.cost(handle, prompt, completion), row["cost"]
            priced = cost is not None or not (prompt or completion)
            row["cost"] = so_far + (cost or 0.0) if so_far is not None and priced else None
    return [merged[key] for key in sorted(merged)]


def recover_lost(now: datetime | None = None) -> list[str]:
    """Hand evaluations whose worker stopped beating (or whose queued step never
    started) to a new worker."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.RUN_STALE_SECONDS)
    lost = []
    with transaction.atomic():
        rows = Evaluation.objects.select_for_update(skip_locked=True).filter(status__in=ACTIVE)
        for evaluation in rows.filter(heartbeat_at__lt=stale) | rows.filter(
            heartbeat_at__isnull=True, updated_at__lt=stale
        ):
            Evaluation.objects.filter(pk=evaluation.pk).update(
                status=EvaluationStatus.QUEUED, heartbeat_at=None, updated_at=now
            )
            _enqueue(evaluation)
            lost.append(evaluation.pk)
    return lost
