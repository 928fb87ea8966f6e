"""The boundary to language and embedding models.

Provider clients are created here and nowhere else, and provider errors become the
exceptions below, so the rest of the code never imports `openai`.
"""

from llm.client import (
    ChatResult,
    Delta,
    LLMError,
    ProviderNotConfigured,
    ToolCall,
    ToolChoice,
    chat,
    chat_stream,
    embed,
    ensure_configured,
    parse_arguments,
)

__all__ = [
    "ChatResult",
    "Delta",
    "LLMError",
    "ProviderNotConfigured",
    "ToolCall",
    "ToolChoice",
    "chat",
    "chat_stream",
    "embed",
    "ensure_configured",
    "parse_arguments",
]
