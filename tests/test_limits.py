"""A model's slots go to the conversation that started first (runs/limits.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pytest_amigo_metrics.runs.limits import (
    SENIORITY,
    Limits,
    LimitSettings,
    SeniorityGate,
)
from pytest_amigo_metrics.runs.time_limits import OutOfTime, within


def test_waiters_get_in_by_seniority_then_arrival() -> None:
    async def scenario() -> list[int]:
        gate = SeniorityGate(1)
        order: list[int] = []
        await gate.acquire()  # held: every task below waits

        async def wait(seniority: int) -> None:
            SENIORITY.set(seniority)  # the task's own context
            async with gate:
                order.append(seniority)

        waiting = [asyncio.create_task(wait(s)) for s in (5, 2, 9, 2, 0)]
        await asyncio.sleep(0.01)
        gate.release()
        await asyncio.gather(*waiting)
        return order

    assert asyncio.run(scenario()) == [0, 2, 2, 5, 9]


def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    async def scenario() -> list[str]:
        gate = SeniorityGate(1)
        got: list[str] = []
        await gate.acquire()

        async def wait(name: str, seniority: int) -> None:
            SENIORITY.set(seniority)
            async with gate:
                got.append(name)

        first = asyncio.create_task(wait("cancelled", 0))
        second = asyncio.create_task(wait("next", 1))
        await asyncio.sleep(0.01)
        gate.release()  # the slot goes to "cancelled"...
        first.cancel()  # ...which is cancelled before it runs: "next" must get it
        await asyncio.gather(first, second, return_exceptions=True)
        return got

    assert asyncio.run(scenario()) == ["next"]


def test_conversations_get_seniority_in_the_order_they_start() -> None:
    async def scenario() -> list[int]:
        limits = Limits(LimitSettings(conversations=2))
        seen: list[int] = []

        async def conversation() -> None:
            async with limits.conversation():
                seen.append(SENIORITY.get())
                await asyncio.sleep(0.01)

        await asyncio.gather(*(conversation() for _ in range(4)))
        assert SENIORITY.get() == -1, "outside a conversation"
        return seen

    assert asyncio.run(scenario()) == [0, 1, 2, 3]


def test_within_tells_its_own_time_limit_from_a_timeout_the_work_raised() -> None:
    async def own_timeout() -> None:
        raise TimeoutError("the agent's HTTP client gave up")

    async def scenario() -> list[str]:
        seen: list[str] = []
        assert await within(asyncio.sleep(0, "done"), None) == "done"
        assert await within(asyncio.sleep(0, "done"), 5) == "done"
        try:
            await within(asyncio.sleep(1), 0.01)
        except OutOfTime:
            seen.append("out of time")
        try:
            await within(own_timeout(), 5)
        except OutOfTime:
            seen.append("wrongly out of time")
        except TimeoutError as exc:
            seen.append(str(exc))
        return seen

    assert asyncio.run(scenario()) == ["out of time", "the agent's HTTP client gave up"]


def test_a_full_shared_window_shows_in_the_progress_line(tmp_path: Path) -> None:
    """Under xdist the per-minute count is kept in a file; a call it holds back says so."""

    async def scenario() -> list[str]:
        limits = Limits(LimitSettings(model_per_minute=1))
        gate = limits.model("offline/judge")
        gate.shared_window = tmp_path / "window"
        async with gate.slot():
            pass  # the minute's one call
        held_back = asyncio.create_task(gate.slot().__aenter__())
        await asyncio.sleep(0.05)
        held_back.cancel()
        return limits.paused()

    paused = asyncio.run(scenario())
    assert len(paused) == 1 and paused[0].startswith("offline/judge (")
