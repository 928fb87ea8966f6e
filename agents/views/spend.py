"""What the sleep-time panel shows of cost: background tokens per day as a bar chart drawn
on the server (inline SVG, no script), the budgets that hold with what is spent, and the
back-off of quiet runs. Numbers come from agents/governor.py; here they are laid out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts.access import access_for
from agents import governor
from agents.forms import OrganizationBudgetForm
from agents.models import Agent, Group, Run
from config.errors import Forbidden

CHART_DAYS = 30
# SVG user units: the chart scales to its box, these only fix its proportions.
BAR_WIDTH = 10
BAR_GAP = 2
CHART_HEIGHT = 60


class SpendBar(TypedDict):
    date: str
    tokens: int
    tokens_text: str
    runs: int
    cost: str
    x: int
    y: float
    height: float
    title: str


class LimitRow(TypedDict):
    name: str
    budget: int
    spent: int
    text: str


def money(dollars: float | None) -> str:
    """ "$0.0123" or "$12.50"; "" when unknown (a model MODEL_PRICES does not price)."""
    if dollars is None:
        return ""
    return f"${dollars:,.2f}" if dollars >= 1 else f"${dollars:.4f}"


def _bars(rows: dict[str, governor.SpendDay], today: datetime) -> list[SpendBar]:
    peak = max((row["total_tokens"] for row in rows.values()), default=0)
    bars: list[SpendBar] = []
    for position in range(CHART_DAYS):
        day = (today - timedelta(days=CHART_DAYS - 1 - position)).date().isoformat()
        row = rows.get(day)
        tokens = row["total_tokens"] if row else 0
        count = row["runs"] if row else 0
        cost = money(row["cost"]) if row and tokens else ""
        # A day that spent anything stays visible however small next to the peak.
        height = max(CHART_HEIGHT * tokens / peak, 1.0) if tokens else 0.0
        title = f"{day}: {tokens:,} tokens in {count} run{'' if count == 1 else 's'}"
        bars.append(
            {
                "date": day,
                "tokens": tokens,
                "tokens_text": f"{tokens:,}",
                "runs": count,
                "cost": cost,
                "x": position * (BAR_WIDTH + BAR_GAP),
                "y": round(CHART_HEIGHT - height, 2),
                "height": round(height, 2),
                "title": title + (f", {cost}" if cost else ""),
            }
        )
    return bars


def _limit_rows(agent: Agent, now: datetime) -> list[LimitRow]:
    names = {"daily": "today", "monthly": "this month"}
    return [
        {
            "name": f"{'This agent' if limit.scope == 'agent' else 'The organization'}, "
            f"{names.get(limit.period, limit.period)}",
            "budget": limit.budget,
            "spent": limit.spent,
            "text": f"{limit.spent:,} of {limit.budget:,} tokens",
        }
        for limit in governor.limits(agent, now)
    ]


def _chart(rows: list[governor.SpendDay], now: datetime) -> dict[str, Any]:
    """The chart of `rows` summed per day: its bars (oldest first, every day), the days
    that spent anything (newest first), totals and money where every day is priced."""
    days: dict[str, governor.SpendDay] = {}
    for row in rows:
        day = days.get(row["date"])
        if day is None:
            days[row["date"]] = {**row, "agent_id": ""}
            continue
        day["prompt_tokens"] += row["prompt_tokens"]
        day["completion_tokens"] += row["completion_tokens"]
        day["total_tokens"] += row["total_tokens"]
        day["runs"] += row["runs"]
        cost, more = day["cost"], row["cost"]
        day["cost"] = cost + more if cost is not None and more is not None else None
    bars = _bars(days, now.astimezone(UTC))
    costs = [row["cost"] for row in days.values() if row["total_tokens"]]
    return {
        "spend_bars": bars,
        "spend_days": [bar for bar in reversed(bars) if bar["runs"]],
        "spend_tokens": f"{sum(bar['tokens'] for bar in bars):,}",
        "spend_runs": sum(bar["runs"] for bar in bars),
        "spend_cost": money(sum(c or 0.0 for c in costs)) if costs and None not in costs else "",
        "spend_width": CHART_DAYS * (BAR_WIDTH + BAR_GAP) - BAR_GAP,
        "spend_height": CHART_HEIGHT,
        "bar_width": BAR_WIDTH,
        "spend_first": bars[0]["date"],
        "spend_last": bars[-1]["date"],
    }


def _spender(spender_id: str, names: dict[str, str]) -> dict[str, str]:
    """Who spent a row: an agent (its ledger), or an evaluation (its page; the
    evaluation app adds its spend to the governor's rows under its own id)."""
    if spender_id.startswith("evaluation-"):
        return {
            "id": spender_id,
            "name": f"Evaluation {spender_id.removeprefix('evaluation-')[:8]}",
            "url": reverse("evaluation:detail", args=[spender_id]),
        }
    return {
        "id": spender_id,
        "name": names.get(spender_id, spender_id),
        "url": reverse("agents:ledger", args=[spender_id]),
    }


def organization_context(user: Any, now: datetime | None = None) -> dict[str, Any]:
    """The organization's background spend: the chart over all its agents, a row per
    agent, and its own budgets with what is spent."""
    now = now or timezone.now()
    report = governor.organization_spend(user, days=CHART_DAYS, now=now)
    per_agent: dict[str, dict[str, Any]] = {}
    for row in report["days"]:
        entry = per_agent.setdefault(row["agent_id"], {"tokens": 0, "runs": 0})
        entry["tokens"] += row["total_tokens"]
        entry["runs"] += row["runs"]
    names = dict(Agent.objects.filter(pk__in=per_agent).values_list("pk", "name"))
    names_of = {"daily": "today", "monthly": "this month"}
    return {
        **_chart(report["days"], now),
        "agents": sorted(
            ({**_spender(agent_id, names), **entry} for agent_id, entry in per_agent.items()),
            key=lambda entry: -entry["tokens"],
        ),
        "limits": [
            {
                "name": f"The organization, {names_of.get(limit.period, limit.period)}",
                "budget": limit.budget,
                "spent": limit.spent,
                "text": f"{limit.spent:,} of {limit.budget:,} tokens",
            }
            for limit in governor.organization_limits(governor.organization_budget(user), now)
        ],
    }


def spend_context(agent: Agent, group: Group | None, now: datetime | None = None) -> dict[str, Any]:
    """The chart's bars (oldest day first, days without runs included), the days that
    spent anything for the text table (newest first), the totals, the limits and the
    back-off state."""
    now = now or timezone.now()
    rows = governor.spend(Run.objects.filter(primary_agent=agent), days=CHART_DAYS, now=now)
    factor = governor.backoff_factor(group) if group is not None else 1
    return {
        **_chart(rows, now),
        "limits": _limit_rows(agent, now),
        "backoff_factor": factor,
    }


@login_required
def organization_spend(request: HttpRequest) -> HttpResponse:
    """What the organization's background work spent per day and per agent, its budgets,
    and (for admins) the form that sets them."""
    access = access_for(request.user)
    organization = access.organization
    form = OrganizationBudgetForm(
        initial={
            "daily_token_budget": organization.daily_token_budget,
            "monthly_token_budget": organization.monthly_token_budget,
        }
    )
    status = 200
    if request.method == "POST":
        form = OrganizationBudgetForm(request.POST)
        if form.is_valid():
            try:
                governor.set_organization_budgets(request.user, form.cleaned_data)
            except Forbidden as refused:
                form.add_error(None, refused.message)
            else:
                messages.success(request, "Saved the organization's token budgets.")
                return redirect("agents:spend")
        status = 400 if form.errors else 200
    context = {
        **organization_context(request.user),
        "organization": organization,
        "budget_form": form,
        "can_set": access.is_admin,
    }
    return render(request, "agents/spend.html", context, status=status)
