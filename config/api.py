"""The one NinjaAPI: authentication, error mapping and the routers of every app."""

from __future__ import annotations

import logging
from typing import Any

from django import db
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from accounts import ratelimit
from accounts.access import access_for
from accounts.services import authenticate_api_key
from agents.api import (
    agent_governance_router,
    agentfiles_router,
    block_agents_router,
    conversations_router,
    groups_router,
    messages_router,
    organization_router,
    runs_router,
    spend_router,
    tools_router,
)
from agents.api import router as agents_router
from config.errors import DomainError, Forbidden, TooManyRequests
from config.openapi import document_errors
from config.text import UnstorableText, unstorable_at
from evaluation.api import router as evaluations_router
from forgetting.api import router as forgetting_router
from memory.api import blocks_router, proposals_router
from sources.api import agent_sources_router, folders_router, jobs_router, sources_router
from toolbox.api import mcp_legacy_router
from toolbox.api import router as mcp_servers_router

logger = logging.getLogger("reverie.api")

API_KEY_SCOPE = "api-key"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class ApiKeyAuth(HttpBearer):
    """The bearer key names the user and the organization the request acts in; a viewer's
    key may only read; an address that keeps sending wrong keys gets 429s for a while."""

    def __call__(self, request: HttpRequest) -> Any:
        user = super().__call__(request)
        if user is None:
            # A valid key is served whatever its address did before (accounts/ratelimit.py);
            # a wrong one is counted, and over the limit answered with a 429.
            ratelimit.check(API_KEY_SCOPE, request)
            ratelimit.record_failure(API_KEY_SCOPE, request)
        return user

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = authenticate_api_key(token)
        if user is None:
            return None
        request.user = user  # type: ignore[assignment]
        access = access_for(user)
        if request.method not in SAFE_METHODS and not access.can_edit:
            raise Forbidden(
                f"This key's role in {access.organization.name} is {access.role}: "
                "it can read but not change anything."
            )
        return user


class JsonParser(Parser):
    """ninja's JSON parser, refusing text that cannot be stored (config/text.py) before
    any handler sees it."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = super().parse_body(request)
        found = unstorable_at(data)
        if found is not None:
            raise UnstorableText(*found)
        return data


class ReverieApi(NinjaAPI):
    """The NinjaAPI whose schema documents every answer, errors too (config/openapi.py)."""

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        return document_errors(super().get_openapi_schema(**kwargs))


api = ReverieApi(
    title="Reverie API",
    version="1",
    description="Letta-compatible REST API for agents with shared memory and sleep-time agents.",
    auth=ApiKeyAuth(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    parser=JsonParser(),
)


def _detail(
    request: HttpRequest,
    status: int,
    detail: Any,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    response = api.create_response(request, {"detail": detail, **(body or {})}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, error: DomainError) -> HttpResponse:
    # A 502 means the model provider failed. The v1 SDK retries 5xx answers on its own,
    # and a retried turn would add a duplicate user message, so say not to.
    extra = {"x-should-retry": "false"} if error.status >= 500 else {}
    if isinstance(error, TooManyRequests):
        extra["Retry-After"] = str(error.retry_after)
    return _detail(request, error.status, error.message, error.extra, headers=extra)


@api.exception_handler(AuthenticationError)
def auth_error(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return _detail(request, 401, "Missing or invalid API key: send 'Authorization: Bearer <key>'.")


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    return _detail(request, 422, error.errors)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    # ninja turns every failure of the body parser into "Cannot parse request body";
    # text that cannot be stored says where it is instead.
    if isinstance(error.__cause__, UnstorableText):
        return _detail(request, 400, str(error.__cause__))
    return _detail(request, error.status_code, str(error.message))


@api.exception_handler(RequestDataTooBig)
def body_too_big(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    # Django refuses to hold a body (files apart) over DATA_UPLOAD_MAX_MEMORY_SIZE in
    # memory; said as a size limit, not as Django's bare 400 page.
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1024 / 1024
    return _detail(
        request,
        413,
        f"The request body is over {limit_mb:.1f} MB, more than this server reads. Long "
        "texts belong in a file uploaded to a folder attached to the agent.",
    )


@api.exception_handler(TooManyFieldsSent)
@api.exception_handler(TooManyFilesSent)
def too_many_parts(request: HttpRequest, error: Exception) -> HttpResponse:
    return _detail(request, 400, f"The request has too many form fields or files: {error}")


@api.exception_handler(db.DataError)
def data_error(request: HttpRequest, error: db.DataError) -> HttpResponse:
    # A value the schemas let through but Postgres refuses (a NUL character in a text, a
    # number out of range) is the client's mistake, not the server's.
    reason = str(error).strip().splitlines()[0] if str(error).strip() else "invalid value"
    return _detail(request, 400, f"The request holds a value the database cannot store: {reason}")


@api.exception_handler(db.OperationalError)
@api.exception_handler(db.InterfaceError)
def database_unavailable(request: HttpRequest, error: db.Error) -> HttpResponse:
    # The database restarted or the network blinked: this request failed, the next one
    # reconnects. A read is safe to retry; a write may have been partly done, so the
    # SDKs' automatic retry (which would repeat a turn) is turned off for it.
    logger.warning("database unavailable during %s %s: %s", request.method, request.path, error)
    safe = request.method in SAFE_METHODS
    extra = {"Retry-After": "2"} if safe else {"x-should-retry": "false"}
    return _detail(request, 503, "The database is unavailable; try again shortly.", headers=extra)


@api.get("/health", auth=None, tags=["health"])
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok", "version": "1"}


# Routes are tried in the order they are mounted: `/agents/import` must come before the
# agents router's `/agents/{agent_id}`, which would take "import" for an id (and answer a
# POST with a 405).
api.add_router("/agents", agentfiles_router)
api.add_router("/agents", agents_router)
api.add_router("/blocks", blocks_router)
api.add_router("/blocks", block_agents_router)
api.add_router("/conversations", conversations_router)
api.add_router("/groups", groups_router)
api.add_router("/messages", messages_router)
api.add_router("/runs", runs_router)
api.add_router("/proposals", proposals_router)
api.add_router("/sources", sources_router)
api.add_router("/folders", folders_router)
api.add_router("/jobs", jobs_router)
# letta-client 0.1.x reaches MCP servers under /v1/tools/mcp/servers.
api.add_router("/tools", mcp_legacy_router)
api.add_router("/tools", tools_router)
api.add_router("/agents", forgetting_router)
api.add_router("/agents", agent_governance_router)
api.add_router("/spend", spend_router)
api.add_router("/organization", organization_router)
api.add_router("/agents", agent_sources_router)
api.add_router("/evaluations", evaluations_router)
api.add_router("/mcp-servers", mcp_servers_router)
