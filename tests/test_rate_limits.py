"""The client-side queue for the Amigo API's limits, shared through files by every process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pytest_amigo_metrics.amigo.endpoints import ENDPOINTS
from pytest_amigo_metrics.amigo.rate_limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_is_shared_by_every_limiter_of_the_same_user(tmp_path: Path) -> None:
    clock = Clock()
    one = RateLimiter("org|user", window=60.0, directory=tmp_path, clock=clock)
    other = RateLimiter("org|user", window=60.0, directory=tmp_path, clock=clock)  # a 2nd process
    create = ENDPOINTS["create-conversation"]  # 5 per minute
    delays = [limiter._take(create.name, 5) for limiter in (one, other, one, other, one)]
    assert delays == [0.0] * 5
    clock.now += 10
    assert other._take(create.name, 5) == pytest.approx(50.01)  # until the first one leaves
    clock.now += 50.01
    assert one._take(create.name, 5) == 0.0


def test_other_users_and_endpoints_have_their_own_windows(tmp_path: Path) -> None:
    clock = Clock()
    mine = RateLimiter("org|me", window=60.0, directory=tmp_path, clock=clock)
    theirs = RateLimiter("org|them", window=60.0, directory=tmp_path, clock=clock)
    for _ in range(5):
        mine._take("create-conversation", 5)
    assert theirs._take("create-conversation", 5) == 0.0
    assert mine._take("finish-conversation", 5) == 0.0


def test_a_request_over_the_limit_waits_for_the_window(tmp_path: Path) -> None:
    limiter = RateLimiter("org|user", window=0.2, directory=tmp_path)
    finish = ENDPOINTS["finish-conversation"]

    async def six() -> list[float]:
        waits: list[float] = []
        for _ in range(6):
            waited = await limiter.wait_turn(finish)
            if waited:
                waits.append(waited)
        return waits

    waits = asyncio.run(six())
    assert len(waits) == 1 and 0.1 < waits[0] <= 0.25


def test_one_open_conversation_per_user_at_a_time(tmp_path: Path) -> None:
    limiter = RateLimiter("org|user", window=60.0, directory=tmp_path)
    order: list[str] = []

    async def conversation(name: str) -> None:
        async with limiter.conversation_slot():
            order.append(f"{name} opens")
            await asyncio.sleep(0.05)
            order.append(f"{name} closes")

    async def both() -> None:
        await asyncio.gather(conversation("a"), conversation("b"))

    asyncio.run(both())
    assert order == ["a opens", "a closes", "b opens", "b closes"]
