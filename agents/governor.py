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
Days and months are UTC. People set the budgets here too: an agent's on its group (its
editors), the organization's (its admins only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.db.models import F, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.access import access_for
from accounts.models import Organization
from agents.models import Agent, Group, Run, RunOutcome, RunTrigger
from config.errors import Forbidden, InvalidRequest

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


def _budgeted_runs() -> QuerySet[Run]:
    """Background runs a budget counts: not those of an evaluation's copies, whose every
    token (turns included) the evaluation counts itself (`count_spend_of`)."""
    return background_runs().filter(primary_agent__evaluation_id="")


# Background spend recorded elsewhere than in runs: each source gives an organization's
# spend rows (SpendDay, below) since a moment. Apps above this one register theirs when
# ready (evaluations, a row per evaluation and day).
SpendSource = Callable[[str, datetime], list["SpendDay"]]
_spend_sources: list[SpendSource] = []


def count_spend_of(source: SpendSource) -> None:
    """Count `source`'s spend against the organization's budgets, and show it with the
    organization's spend."""
    if source not in _spend_sources:
        _spend_sources.append(source)


def _other_rows(organization_id: str, since: datetime) -> list[SpendDay]:
    return [row for source in _spend_sources for row in source(organization_id, since)]


def _other_spend(organization_id: str, since: datetime) -> int:
    return sum(row["total_tokens"] for row in _other_rows(organization_id, since))


@dataclass(frozen=True)
class Limit:
    scope: str  # "agent" or "organization"
    period: str  # "daily" or "monthly"
    budget: int
    spent: int


def _limits_of(
    scope: str,
    holder: Group | Organization,
    runs: QuerySet[Run],
    now: datetime,
    other: Callable[[datetime], int] | None = None,
) -> list[Limit]:
    found = []
    for period, budget, since in (
        ("daily", holder.daily_token_budget, _day_start(now)),
        ("monthly", holder.monthly_token_budget, _month_start(now)),
    ):
        if budget is not None:
            spent = _spent(runs, since) + (other(since) if other else 0)
            found.append(Limit(scope, period, budget, spent))
    return found


def limits(primary: Agent, now: datetime | None = None) -> list[Limit]:
    """The budgets that hold for `primary`'s background work, with what is spent."""
    now = now or timezone.now()
    group = Group.objects.filter(manager_agent=primary).first()
    organization = Organization.objects.filter(pk=primary.organization_id).first()
    found = []
    if group is not None:
        runs = _budgeted_runs().filter(primary_agent=primary)
        found += _limits_of("agent", group, runs, now)
    if organization is not None:
        found += organization_limits(organization, now)
    return found


def organization_limits(organization: Organization, now: datetime | None = None) -> list[Limit]:
    """The organization's own budgets, with what all its background work spent."""
    runs = _budgeted_runs().filter(organization_id=organization.pk)
    return _limits_of(
        "organization",
        organization,
        runs,
        now or timezone.now(),
        lambda since: _other_spend(organization.pk, since),
    )


def over_budget(primary: Agent, expected: int, now: datetime | None = None) -> str:
    """Why a run expected to spend `expected` tokens must not start, or ""."""
    for limit in limits(primary, now):
        if limit.spent + expected > limit.budget:
            return (
                f"over the {limit.scope}'s {limit.period} budget of {limit.budget:,} tokens: "
                f"{limit.spent:,} spent, and this run would need about {expected:,} more"
            )
    return ""


# --- Budgets, as people set them -----------------------------------------------------------

BUDGET_FIELDS = ("daily_token_budget", "monthly_token_budget")


def _checked_budgets(changes: Mapping[str, int | None]) -> dict[str, int | None]:
    unknown = sorted(set(changes) - set(BUDGET_FIELDS))
    if unknown:
        raise InvalidRequest(f"Unknown budget fields: {', '.join(unknown)}.")
    for name, value in changes.items():
        if value is not None and (isinstance(value, bool) or value < 1):
            raise InvalidRequest(
                f"{name} is a number of tokens, at least 1 (or null for no limit); got {value!r}."
            )
    return dict(changes)


def set_group_budgets(group: Group, changes: Mapping[str, int | None]) -> Group:
    """Set the token budgets of the group's agent: a field left out stays as it is, None
    removes the limit. Checked before anything is written."""
    checked = _checked_budgets(changes)
    if checked:
        for name, value in checked.items():
            setattr(group, name, value)
        group.save(update_fields=[*checked, "updated_at"])
    return group


def organization_budget(user: Any) -> Organization:
    """The organization `user` acts in, whose budgets any member may read."""
    return access_for(user).organization


def set_organization_budgets(user: Any, changes: Mapping[str, int | None]) -> Organization:
    """Set the token budgets of the organization `user` acts in (admins only): a field
    left out stays as it is, None removes the limit."""
    access = access_for(user)
    organization = access.organization
    if not access.is_admin:
        raise Forbidden(
            f"Only an admin of {organization.name} sets its token budgets; your role there "
            f"is {access.role}."
        )
    checked = _checked_budgets(changes)
    if checked:
        for name, value in checked.items():
            setattr(organization, name, value)
        organization.save(update_fields=list(checked))
    return organization


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


def cost(model: str, prompt: int, completion: int) -> float | None:
    """Dollars for the tokens at MODEL_PRICES' price of `model`; None when unpriced."""
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
        dollars = cost(row["model"], row["prompt"] or 0, row["completion"] or 0)
        if dollars is None and (row["prompt"] or row["completion"]):
            entry["priced"] = False
        entry["cost"] += dollars or 0.0
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


class SpendTotals(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    runs: int
    cost: float | None


class LimitRow(TypedDict):
    scope: str
    period: str
    budget: int
    spent: int


class SpendReport(TypedDict):
    days: list[SpendDay]
    limits: list[LimitRow]
    totals: SpendTotals


MAX_SPEND_DAYS = 3660


def _report(days: list[SpendDay], found: list[Limit]) -> SpendReport:
    costs = [day["cost"] for day in days]
    return {
        "days": days,
        "limits": [
            {"scope": lim.scope, "period": lim.period, "budget": lim.budget, "spent": lim.spent}
            for lim in found
        ],
        "totals": {
            "prompt_tokens": sum(day["prompt_tokens"] for day in days),
            "completion_tokens": sum(day["completion_tokens"] for day in days),
            "total_tokens": sum(day["total_tokens"] for day in days),
            "runs": sum(day["runs"] for day in days),
            # Unknown when one day's is (a model MODEL_PRICES does not price).
            "cost": None if None in costs else round(sum(c or 0.0 for c in costs), 6),
        },
    }


def _check_days(days: int) -> None:
    if not 1 <= days <= MAX_SPEND_DAYS:
        raise InvalidRequest(f"days is from 1 to {MAX_SPEND_DAYS}, not {days}.")


def agent_spend(primary: Agent, *, days: int = 30, now: datetime | None = None) -> SpendReport:
    """What the background work tending `primary`'s memory spent per day over the last
    `days` days (days without runs left out), the budgets that hold for it, and the sum."""
    _check_days(days)
    now = now or timezone.now()
    rows = spend(background_runs().filter(primary_agent=primary), days=days, now=now)
    return _report(rows, limits(primary, now))


def organization_spend(user: Any, *, days: int = 30, now: datetime | None = None) -> SpendReport:
    """The same for all the background work of the organization `user` acts in: a row
    per agent and day (and per evaluation and day: count_spend_of), and the
    organization's own budgets."""
    _check_days(days)
    now = now or timezone.now()
    organization = organization_budget(user)
    runs = Run.objects.for_user(user).filter(primary_agent__evaluation_id="")
    rows = spend(runs, days=days, now=now)
    since = _day_start(now) - timedelta(days=days - 1)
    rows = sorted([*rows, *_other_rows(organization.pk, since)], key=lambda r: r["date"])
    return _report(rows, organization_limits(organization, now))
