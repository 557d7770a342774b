"""Tokens and cost of the model calls of one run, summed as the calls return.

Every call goes through `llm.complete`, which hands its Completion to `record`; the run sets
a fresh meter in its own task context (see execution.py), so the calls of the simulator, a
`model:` agent and the judge (retries included) all land in the run that made them.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from ..verdicts.outcomes import Usage


class Metered(Protocol):
    """What a completed call reports (llm.Completion)."""

    @property
    def model(self) -> str: ...

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...

    @property
    def cost(self) -> float | None: ...


@dataclass
class UsageMeter:
    calls: int = 0
    replayed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: dict[str, None] = field(default_factory=dict)  # models without a known price

    def add(self, completion: Metered) -> None:
        self.calls += 1
        if getattr(completion, "replayed", False):  # from a recording: no tokens, no cost
            self.replayed_calls += 1
            return
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        if completion.cost is None:
            self.unpriced.setdefault(completion.model, None)
        else:
            self.cost_usd += completion.cost

    def usage(self) -> Usage:
        return Usage(
            calls=self.calls,
            replayed_calls=self.replayed_calls,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost_usd=None if self.unpriced else round(self.cost_usd, 9),
            unpriced_models=list(self.unpriced),
        )


# The meter of the run whose task is calling (None outside a run: the call is not counted).
RUN_USAGE: ContextVar[UsageMeter | None] = ContextVar("amigo_run_usage", default=None)


def record(completion: Metered) -> None:
    meter = RUN_USAGE.get()
    if meter is not None:
        meter.add(completion)
