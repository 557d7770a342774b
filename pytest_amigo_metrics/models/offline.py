"""The offline provider as a litellm custom provider (imported only when litellm is)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import ModelResponse

from .offline_logic import respond
from .offline_models import latency


def _response(model: str, messages: list[dict[str, Any]]) -> ModelResponse:
    text = respond(model, messages)
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
    completion_tokens = len(text.split())
    response = ModelResponse(
        model=f"offline/{model}",
        choices=[
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    )
    # Its cost is known: litellm takes a provider's own figure instead of pricing the call.
    response._hidden_params["response_cost"] = 0.0
    return response


class OfflineProvider(CustomLLM):
    """Serves `offline/<role>` model strings through litellm's normal call path, after the
    session's injected latency (none by default)."""

    def completion(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> Any:
        time.sleep(latency(model))
        return _response(model, messages)

    async def acompletion(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> Any:
        await asyncio.sleep(latency(model))
        return _response(model, messages)
