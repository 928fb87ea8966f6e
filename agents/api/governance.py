"""What background work did and may cost: an agent's ledger and spend
(`/v1/agents/{id}/ledger`, `/spend`), the organization's spend (`/v1/spend`) and token
budgets (`/v1/organization/budget`). An agent's own budgets and pause are on its group
(`/v1/groups/{id}`, agents/api/groups.py).

Spend is what the model providers reported for each finished background run (prompt and
completion tokens; sleep-time, digest and forget runs, never the turns people wait for),
summed per agent and UTC day; days without runs are left out. Money is shown where
MODEL_PRICES prices every model the runs used, else null.
"""

from __future__ import annotations

from ninja import Query, Router

from accounts.models import Organization
from agents import governor, runs, services
from agents.models import Run
from agents.schemas import BudgetIn, OrganizationBudgetOut, Outcome, RunOut, SpendOut, Trigger
from config.requests import ApiRequest

agent_governance_router = Router(tags=["agents"])
spend_router = Router(tags=["spend"])
organization_router = Router(tags=["organization"])


@agent_governance_router.get("/{agent_id}/ledger", response=list[RunOut])
def agent_ledger(
    request: ApiRequest,
    agent_id: str,
    outcome: list[Outcome] = Query(None),
    trigger: list[Trigger] = Query(None),
    after: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
) -> list[Run]:
    """The ledger of the agent's memory: every background run that tends it (sleep-time,
    digest, forget), newest first, each with how its trigger ended (`outcome`, null while
    it works) and why (`outcome_reason`). A trigger that found sleep-time paused or over
    budget is here too, as a run `skipped`. Filter by `outcome` and `trigger` (each
    repeatable); page on with `after` (the last run's id). The same runs as
    `GET /v1/runs?agent_id=...&background=true`, for an agent that must exist."""
    agent = services.get_agent_for_user(request.auth, agent_id)
    page = runs.list_runs(
        request.auth,
        agent_ids=[agent.id],
        background=True,
        outcomes=list(outcome) if outcome else None,
        triggers=list(trigger) if trigger else None,
        after=after,
        limit=limit,
        ascending=False,
    )
    return list(page)


@agent_governance_router.get("/{agent_id}/spend", response=SpendOut)
def agent_spend(
    request: ApiRequest, agent_id: str, days: int = Query(30, ge=1, le=governor.MAX_SPEND_DAYS)
) -> governor.SpendReport:
    """Tokens (and money) the agent's background work spent per UTC day over the last
    `days` days, oldest first (days without runs are left out), the budgets that hold
    for it (its own and the organization's) with what is spent in the current day and
    month, and the totals of the rows."""
    agent = services.get_agent_for_user(request.auth, agent_id)
    return governor.agent_spend(agent, days=days)


@spend_router.get("", response=SpendOut)
def organization_spend(
    request: ApiRequest, days: int = Query(30, ge=1, le=governor.MAX_SPEND_DAYS)
) -> governor.SpendReport:
    """The same for the whole organization: a row per agent and UTC day (days without
    runs left out), the organization's budgets, and the totals."""
    return governor.organization_spend(request.auth, days=days)


@organization_router.get("/budget", response=OrganizationBudgetOut)
def organization_budget(request: ApiRequest) -> Organization:
    """The organization's token budgets for background work (null: no limit), with what
    is spent in the current UTC day and month. Any member reads them."""
    return governor.organization_budget(request.auth)


@organization_router.patch("/budget", response=OrganizationBudgetOut)
def set_organization_budget(request: ApiRequest, payload: BudgetIn) -> Organization:
    """Set the organization's token budgets (admins only): tokens, at least 1; null
    removes a limit, a field left out keeps it. A background run whose estimate would
    take the spend past one is skipped, with the reason, before it calls the model."""
    return governor.set_organization_budgets(request.auth, payload.budget_changes())
