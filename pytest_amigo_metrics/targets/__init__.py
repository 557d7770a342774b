"""Agents under test. Each one turns the conversation so far into the agent's next reply."""

from __future__ import annotations

from pathlib import Path

from ..llm import RetryPolicy
from ..spec import TargetSpec
from .base import Agent
from .litellm_model import LiteLLMAgent
from .python_callable import PythonAgent


def build_agent(
    target: TargetSpec, *, model_override: str | None, search_paths: list[Path], retry: RetryPolicy
) -> Agent:
    if target.python is not None:
        return PythonAgent(target.python, search_paths)
    model = model_override or target.model
    assert model is not None, "TargetSpec guarantees python or model"
    return LiteLLMAgent(model, target.system_prompt, retry)


__all__ = ["Agent", "build_agent"]
