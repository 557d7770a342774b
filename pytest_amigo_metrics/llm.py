"""The single gateway to litellm: lazy import, offline provider registration, retries."""

from __future__ import annotations

import asyncio
import os
import warnings
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .errors import ModelCallError
from .redact import redact

OFFLINE_PROVIDER = "offline"
OFFLINE_MODELS = {
    "simulator": "offline/simulator",
    "judge": "offline/judge",
    "agent": "offline/agent",
}

# Names of litellm exceptions that are worth another attempt: rate limits, outages, timeouts.
TRANSIENT_ERRORS = (
    "RateLimitError",
    "ServiceUnavailableError",
    "Timeout",
    "APIConnectionError",
    "InternalServerError",
    "BadGatewayError",
)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff, or the server's Retry-After when it asks for longer."""
        backoff = self.base_delay * (2**attempt)
        return float(min(self.max_delay, max(backoff, retry_after or 0.0)))


def retry_after(exc: BaseException) -> float | None:
    """Seconds from a Retry-After header on the error's HTTP response, when there is one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Completion:
    text: str
    model: str


def is_offline(model: str) -> bool:
    return model.startswith(OFFLINE_PROVIDER + "/")


def load_litellm() -> Any:
    """Import litellm once, quietly and without fetching its remote cost map."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    from .offline import OfflineProvider

    litellm.suppress_debug_info = True
    providers = litellm.custom_provider_map or []
    if not any(p.get("provider") == OFFLINE_PROVIDER for p in providers):
        litellm.custom_provider_map = [
            *providers,
            {"provider": OFFLINE_PROVIDER, "custom_handler": OfflineProvider()},
        ]
    return litellm


async def complete(
    model: str,
    messages: list[dict[str, str]],
    *,
    response_format: type[BaseModel] | None = None,
    retry: RetryPolicy,
    temperature: float | None = 0.0,
    seed: int | None = None,
) -> Completion:
    """One chat completion; transient failures are retried with exponential backoff."""
    litellm = load_litellm()
    # litellm's own types trip a pydantic UserWarning when first used; it is not the user's
    # concern. Added per call because pytest resets warning filters for every test item.
    warnings.filterwarnings("ignore", message=r".*`ReadOnly` qualifier", category=UserWarning)
    # drop_params: a provider without e.g. `seed` or `response_format` still answers; the
    # prompt asks for JSON anyway and every answer is validated.
    kwargs: dict[str, Any] = {"num_retries": 0, "drop_params": True}
    if temperature is not None:
        kwargs["temperature"] = temperature
    if response_format is not None:
        kwargs["response_format"] = response_format
    if seed is not None:
        kwargs["seed"] = seed
    last_error = ""
    for attempt in range(retry.attempts):
        try:
            response = await litellm.acompletion(model=model, messages=messages, **kwargs)
        except Exception as exc:
            last_error = redact(f"{type(exc).__name__}: {exc}")
            if type(exc).__name__ not in TRANSIENT_ERRORS:
                raise ModelCallError(f"model {model!r} failed: {last_error}") from None
            if attempt + 1 < retry.attempts:
                await asyncio.sleep(retry.delay(attempt, retry_after(exc)))
            continue
        content = response.choices[0].message.content
        return Completion(text=content or "", model=model)
    raise ModelCallError(
        f"model {model!r} still failing after {retry.attempts} attempts "
        f"(infrastructure, not a quality failure): {last_error}"
    )
