"""The cost governor of background work: budgets, estimates, back-off and spend.

Background work (sleep-time runs, document digests, forget jobs) spends tokens nobody
waits for, so it must never spend them unseen or without limit:
- budgets: tokens per day and per month for each organization and each agent (its
  group), None meaning no limit; a run whose estimate would take the spend past one is
  skipped before it calls the model, with the reason on the ledger;
- estimates from what the run will read: its prompt (system prompt, blocks, transcript)
  read by about two model calls (one that edits, one that finishes), plus their replies;
- back-off: consecutive runs that change nothing double the interval between triggered
  runs, up to SLEEPTIME_BACKOFF_MAX times; a run that changes memory, or a person
  starting one, resets it;
- spend: the provider-reported tokens of finished background runs per agent and day,
  and money where MODEL_PRICES names the model's price.
Days and months are UTC.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.db.models import F, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Organization
from agents.models import Agent, Group, Run, RunOutcome, RunTrigger

# Model calls a run usually makes (one that edits, one that finishes) and what each
# answers, for the estimate.
EXPECTED_CALLS = 2
REPLY_TOKENS = 400


def estimate(prompt_tokens: int, *, calls: int = EXPECTED_CALLS) -> int:
    """Tokens a run reading a prompt of `prompt_tokens` will probably spend."""
    return calls * (prompt_tokens + REPLY_TOKENS)


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(now: datetime) -> datetime:
    return _day_start(now).replace(day=1)


def _spent(runs: QuerySet[Run], since: datetime) -> int:
    total = runs.filter(created_at__gte=since).aggregate(
        tokens=Sum(F("prompt_tokens") + F("completion_tokens"))
    )["tokens"]
    return int(total or 0)


def background_runs() -> QuerySet[Run]:
    return Run.objects.exclude(trigger=RunTrigger.MESSAGE)


@dataclass(frozen=True)
class Limit:
    scope: str  # "agent" or "organization"
    period: str  # "daily" or "monthly"
    budget: int
    spent: int


def limits(primary: Agent, now: datetime | None = None) -> list[Limit]:
    """The budgets that hold for `primary`'s background work, with what is spent."""
    now = now or timezone.now()
    group = Group.objects.filter(manager_agent=primary).first()
    organization = Organization.objects.filter(pk=primary.organization_id).first()
    found = []
    for scope, holder, runs in (
        ("agent", group, background_runs().filter(primary_agent=primary)),
        (
            "organization",
            organization,
            background_runs().filter(organization_id=primary.organization_id),
        ),
    ):
        if holder is None:
            continue
        for period, budget, since in (
            ("daily", holder.daily_token_budget, _day_start(now)),
            ("monthly", holder.monthly_token_budget, _month_start(now)),
        ):
            if budget is not None:
                found.append(Limit(scope, period, budget, _spent(runs, since)))
    return found


def over_budget(primary: Agent, expected: int, now: datetime | None = None) -> str:
    """Why a run expected to spend `expected` tokens must not start, or ""."""
    for limit in limits(primary, now):
        if limit.spent + expected > limit.budget:
            return (
                f"over the {limit.scope}'s {limit.period} budget of {limit.budget:,} tokens: "
                f"{limit.spent:,} spent, and this run would need about {expected:,} more"
            )
    return ""


# --- Back-off ------------------------------------------------------------------------------


def backoff_factor(group: Group) -> int:
    """How many times the configured interval the next triggered run waits."""
    return int(min(2**group.quiet_runs, settings.SLEEPTIME_BACKOFF_MAX))


def count_quiet(group_id: str, run: Run) -> None:
    """After a sleep-time run ends: a run that changed nothing lengthens the interval,
    one that changed memory (or that a person started) resets it."""
    if run.trigger in (RunTrigger.DIGEST, RunTrigger.FORGET):
        return
    groups = Group.objects.filter(pk=group_id)
    if run.outcome == RunOutcome.NO_CHANGE and run.trigger != RunTrigger.MANUAL:
        groups.update(quiet_runs=F("quiet_runs") + 1)
    elif run.outcome in (RunOutcome.APPLIED, RunOutcome.AWAITING_REVIEW) or (
        run.trigger == RunTrigger.MANUAL
    ):
        groups.update(quiet_runs=0)


# --- Spend ---------------------------------------------------------------------------------


class SpendDay(TypedDict):
    date: str
    agent_id: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    runs: int
    # Dollars, where MODEL_PRICES prices every model the runs used; None otherwise.
    cost: float | None


def _cost(model: str, prompt: int, completion: int) -> float | None:
    price = settings.MODEL_PRICES.get(model)
    if price is None:
        return None
    return (prompt * price[0] + completion * price[1]) / 1_000_000


def spend(runs: QuerySet[Run], *, days: int = 30, now: datetime | None = None) -> list[SpendDay]:
    """Tokens (and money) of background runs per agent and day over the last `days`
    days, oldest first; days without runs are left out."""
    now = now or timezone.now()
    since = _day_start(now) - timedelta(days=days - 1)
    rows = (
        runs.exclude(trigger=RunTrigger.MESSAGE)
        .filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "primary_agent_id", "model")
        .annotate(
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            count=Sum(1),
        )
    )
    merged: dict[tuple[date, str], dict[str, Any]] = defaultdict(
        lambda: {"prompt": 0, "completion": 0, "runs": 0, "cost": 0.0, "priced": True}
    )
    for row in rows:
        entry = merged[(row["day"], row["primary_agent_id"])]
        entry["prompt"] += row["prompt"] or 0
        entry["completion"] += row["completion"] or 0
        entry["runs"] += row["count"] or 0
        cost = _cost(row["model"], row["prompt"] or 0, row["completion"] or 0)
        if cost is None and (row["prompt"] or row["completion"]):
            entry["priced"] = False
        entry["cost"] += cost or 0.0
    return [
        {
            "date": day.isoformat(),
            "agent_id": agent_id,
            "prompt_tokens": entry["prompt"],
            "completion_tokens": entry["completion"],
            "total_tokens": entry["prompt"] + entry["completion"],
            "runs": entry["runs"],
            "cost": round(entry["cost"], 6) if entry["priced"] else None,
        }
        for (day, agent_id), entry in sorted(merged.items())
    ]
