"""Run a simulation unit test: conversations, judgements, expectations, one outcome per run."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from ..amigo.rate_limits import RATE_LIMIT_WAIT
from ..errors import AmigoRunError
from ..models.recording import CURRENT_RUN
from ..models.usage import RUN_USAGE, UsageMeter
from ..redact import redact
from ..suite.expectations import Expectation
from ..suite.metrics import value_range
from ..targets import Agent, Chat
from ..verdicts.judge import ActiveMetric, Verdict
from ..verdicts.outcomes import MetricOutcome, RunOutcome
from .limits import CURRENT_LIMITS, MODEL_WAIT
from .simulator import SimulatedUser
from .time_limits import OutOfTime, within
from .transcript import EndReason, Transcript


@dataclass(frozen=True)
class Check:
    metric: ActiveMetric
    expectation: Expectation
    up_to_turn: int | None = None

    def describe(self) -> str:
        turn = f" by user turn {self.up_to_turn}" if self.up_to_turn else ""
        return self.expectation.describe() + turn


class Judge(Protocol):
    @property
    def name(self) -> str: ...

    async def evaluate_all(
        self, metrics: list[ActiveMetric], transcript: Transcript, up_to_turn: int | None = None
    ) -> Sequence[Verdict | AmigoRunError]: ...


@dataclass(frozen=True)
class RunPlan:
    simulator: SimulatedUser
    agent: Agent
    checks: list[Check]
    judge: Judge
    max_turns: int
    runs: int


async def converse(
    simulator: SimulatedUser,
    agent: Agent,
    max_turns: int,
    run_index: int = 0,
    transcript: Transcript | None = None,
) -> Transcript:
    """The conversation, written into `transcript` (a new one by default) as it goes."""
    transcript = Transcript() if transcript is None else transcript
    async with agent.conversation(transcript) as chat:
        transcript.end_reason = await _exchange(simulator, chat, transcript, max_turns, run_index)
    return transcript


async def _exchange(
    simulator: SimulatedUser, chat: Chat, transcript: Transcript, max_turns: int, run_index: int
) -> EndReason:
    for number in range(1, max_turns + 1):
        if chat.ended:
            return "agent_ended"
        try:
            turn = await simulator.next_turn(transcript, run_index)
            if turn is None:
                return "script_completed"
            if turn.action != "send":
                return turn.action
            await _agent_turn(chat, turn.message)
        except AmigoRunError as exc:
            raise AmigoRunError(f"user turn {number}: {exc}") from None
    return "agent_ended" if chat.ended else "max_turns"


async def _agent_turn(chat: Chat, message: str) -> None:
    limits = CURRENT_LIMITS.get()
    limit = limits.settings.turn_timeout if limits is not None else None
    try:
        await within(chat.send(message), limit)
    except OutOfTime:
        raise AmigoRunError(
            f"the agent gave no reply within {limit:g} s (--amigo-turn-timeout); "
            "the session goes on without this run"
        ) from None


async def judge_checks(
    judge: Judge, checks: list[Check], transcript: Transcript
) -> list[Verdict | AmigoRunError]:
    """One verdict per check, in order, or the error that kept it from one (the other
    verdicts are kept). Checks judged on the same part of the conversation go together, and
    a metric named by several of them (`>= 3` and `<= 8`) is judged once for all."""
    verdicts: dict[int, Verdict | AmigoRunError] = {}
    for turn in dict.fromkeys(c.up_to_turn for c in checks):
        group = [i for i, c in enumerate(checks) if c.up_to_turn == turn]
        metrics = list({checks[i].metric.name: checks[i].metric for i in group}.values())
        try:
            found: list[Verdict | AmigoRunError] = list(
                await judge.evaluate_all(metrics, transcript, turn)
            )
        except AmigoRunError as exc:
            found = [exc] * len(metrics)
        by_name = dict(zip((m.name for m in metrics), found, strict=True))
        verdicts.update((i, by_name[checks[i].metric.name]) for i in group)
    return [verdicts[i] for i in range(len(checks))]


async def run_once(plan: RunPlan, run_index: int) -> RunOutcome:
    """One conversation and its verdicts, holding one of the session's conversation slots."""
    limits = CURRENT_LIMITS.get()
    if limits is None:
        return await _run_once(plan, run_index)
    async with limits.conversation():
        return await _run_once(plan, run_index)


async def _run_once(plan: RunPlan, run_index: int) -> RunOutcome:
    transcript: Transcript | None = None
    metrics: list[MetricOutcome] = []
    waits: list[float] = []
    model_waits: list[float] = []
    RATE_LIMIT_WAIT.set(waits)  # this run's own task context
    MODEL_WAIT.set(model_waits)
    meter = UsageMeter()
    RUN_USAGE.set(meter)
    CURRENT_RUN.set(run_index)  # recorded and replayed calls belong to this run
    limits = CURRENT_LIMITS.get()
    limit = limits.settings.conversation_timeout if limits is not None else None
    so_far = Transcript()
    started = datetime.now(timezone.utc)
    try:
        try:
            transcript = await within(
                converse(plan.simulator, plan.agent, plan.max_turns, run_index, so_far), limit
            )
        except OutOfTime:
            transcript = so_far  # what was said is kept, to see where it stalled
            raise AmigoRunError(
                f"the conversation did not end within {limit:g} s "
                f"(--amigo-conversation-timeout): {_stalled_at(so_far)}"
            ) from None
        if not transcript.messages:
            raise AmigoRunError("the conversation has no interactions: nothing to evaluate")
        verdicts = await judge_checks(plan.judge, plan.checks, transcript)
        failures = list(dict.fromkeys(str(v) for v in verdicts if isinstance(v, AmigoRunError)))
        for check, verdict in zip(plan.checks, verdicts, strict=True):
            if isinstance(verdict, AmigoRunError):
                continue
            metrics.append(
                MetricOutcome(
                    metric=check.metric.name,
                    metric_id=check.metric.id,
                    version=verdict.version or check.metric.version,
                    value=verdict.value,
                    justification=redact(verdict.justification),
                    references=verdict.references,
                    expectation=check.describe(),
                    passed=check.expectation.met_by(verdict.value),
                    judge_model=verdict.model,
                    samples=list(verdict.samples),
                    agreement=verdict.agreement,
                    up_to_turn=check.up_to_turn,
                    value_range=value_range(check.metric.spec.metric_value),
                )
            )
        error = redact("\n".join(failures)) if failures else None
    except AmigoRunError as exc:
        error = redact(str(exc))
    except Exception as exc:  # a bug, or an answer nobody foresaw: this run's error, not a crash
        error = redact(unexpected(exc))
    return RunOutcome(
        run_index=run_index,
        conversation_id=transcript.conversation_id if transcript else "",
        end_reason=transcript.end_reason if transcript else None,
        # Reports and the store never get a secret an agent or a user turn let slip.
        messages=[m.model_copy(update={"content": redact(m.content)}) for m in transcript.messages]
        if transcript
        else [],
        metrics=metrics,
        error=error,
        rate_limit_wait=round(sum(waits), 3),
        model_wait=round(sum(model_waits), 3),
        usage=meter.usage(),
        started_at=started,
        ended_at=datetime.now(timezone.utc),
    )


def _stalled_at(transcript: Transcript) -> str:
    turns = sum(m.role == "user" for m in transcript.messages)
    if transcript.messages and transcript.messages[-1].role == "user":
        return f"user turn {turns} was waiting for the agent's reply"
    return f"user turn {turns + 1} was waiting for the simulated user"


def unexpected(exc: Exception) -> str:
    """An error nothing above handles, with where it came from."""
    trace = "".join(traceback.format_exception(exc, limit=-4))
    return (
        f"unexpected {type(exc).__name__}: {exc} (not a quality failure; if it is not the "
        f"agent's, please report it to pytest-amigo-metrics)\n{trace}"
    )


async def run_all(
    plan: RunPlan, on_done: Callable[[RunOutcome], None] | None = None
) -> list[RunOutcome]:
    """Every run of the test, concurrently within the session's limits; on_done sees each
    run as it ends."""

    async def one(index: int) -> RunOutcome:
        outcome = await run_once(plan, index)
        if on_done is not None:
            on_done(outcome)
        return outcome

    return list(await asyncio.gather(*(one(i) for i in range(plan.runs))))
