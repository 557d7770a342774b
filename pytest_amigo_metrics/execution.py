"""Run a simulation unit test: conversations, judgements, expectations, one outcome per run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from .errors import AmigoRunError
from .expectations import Expectation
from .judge import ActiveMetric, evaluate
from .llm import RetryPolicy
from .outcomes import MetricOutcome, RunOutcome
from .redact import redact
from .simulator import SimulatedUser
from .targets import Agent
from .transcript import Transcript


@dataclass(frozen=True)
class Check:
    metric: ActiveMetric
    expectation: Expectation


@dataclass(frozen=True)
class RunPlan:
    simulator: SimulatedUser
    agent: Agent
    checks: list[Check]
    judge_model: str
    judge_retries: int
    max_turns: int
    runs: int
    concurrency: int
    retry: RetryPolicy


async def converse(
    simulator: SimulatedUser, agent: Agent, max_turns: int, run_index: int = 0
) -> Transcript:
    transcript = Transcript()
    for _ in range(max_turns):
        turn = await simulator.next_turn(transcript, run_index)
        if turn is None:
            transcript.end_reason = "script_completed"
            return transcript
        if turn.action != "send":
            transcript.end_reason = turn.action
            return transcript
        transcript.add_user_turn(turn.message)
        transcript.add_agent_turn(await agent.reply(transcript))
    transcript.end_reason = "max_turns"
    return transcript


async def run_once(plan: RunPlan, run_index: int) -> RunOutcome:
    transcript: Transcript | None = None
    metrics: list[MetricOutcome] = []
    try:
        transcript = await converse(plan.simulator, plan.agent, plan.max_turns, run_index)
        if not transcript.messages:
            raise AmigoRunError("the conversation has no interactions: nothing to evaluate")
        for check in plan.checks:
            verdict = await evaluate(
                check.metric,
                transcript,
                model=plan.judge_model,
                retries=plan.judge_retries,
                retry=plan.retry,
            )
            metrics.append(
                MetricOutcome(
                    metric=check.metric.name,
                    metric_id=check.metric.id,
                    version=check.metric.version,
                    value=verdict.value,
                    justification=verdict.justification,
                    references=verdict.references,
                    expectation=check.expectation.describe(),
                    passed=check.expectation.met_by(verdict.value),
                    judge_model=verdict.model,
                )
            )
        error = None
    except AmigoRunError as exc:
        error = redact(str(exc))
    return RunOutcome(
        run_index=run_index,
        conversation_id=transcript.conversation_id if transcript else "",
        end_reason=transcript.end_reason if transcript else None,
        messages=transcript.messages if transcript else [],
        metrics=metrics,
        error=error,
    )


async def run_all(plan: RunPlan, on_run: Callable[[RunOutcome], None]) -> list[RunOutcome]:
    """Every run, concurrently up to plan.concurrency; on_run sees each as soon as it ends."""
    gate = asyncio.Semaphore(plan.concurrency)

    async def one(index: int) -> RunOutcome:
        async with gate:
            outcome = await run_once(plan, index)
        on_run(outcome)
        return outcome

    return list(await asyncio.gather(*(one(i) for i in range(plan.runs))))
