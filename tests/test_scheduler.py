"""The session's loop at its end: nothing queued runs once it stops, and what was cancelled
gets the loop to end (an Amigo conversation is finished then) before anything else runs on it."""

from __future__ import annotations

import asyncio

from pytest_amigo_metrics.runs.limits import Limits
from pytest_amigo_metrics.runs.scheduler import Scheduler


def test_stopping_runs_no_queued_step_and_lets_cancelled_work_end() -> None:
    scheduler = Scheduler(Limits(), threads=1)
    events: list[str] = []

    async def conversation(name: str) -> None:
        events.append(f"{name} started")
        try:
            await asyncio.sleep(3600)
        finally:
            events.append(f"{name} finished its conversation")

    async def queued() -> None:
        events.append("queued step ran")

    try:
        scheduler.start("talking", lambda: conversation("talking"))
        scheduler.run(asyncio.sleep(0))  # the first one starts; then one is queued
        scheduler.start("queued", queued)
        scheduler.stop()
        assert events == ["talking started", "talking finished its conversation"]
        assert scheduler.limits.stopped
        scheduler.stop()  # once
    finally:
        scheduler.close()
    assert events == ["talking started", "talking finished its conversation"]
