"""The one NinjaAPI: authentication, error mapping and the routers of every app."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from accounts.services import authenticate_api_key
from config.errors import DomainError


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = authenticate_api_key(token)
        if user is not None:
            request.user = user  # type: ignore[assignment]
        return user


api = NinjaAPI(
    title="Reverie API",
    version="1",
    description="Letta-compatible REST API for agents with shared memory and sleep-time agents.",
    auth=ApiKeyAuth(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _detail(request: HttpRequest, status: int, detail: Any, **headers: str) -> HttpResponse:
    response = api.create_response(request, {"detail": detail}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, error: DomainError) -> HttpResponse:
    # A 502 means the model provider failed. The v1 SDK retries 5xx answers on its own,
    # and a retried turn would add a duplicate user message, so say not to.
    extra = {"x-should-retry": "false"} if error.status >= 500 else {}
    return _detail(request, error.status, error.message, **extra)


@api.exception_handler(AuthenticationError)
def auth_error(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return _detail(request, 401, "Missing or invalid API key: send 'Authorization: Bearer <key>'.")


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    return _detail(request, 422, error.errors)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    return _detail(request, error.status_code, str(error.message))


@api.get("/health", auth=None, tags=["health"])
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok", "version": "1"}


def _register_routers() -> None:
    from agents.api import groups_router, runs_router, tools_router
    from agents.api import router as agents_router
    from memory.api import blocks_router
    from sources.api import folders_router, jobs_router, sources_router

    api.add_router("/agents", agents_router)
    api.add_router("/blocks", blocks_router)
    api.add_router("/groups", groups_router)
    api.add_router("/runs", runs_router)
    api.add_router("/sources", sources_router)
    api.add_router("/folders", folders_router)
    api.add_router("/jobs", jobs_router)
    api.add_router("/tools", tools_router)


_register_routers()
