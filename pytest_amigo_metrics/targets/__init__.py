"""Agents under test. Each one turns the conversation so far into the agent's next reply."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..models.llm import ModelEndpoint, RetryPolicy
from ..suite.spec import TargetSpec
from .base import Agent, Chat, StatelessAgent
from .litellm_model import LiteLLMAgent
from .python_callable import PythonAgent

if TYPE_CHECKING:
    from ..amigo.client import AmigoAPI


def build_agent(
    target: TargetSpec,
    *,
    model: ModelEndpoint | None,
    search_paths: list[Path],
    retry: RetryPolicy,
    amigo: Callable[[], AmigoAPI],
) -> Agent:
    if target.amigo is not None:
        from .amigo_service import AmigoServiceAgent  # imports amigo-sdk: only when used

        return AmigoServiceAgent(target.amigo, amigo())
    if target.python is not None:
        return PythonAgent(target.python, search_paths)
    assert model is not None, "a `model:` target's endpoint is resolved by the session"
    return LiteLLMAgent(model, target.system_prompt, retry)


__all__ = ["Agent", "Chat", "StatelessAgent", "build_agent"]
