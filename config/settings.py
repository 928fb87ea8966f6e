"""Django settings for Reverie: one file, every environment read through config.env."""

from __future__ import annotations

from typing import Any

from config import env
from config.database import database_settings

BASE_DIR = env.BASE_DIR
DATA_DIR = env.DATA_DIR

# --- Core ----------------------------------------------------------------------------------

SECRET_KEY = env.secret_key()
DEBUG = env.DEBUG
ALLOWED_HOSTS = env.ALLOWED_HOSTS
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None
# The API serves every path with and without a trailing slash itself (see
# config.middleware); redirects would break SDK POSTs.
APPEND_SLASH = False

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "django_q",
    "django_htmx",
    "ninja",
    "config",
    "accounts",
    "agents",
    "memory",
    "toolbox",
    "sources",
    "forgetting",
    "evaluation",
]

MIDDLEWARE = [
    "config.middleware.ApiErrorsAsJsonMiddleware",
    "config.middleware.StripTrailingSlashMiddleware",
    "accounts.middleware.RequestScopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.AccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.middleware.access_context",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------

DATABASES = {"default": database_settings(env.DATABASE_URL, DATA_DIR, env.DATABASE_POOL_SIZE)}

# --- Auth and sessions ---------------------------------------------------------------------

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/agents/"
LOGOUT_REDIRECT_URL = "/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
SESSION_COOKIE_SECURE = env.SECURE_COOKIES
CSRF_COOKIE_SECURE = env.SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if env.SECURE_COOKIES:
    # Served over HTTPS: the proxy in front terminates TLS and says so in this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Static files --------------------------------------------------------------------------

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
# WhiteNoise serves static files from the web process itself (daphne serves none). It
# reads them straight from the apps' static folders, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # `collectstatic` fills it for a team setup

# --- Time and language ---------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Channels (live updates) ---------------------------------------------------------------

# Group messages travel between processes (a worker's edit reaches a browser connected to
# a web process) through PostgreSQL LISTEN/NOTIFY, so no extra service is needed. With
# REDIS_URL they travel through Redis instead, which suits many processes better: each
# message goes only to the processes whose sockets joined the group (every process hears
# every NOTIFY), and no database-wide lock is taken at each notifying commit.
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if env.REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # A consumer waits for its next message with a blocking pop of up to 5 s;
            # redis-py 8 gives up on a read after 5 s by default and the consumer then
            # crashes (every idle websocket drops every 5 s), so reads get longer here.
            "CONFIG": {"hosts": [{"address": env.REDIS_URL, "socket_timeout": 15}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "config.pg_channels.PostgresChannelLayer"}}

# --- Cache ---------------------------------------------------------------------------------

# With REDIS_URL every process shares one cache, so counters kept there (failed logins per
# address) count across web processes; without it each process keeps its own.
CACHES: dict[str, dict[str, Any]]
if env.REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.REDIS_URL,
            "KEY_PREFIX": "reverie",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background jobs (django-q2, broker in the database) -----------------------------------

Q_CLUSTER = {
    "name": "reverie",
    "orm": "default",
    "workers": env.WORKERS,
    "timeout": 900,
    # retry must exceed timeout, or a long job is handed to a second worker while it runs.
    "retry": 960,
    "max_attempts": 3,
    "catch_up": False,
    "poll": 0.5,
    "ack_failures": True,
}

# --- Reverie -------------------------------------------------------------------------------

# Reverie's own settings, typed (config/env.py reads and checks them).
LLM_TIMEOUT_SECONDS = env.LLM_TIMEOUT_SECONDS
LLM_MAX_RETRIES = env.LLM_MAX_RETRIES
DEFAULT_EMBEDDING = env.DEFAULT_EMBEDDING
RUN_STALE_SECONDS = env.RUN_STALE_SECONDS
SLEEPTIME_RETRY_SECONDS = env.SLEEPTIME_RETRY_SECONDS
SLEEPTIME_BACKOFF_MAX = env.SLEEPTIME_BACKOFF_MAX
SLEEPTIME_EXTERNAL_TOOLS = env.SLEEPTIME_EXTERNAL_TOOLS
MODEL_PRICES = env.MODEL_PRICES
MAX_UPLOAD_MB = env.MAX_UPLOAD_MB
MAX_PDF_PAGES = env.MAX_PDF_PAGES
MAX_MESSAGE_CHARS = env.MAX_MESSAGE_CHARS
MCP_ALLOW_STDIO = env.MCP_ALLOW_STDIO
MCP_ALLOW_PRIVATE_NETWORK = env.MCP_ALLOW_PRIVATE_NETWORK
MCP_TIMEOUT_SECONDS = env.MCP_TIMEOUT_SECONDS
AUTH_FAILURE_LIMIT = env.AUTH_FAILURE_LIMIT
AUTH_FAILURE_WINDOW_SECONDS = env.AUTH_FAILURE_WINDOW_SECONDS
PORT = env.PORT
HOST = env.HOST

# Custom tools (toolbox/sandbox.py): the sandbox, its limits, and where the virtualenvs of
# their pip requirements are kept (one per requirement set, built once).
TOOL_SANDBOX = env.TOOL_SANDBOX
TOOL_TIMEOUT_SECONDS = env.TOOL_TIMEOUT_SECONDS
TOOL_MEMORY_MB = env.TOOL_MEMORY_MB
TOOL_ALLOW_NETWORK = env.TOOL_ALLOW_NETWORK
TOOL_ENVS_DIR = DATA_DIR / "tool-envs"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "reverie": {"level": "INFO"},
        "django_q": {"level": "WARNING"},
    },
}
