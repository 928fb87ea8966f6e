"""The one place that reads the process environment.

Every setting Reverie accepts is read here through a typed helper that fails loudly on a
bad value, so a typo in a deployment stops the process at start-up instead of surfacing as
odd behaviour later. README.md documents each variable.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str) -> str:
    return _raw(name) or default


def env_optional(name: str) -> str | None:
    return _raw(name)


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no, got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Process and storage -------------------------------------------------------------------

DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()
PORT = env_int("PORT", 8283, minimum=1)
HOST = env_str("HOST", "127.0.0.1")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
DATABASE_URL = env_optional("DATABASE_URL")
# Connections a web process keeps in its pool; 0 connects afresh for every request.
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 0, minimum=0)
WORKERS = env_int("Q_WORKERS", 2, minimum=1)


def _redis_url() -> str | None:
    """REDIS_URL, set by a team deployment with several web processes: the channel layer
    and the cache then live in that Redis, shared by every process (README.md)."""
    url = env_optional("REDIS_URL")
    scheme = urlsplit(url).scheme if url else None
    if url is not None and scheme not in {"redis", "rediss", "unix"}:
        # The URL itself is not repeated: it may carry a password.
        raise ImproperlyConfigured(
            f"REDIS_URL must start with redis://, rediss:// or unix://, not {scheme or 'no scheme'}"
        )
    return url


REDIS_URL = _redis_url()


def secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR.

    Generating it per process would log everybody out on each restart and break sessions
    shared between several web processes, so the generated key is written to disk with
    owner-only permissions and reused.
    """
    configured = _raw("SECRET_KEY")
    if configured:
        return configured
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # O_EXCL: when two processes start at once, exactly one writes and both read its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


# --- Model providers -----------------------------------------------------------------------

# Providers whose public OpenAI-compatible endpoint is known, so setting the key is enough.
KNOWN_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1/",
    "groq": "https://api.groq.com/openai/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "together": "https://api.together.xyz/v1",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "xai": "https://api.x.ai/v1",
}
# Providers that run locally and need no key, only an address.
KEYLESS_PROVIDERS = {"ollama", "vllm", "lmstudio"}


@dataclass(frozen=True)
class ProviderSettings:
    provider: str
    base_url: str
    api_key: str
    via_gateway: bool


def provider_env_prefix(provider: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", provider).upper()


def provider_settings(provider: str) -> ProviderSettings | None:
    """Where to send requests for a `provider/model` handle, or None when not configured.

    LLM_BASE_URL, when set, wins for every provider: it points at one OpenAI-compatible
    gateway (LiteLLM, OpenRouter, vLLM) that serves them all.
    """
    gateway = _raw("LLM_BASE_URL")
    if gateway:
        return ProviderSettings(provider, gateway, _raw("LLM_API_KEY") or "none", True)
    prefix = provider_env_prefix(provider)
    base_url = _raw(f"{prefix}_BASE_URL") or KNOWN_BASE_URLS.get(provider)
    api_key = _raw(f"{prefix}_API_KEY")
    if provider in KEYLESS_PROVIDERS:
        if not _raw(f"{prefix}_BASE_URL"):
            return None
        return ProviderSettings(provider, base_url or "", api_key or "none", False)
    if not base_url or not api_key:
        return None
    return ProviderSettings(provider, base_url, api_key, False)


def missing_provider_hint(provider: str) -> str:
    """The variables a user must set to use `provider`, for error messages."""
    prefix = provider_env_prefix(provider)
    if provider in KEYLESS_PROVIDERS:
        return f"set {prefix}_BASE_URL (or LLM_BASE_URL for a gateway)"
    if provider in KNOWN_BASE_URLS:
        return f"set {prefix}_API_KEY (or LLM_BASE_URL for a gateway)"
    return f"set {prefix}_API_KEY and {prefix}_BASE_URL (or LLM_BASE_URL for a gateway)"


def configured_providers() -> list[str]:
    """Providers that have settings, for the UI and the start-up check."""
    if _raw("LLM_BASE_URL"):
        return ["*"]
    names = set()
    for key in os.environ:
        for suffix in ("_API_KEY", "_BASE_URL"):
            if key.endswith(suffix) and key not in {"LLM_API_KEY", "LLM_BASE_URL"}:
                names.add(key[: -len(suffix)].lower())
    return sorted(name for name in names if provider_settings(name) is not None)


LLM_TIMEOUT_SECONDS = env_int("LLM_TIMEOUT_SECONDS", 120, minimum=1)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2, minimum=0)
DEFAULT_EMBEDDING = env_str("DEFAULT_EMBEDDING", "local/hashing-bow")
# A running background run whose heartbeat is older than this was lost with its worker.
RUN_STALE_SECONDS = env_int("RUN_STALE_SECONDS", 60, minimum=2)
# First back-off before a failed run is retried; each later retry waits 4 times longer.
SLEEPTIME_RETRY_SECONDS = env_int("SLEEPTIME_RETRY_SECONDS", 15, minimum=0)
# Consecutive sleep-time runs that change nothing double the interval between triggered
# runs, up to this many times the configured one (1 turns the back-off off).
SLEEPTIME_BACKOFF_MAX = env_int("SLEEPTIME_BACKOFF_MAX", 8, minimum=1)
# Sleep-time agents may call the custom and MCP tools attached to them (an MCP search
# while consolidating, say). Off by default: background runs then reach outside only
# through the model.
SLEEPTIME_EXTERNAL_TOOLS = env_bool("SLEEPTIME_EXTERNAL_TOOLS", False)


def _prices(name: str) -> dict[str, tuple[float, float]]:
    """`handle=input/output,...`: dollars per million prompt and completion tokens."""
    prices: dict[str, tuple[float, float]] = {}
    for item in (_raw(name) or "").split(","):
        if not item.strip():
            continue
        handle, _, pair = item.strip().rpartition("=")
        given, _, taken = pair.partition("/")
        try:
            prices[handle.strip()] = (float(given), float(taken))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must look like 'provider/model=0.15/0.60,...' (dollars per million "
                f"prompt/completion tokens), got {item.strip()!r}"
            ) from None
        if not handle.strip() or min(prices[handle.strip()]) < 0:
            raise ImproperlyConfigured(f"{name}: bad entry {item.strip()!r}")
    return prices


# Prices per model, so background spend is shown in money as well as tokens.
MODEL_PRICES = _prices("MODEL_PRICES")
# Uploads larger than this many megabytes are refused with a 413.
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 50, minimum=1)
# PDFs with more pages than this are refused (processing ends in an error).
MAX_PDF_PAGES = env_int("MAX_PDF_PAGES", 2000, minimum=1)
# A turn's input longer than this many characters is refused with a 413 (about 25,000
# tokens by default: a long paste fits, a whole book goes to a folder instead).
MAX_MESSAGE_CHARS = env_int("MAX_MESSAGE_CHARS", 100_000, minimum=1)

# --- MCP servers -----------------------------------------------------------------------------

# stdio MCP servers are local commands run as the server's own user, with its files and
# network: off unless the deployment says every API key holder may run commands here.
MCP_ALLOW_STDIO = env_bool("MCP_ALLOW_STDIO", False)
# MCP servers on private addresses (loopback, the LAN, a cloud's metadata address) may be
# registered and reached. A deployment shared by people who should not reach its own
# network through it turns this off.
MCP_ALLOW_PRIVATE_NETWORK = env_bool("MCP_ALLOW_PRIVATE_NETWORK", True)
# The longest an MCP server may take to connect and answer one request (a tool call, a
# listing); past it the call fails with an error the agent sees.
MCP_TIMEOUT_SECONDS = env_int("MCP_TIMEOUT_SECONDS", 30, minimum=1)

# --- Access ----------------------------------------------------------------------------------

# After this many failed logins or API keys from one address within the window, the
# address is refused (429) until the window ends.
AUTH_FAILURE_LIMIT = env_int("AUTH_FAILURE_LIMIT", 10, minimum=1)
AUTH_FAILURE_WINDOW_SECONDS = env_int("AUTH_FAILURE_WINDOW_SECONDS", 300, minimum=1)
# Session and CSRF cookies only over HTTPS. On by default unless DEBUG is on or the app
# serves only this machine (HOST on loopback, as `make run` does): behind a TLS proxy,
# the proxy must send X-Forwarded-Proto (README.md).
SECURE_COOKIES = env_bool(
    "SECURE_COOKIES", not DEBUG and HOST not in {"127.0.0.1", "localhost", "::1"}
)

# --- Custom tools ----------------------------------------------------------------------------

TOOL_SANDBOXES = {"bwrap", "off"}


def _tool_sandbox() -> str:
    """How custom tools (Python sent through the API) run: in a bubblewrap sandbox, or not
    at all. There is deliberately no unsandboxed mode (toolbox/sandbox.py says why)."""
    value = env_str("TOOL_SANDBOX", "bwrap").lower()
    if value not in TOOL_SANDBOXES:
        raise ImproperlyConfigured(
            f"TOOL_SANDBOX must be one of {', '.join(sorted(TOOL_SANDBOXES))}, got {value!r}"
        )
    return value


TOOL_SANDBOX = _tool_sandbox()
# A custom tool's wall-clock time and address space; past either it becomes a failed call.
TOOL_TIMEOUT_SECONDS = env_int("TOOL_TIMEOUT_SECONDS", 10, minimum=1)
TOOL_MEMORY_MB = env_int("TOOL_MEMORY_MB", 512, minimum=64)
# Off: a tool has no network at all. On: the host's network, loopback services included.
TOOL_ALLOW_NETWORK = env_bool("TOOL_ALLOW_NETWORK", False)
