"""Which Provider API endpoint a request goes to, and the body it takes there (pure).

Claude models are served only on `/provider/v1/messages`, every other model only on
`/provider/v1/chat/completions`; each refuses the other's with a 400 (upstream-protocol.md §8). The
catalog's `supported_endpoints` says which is which; without it, an id that starts with `claude` is
Claude. A client whose own dialect is the endpoint's gets its body nearly as it came (OpenAI chat →
chat completions, Anthropic → messages); every other combination is translated from ccgw's internal
params, per generation (`params` differs per choice only for several legacy prompts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ccgw.translate.common import ReasoningLookup, UpstreamRequest
from ccgw.translate.provider_chat import chat_body, legacy, native_chat_body
from ccgw.translate.provider_messages import messages_body, native_messages_body

Endpoint = Literal["chat", "messages"]


def endpoint_for(model: str, endpoints: Sequence[str] = ()) -> Endpoint:
    if endpoints:
        return "messages" if "/messages" in endpoints and "/chat/completions" not in endpoints else "chat"
    return "messages" if model.lower().startswith("claude") else "chat"


def provider_body(
    request: UpstreamRequest, params: dict[str, Any], endpoint: Endpoint, memory: ReasoningLookup
) -> dict[str, Any]:
    client = request.client
    if endpoint == "messages":
        if client is not None and client.dialect == "messages":
            return native_messages_body(client.body, params, images=client.images)
        return messages_body(params, request.stop)
    if client is not None and client.dialect == "chat.completions" and not legacy(client.body):
        return native_chat_body(client.body, params, images=client.images, memory=memory)
    return chat_body(params)
