"""Start-up checks of the deployment's shape: settings that only work in one process."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register

IN_MEMORY_LAYER = "channels.layers.InMemoryChannelLayer"


@register()
def check_channel_layer(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Warn when live events cannot leave the process that publishes them.

    Block edits are usually made by a worker or by another web process than the one
    holding the browser's websocket, so with the in-memory layer they never arrive. A
    developer's single process with DEBUG on is left alone.
    """
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND")
    if backend != IN_MEMORY_LAYER or settings.DEBUG:
        return []
    return [
        Warning(
            "The channel layer is the in-memory one, so live updates never leave the "
            "process that sends them.",
            hint="A worker's or another web process's block edits will not reach open "
            "pages. Set REDIS_URL for several web processes, or keep the default "
            "PostgreSQL layer (config.pg_channels.PostgresChannelLayer). See README.md.",
            id="reverie.W010",
        )
    ]
