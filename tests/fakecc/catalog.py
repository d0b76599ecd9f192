"""Model catalog and plan tiers of the fake Command Code API.

Follows upstream-protocol.md §5: ``GET /provider/v1/models`` lists ``id``, ``name``, ``context_length``
and ``supported_endpoints`` (Claude ids answer only on ``/messages``), ids keep their vendor prefix and
casing, and plan tiers are cumulative Go ⊂ GOAT ⊂ Pro ⊂ Max. The Go tier holds the 54 ids listed in §5;
a handful of higher-tier ids lets tests provoke ``MODEL_NOT_IN_PLAN``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

PLANS: Final = ("go", "goat", "pro", "provider", "max")
PLAN_IDS: Final = {
    "go": "individual-go",
    "goat": "individual-goat",
    "pro": "individual-pro",
    "provider": "individual-provider",
    "max": "individual-max",
}
API_PLANS: Final = PLANS[1:]  # every plan but Go has Provider API access (§8, §4.2)

CHAT: Final = ("/chat/completions", "/responses")
CHAT_ONLY: Final = ("/chat/completions",)
MESSAGES: Final = ("/messages",)


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    name: str
    context_length: int
    tier: str = "go"
    endpoints: tuple[str, ...] = CHAT
    max_output: int = 200_000  # the Provider API's Messages route refuses a larger `max_tokens` (§8)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "context_length": self.context_length,
            "supported_endpoints": list(self.endpoints),
        }


_M = Model
MODELS: Final[tuple[Model, ...]] = (
    # Go tier (§5, 54 ids as of command-code@1.79.1).
    _M("deepseek/deepseek-v4-pro", "DeepSeek V4 Pro", 1_048_576),
    _M("deepseek/deepseek-v4-flash", "DeepSeek V4 Flash", 1_048_576),
    _M("deepseek/deepseek-v4-flash-fast", "DeepSeek V4 Flash Fast", 1_048_576),
    _M("deepseek/deepseek-v4-flash-vision-exp", "DeepSeek V4 Flash Vision (exp)", 1_048_576),
    _M("deepseek/deepseek-v4.1-flash", "DeepSeek V4.1 Flash", 1_048_576),
    _M("deepseek/deepseek-v4.1-flash-fast", "DeepSeek V4.1 Flash Fast", 1_048_576),
    _M("moonshotai/Kimi-K3", "Kimi K3", 262_144),
    _M("moonshotai/Kimi-K2.7-Code", "Kimi K2.7 Code", 262_144),
    _M("moonshotai/Kimi-K2.7-Code-Highspeed", "Kimi K2.7 Code Highspeed", 262_144),
    _M("moonshotai/Kimi-K2.6", "Kimi K2.6", 262_144),
    _M("moonshotai/Kimi-K2.5", "Kimi K2.5", 262_144),
    _M("zai-org/GLM-5.3", "GLM 5.3", 202_752),
    _M("zai-org/GLM-5.2", "GLM 5.2", 202_752),
    _M("zai-org/GLM-5.2-Fast", "GLM 5.2 Fast", 202_752),
    _M("zai-org/GLM-5.1", "GLM 5.1", 202_752),
    _M("zai-org/GLM-5", "GLM 5", 202_752),
    _M("z-ai/glm-5.3-flash", "GLM 5.3 Flash", 202_752),
    _M("z-ai/glm-5.3-flashx", "GLM 5.3 FlashX", 202_752),
    _M("MiniMaxAI/MiniMax-M3", "MiniMax M3", 1_000_000),
    _M("MiniMaxAI/MiniMax-M2.7", "MiniMax M2.7", 204_800),
    _M("MiniMaxAI/MiniMax-M2.5", "MiniMax M2.5", 204_800),
    _M("Qwen/Qwen3.8-Max", "Qwen3.8 Max", 262_144),
    _M("Qwen/Qwen3.8-Max-0902", "Qwen3.8 Max 0902", 262_144),
    _M("Qwen/Qwen3.8-27B", "Qwen3.8 27B", 262_144),
    _M("Qwen/Qwen3.8-Flash", "Qwen3.8 Flash", 1_000_000),
    _M("Qwen/Qwen3.8-Omni-Flash", "Qwen3.8 Omni Flash", 65_536, endpoints=CHAT_ONLY),
    _M("Qwen/Qwen3.7-Max", "Qwen3.7 Max", 262_144),
    _M("Qwen/Qwen3.7-Plus", "Qwen3.7 Plus", 1_000_000),
    _M("Qwen/Qwen3.7-Flash", "Qwen3.7 Flash", 1_000_000),
    _M("Qwen/Qwen3.6-Max-Preview", "Qwen3.6 Max Preview", 262_144),
    _M("Qwen/Qwen3.6-Plus", "Qwen3.6 Plus", 1_000_000),
    _M("stepfun/Step-5-Preview", "Step 5 Preview", 262_144),
    _M("stepfun/Step-3.7-Flash", "Step 3.7 Flash", 262_144),
    _M("stepfun/Step-3.5-Flash", "Step 3.5 Flash", 262_144),
    _M("xiaomi/mimo-v2.5-pro", "MiMo V2.5 Pro", 262_144),
    _M("xiaomi/mimo-v2.5", "MiMo V2.5", 262_144),
    _M("xiaomi/mimo-v2.6-pro", "MiMo V2.6 Pro", 262_144),
    _M("xiaomi/mimo-v2.6-flash", "MiMo V2.6 Flash", 262_144),
    _M("tencent/hy3-paid", "Hunyuan 3", 262_144),
    _M("tencent/hy4-preview", "Hunyuan 4 Preview", 262_144),
    _M("nvidia/nemotron-3-ultra-550b-a55b", "Nemotron 3 Ultra 550B A55B", 131_072),
    _M("thinkingmachines/inkling", "Inkling", 131_072),
    _M("thinkingmachines/inkling-small", "Inkling Small", 131_072),
    _M("poolside/laguna-s-2.1-free", "Laguna S 2.1 (free)", 131_072, endpoints=CHAT_ONLY),
    _M("meituan/LongCat-2.0", "LongCat 2.0", 131_072),
    _M("inclusionai/ling-3.0-flash-sante:free", "Ling 3.0 Flash Sante (free)", 131_072, endpoints=CHAT_ONLY),
    _M("inclusionai/ling-3.1-flash:free", "Ling 3.1 Flash (free)", 131_072, endpoints=CHAT_ONLY),
    _M("mistral/mistral-large-4", "Mistral Large 4", 262_144),
    _M("meta/muse-spark-1.2-contributor", "Muse Spark 1.2 Contributor", 1_048_576),
    _M("meta/muse-spark-1.3-contributor", "Muse Spark 1.3 Contributor", 1_048_576),
    _M("gpt-5.6-luna", "GPT-5.6 Luna", 400_000),
    _M("gpt-6-luna", "GPT-6 Luna", 400_000),
    _M("xai/grok-4.5", "Grok 4.5", 256_000),
    _M("stealth/glyph-cluster:free", "Glyph Cluster (free)", 131_072, endpoints=CHAT_ONLY),
    # Above Go.
    _M("gpt-5.6-sol", "GPT-5.6 Sol", 400_000, tier="goat"),
    _M("google/gemini-3.7-flash", "Gemini 3.7 Flash", 1_048_576, tier="goat"),
    _M("xai/grok-4.6", "Grok 4.6", 256_000, tier="goat"),
    _M("claude-sonnet-4-6", "Claude Sonnet 4.6", 200_000, tier="pro", endpoints=MESSAGES, max_output=128_000),
    _M("claude-haiku-4-5-20251001", "Claude Haiku 4.5", 200_000, tier="pro", endpoints=MESSAGES, max_output=64_000),
    _M("gpt-5.5", "GPT-5.5", 400_000, tier="pro"),
    _M("claude-opus-4-7", "Claude Opus 4.7", 200_000, tier="provider", endpoints=MESSAGES, max_output=128_000),
)

BY_ID: Final[dict[str, Model]] = {m.id: m for m in MODELS}
GO_MODEL_IDS: Final = tuple(m.id for m in MODELS if m.tier == "go")


def plan_includes(plan: str, model: Model) -> bool:
    """Tiers are cumulative: a plan sees every model of its own tier and below."""
    return PLANS.index(model.tier) <= PLANS.index(plan)


def models_json() -> bytes:
    """The ``/provider/v1/models`` body; constant, so callers serialise it once."""
    body = {"object": "list", "data": [m.to_json() for m in MODELS]}
    return json.dumps(body, separators=(",", ":")).encode()


def provider_of(model_id: str) -> str:
    """The provider key used in ``providerMetadata`` (bare ids belong to Anthropic/OpenAI, §5)."""
    if "/" in model_id:
        return model_id.split("/", 1)[0].lower()
    if model_id.startswith("claude"):
        return "anthropic"
    return "openai"


def wire_model_id(model_id: str) -> str:
    """``response.modelId`` in ``finish-step`` drops the vendor prefix (capture: ``deepseek-v4-flash``)."""
    return model_id.rsplit("/", 1)[-1]
