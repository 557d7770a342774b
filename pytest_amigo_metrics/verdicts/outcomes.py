"""What running a simulation unit test produced; plain data that crosses xdist and feeds reports."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from ..ids import stable_id
from ..redact import redact
from ..runs.transcript import EndReason, Message
from ..suite.metrics import JudgeValue

Status = Literal["passed", "failed", "error"]


class Usage(BaseModel):
    """Model calls and what they used: tokens, and cost in USD where litellm knows the model's
    price (None: unknown for at least one call). Replayed calls use nothing."""

    calls: int = 0
    replayed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    unpriced_models: list[str] = []  # the models whose price litellm does not know

    def __add__(self, other: Usage) -> Usage:
        cost = (
            None
            if self.cost_usd is None or other.cost_usd is None
            else self.cost_usd + other.cost_usd
        )
        return Usage(
            calls=self.calls + other.calls,
            replayed_calls=self.replayed_calls + other.replayed_calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=cost,
            unpriced_models=list(dict.fromkeys(self.unpriced_models + other.unpriced_models)),
        )


class MetricOutcome(BaseModel):
    metric: str
    metric_id: str
    version: int
    value: JudgeValue
    justification: str
    references: list[str]
    expectation: str
    passed: bool
    judge_model: str
    # With judge_samples > 1: every sample's value, and the share that agreed with `value`.
    samples: list[JudgeValue] = []
    agreement: float | None = None
    result_id: str | None = None  # the stored evaluation result's id, once stored
    # Judged on the conversation up to the agent's reply to this user turn (None: all of it).
    # Expectations of one metric on the same part share one verdict and one stored result.
    up_to_turn: int | None = None
    # A numerical metric's [lower_bound, upper_bound]: the scale its values are charted on.
    value_range: tuple[float, float] | None = None


class RunOutcome(BaseModel):
    run_index: int
    conversation_id: str
    end_reason: EndReason | None
    messages: list[Message]
    metrics: list[MetricOutcome]
    error: str | None = None
    rate_limit_wait: float = 0.0  # seconds queued for the Amigo API's limits
    model_wait: float = 0.0  # seconds waited for a model's rate limit or Retry-After
    usage: Usage = Usage()  # every model call of the run: simulator, agent, judge
    # From its conversation's first turn to its last verdict (absent in older stores).
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(m.passed for m in self.metrics)

    def message(self, message_id: str) -> Message | None:
        return next((m for m in self.messages if m.id == message_id), None)


class TestOutcome(BaseModel):
    __test__ = False  # not a pytest test class

    nodeid: str
    name: str
    unit_test_id: str
    simulation_unit_test_set_run_id: str
    min_pass_rate: float
    models: dict[str, str]
    runs: list[RunOutcome]
    store_error: str | None = None  # why its results could not be stored
    recording_error: str | None = None  # why its recording could not be written
    recording: str | None = None  # how record/replay served its calls ("replayed (9 calls)")

    @property
    def rate_limit_wait(self) -> float:
        return sum(r.rate_limit_wait for r in self.runs)

    @property
    def duration(self) -> float:
        """Seconds from its first conversation's start to its last verdict (its runs overlap
        each other and other tests' runs: the time it took, not the time pytest waited)."""
        starts = [r.started_at for r in self.runs if r.started_at is not None]
        ends = [r.ended_at for r in self.runs if r.ended_at is not None]
        if not starts or not ends:
            return 0.0
        return max(0.0, (max(ends) - min(starts)).total_seconds())

    @property
    def usage(self) -> Usage:
        return sum((r.usage for r in self.runs), Usage())

    @property
    def file(self) -> str:
        return self.nodeid.split("::", 1)[0]

    @property
    def required_runs(self) -> int:
        """Runs that must pass to meet `min_pass_rate`."""
        return math.ceil(self.min_pass_rate * len(self.runs) - 1e-9)

    @property
    def model_wait(self) -> float:
        return sum(r.model_wait for r in self.runs)

    @property
    def passed_runs(self) -> int:
        return sum(1 for r in self.runs if r.passed)

    @property
    def pass_rate(self) -> float:
        return self.passed_runs / len(self.runs) if self.runs else 0.0

    @property
    def unstored(self) -> int:
        """Results that could not be stored."""
        return sum(len(r.metrics) for r in self.runs) if self.store_error else 0

    @property
    def status(self) -> Status:
        if self.store_error or self.recording_error or any(r.error for r in self.runs):
            return "error"
        return "passed" if self.pass_rate >= self.min_pass_rate else "failed"


def lost_outcome(nodeid: str, why: str, run_id: str) -> TestOutcome:
    """The outcome of a test that never reported because its xdist worker crashed (`why`:
    xdist's text): an error, so that it does not vanish from the summary and the store."""
    lines = [line.strip() for line in why.splitlines() if line.strip()]
    # xdist's text starts with the worker's platform line; the crash is said after it.
    said = next((line for line in lines if "crashed" in line), lines[-1] if lines else "")
    reason = f"no outcome: its xdist worker ended while running it ({said or 'no reason given'})"
    run = RunOutcome(
        run_index=0,
        conversation_id="",
        end_reason=None,
        messages=[],
        metrics=[],
        error=redact(reason),
    )
    return TestOutcome(
        nodeid=nodeid,
        name=nodeid.rsplit("::", 1)[-1],
        unit_test_id=stable_id("unit_test", nodeid),
        simulation_unit_test_set_run_id=run_id,
        min_pass_rate=1.0,
        models={},
        runs=[run],
    )
