"""Which model each role of a test calls, and which of those litellm must accept.

Collection uses it to check model names at their YAML lines and to decide whether the session
imports litellm at all; the session uses it to build each test's runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .errors import SpecProblem
from .models.llm import ModelEndpoint, provider_problem
from .settings import Role, Settings
from .suite.spec import UnitTest, as_model_ref

MODEL_HINT = (
    "write it as '<provider>/<model>' (e.g. 'openai/gpt-4o-mini', 'anthropic/claude-3-5-haiku-"
    "latest', 'ollama/llama3'); providers: https://docs.litellm.ai/docs/providers"
)


def models_for(settings: Settings, test: UnitTest) -> dict[Role, ModelEndpoint]:
    """The model of each role of the test, as configured (the Amigo judge is not a model;
    see called_models for the ones its runs call)."""
    models: dict[Role, ModelEndpoint] = {
        "simulator": settings.endpoint_for("simulator", as_model_ref(test.models.simulator)),
    }
    if settings.judge == "local":
        models["judge"] = settings.endpoint_for("judge", as_model_ref(test.models.judge))
    if test.target.model is not None:
        models["agent"] = settings.endpoint_for("agent", test.target.model_ref())
    return models


def called_models(settings: Settings, test: UnitTest) -> dict[Role, ModelEndpoint]:
    """The models the test's runs call, live or replayed: a scripted user never calls its
    simulator model."""
    models = models_for(settings, test)
    if test.script is not None:
        models.pop("simulator")
    return models


def live_models(settings: Settings, test: UnitTest) -> dict[Role, ModelEndpoint]:
    """The models the test's runs call through litellm: none in replay mode (every call
    comes from the recordings, and a call missing there is an error)."""
    return {} if settings.record_mode == "replay" else called_models(settings, test)


def model_problems(settings: Settings, test: UnitTest, path: Path) -> list[SpecProblem]:
    """Models no litellm provider accepts, at the YAML line that names them (a model from
    an option is a usage error instead: it is nobody's line); none in replay mode."""
    problems: list[SpecProblem] = []
    for role, endpoint in live_models(settings, test).items():
        problem = provider_problem(endpoint)
        if problem is None:
            continue
        if settings.model_from_option(role):
            raise pytest.UsageError(f"--amigo-{role}-model: {problem}. {MODEL_HINT}")
        where = test.models_declared.get(role)
        line = where.line if where else test.line
        field_name = where.field if where else ("target.model" if role == "agent" else role)
        problems.append(SpecProblem(path, line, field_name, problem, MODEL_HINT))
    return problems
