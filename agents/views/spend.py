"""What the sleep-time panel shows of cost: background tokens per day as a bar chart drawn
on the server (inline SVG, no script), the budgets that hold with what is spent, and the
back-off of quiet runs. Numbers come from agents/governor.py; here they are laid out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from django.utils import timezone

from agents import governor
from agents.models import Agent, Group, Run

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


def spend_context(agent: Agent, group: Group | None, now: datetime | None = None) -> dict[str, Any]:
    """The chart's bars (oldest day first, days without runs included), the days that
    spent anything for the text table (newest first), the totals, the limits and the
    back-off state."""
    now = now or timezone.now()
    today = now.astimezone(UTC)
    rows = {
        row["date"]: row
        for row in governor.spend(Run.objects.filter(primary_agent=agent), days=CHART_DAYS, now=now)
    }
    bars = _bars(rows, today)
    # Money only where every day's is known, and something was spent.
    costs = [row["cost"] for row in rows.values() if row["total_tokens"]]
    factor = governor.backoff_factor(group) if group is not None else 1
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
        "limits": _limit_rows(agent, now),
        "backoff_factor": factor,
    }
