"""The built-in offline provider's model names and its injected latency, known without
importing litellm: the settings, the model calls and the provider itself read them."""

from __future__ import annotations

OFFLINE_PROVIDER = "offline"
OFFLINE_MODELS = {
    "simulator": "offline/simulator",
    "judge": "offline/judge",
    "agent": "offline/agent",
}
# Called once when litellm is loaded, to run its first-call work (lazy imports, tokenizer)
# before the session's first conversation instead of in it; it never waits for the latency.
WARM_UP_MODEL = "offline/warm-up"

# Seconds each offline call takes (--amigo-offline-latency): benchmarks model a hosted provider.
_latency = 0.0


def set_latency(seconds: float) -> None:
    global _latency
    _latency = seconds


def latency(model: str) -> float:
    """What a call to `offline/<model>` waits before it answers."""
    return 0.0 if model == WARM_UP_MODEL.partition("/")[2] else _latency
