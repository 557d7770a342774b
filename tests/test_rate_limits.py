"""The client-side queue for the Amigo API's limits, shared through files by every process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

pytest.importorskip("amigo_sdk")

from pytest_amigo_metrics.amigo.client import AmigoAPI
from pytest_amigo_metrics.amigo.endpoints import ENDPOINTS
from pytest_amigo_metrics.amigo.rate_limits import RateLimiter, Turn
from pytest_amigo_metrics.amigo.sync import live_metrics
from pytest_amigo_metrics.models.llm import RetryPolicy
from pytest_amigo_metrics.testing import FakeAmigoAPI


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
            waited = (await limiter.wait_turn(finish)).waited
            if waited:
                waits.append(waited)
        return waits

    waits = asyncio.run(six())
    assert len(waits) == 1 and 0.1 < waits[0] <= 0.25


def test_the_window_counts_a_request_from_when_its_answer_came(tmp_path: Path) -> None:
    clock = Clock()
    limiter = RateLimiter("org|user", window=60.0, directory=tmp_path, clock=clock)
    create = ENDPOINTS["create-conversation"]  # 5 per minute

    async def five() -> list[Turn]:
        turns = []
        for _ in range(5):
            turns.append(await limiter.wait_turn(create))
            clock.now += 1
        return turns

    turns = asyncio.run(five())
    clock.now = 1000.5  # the first request's answer: the server counted it by then
    asyncio.run(limiter.answered(turns[0]))
    clock.now = 1060.2  # 60 s after the first was sent, not after it was answered
    assert limiter._take(create.name, 5) == pytest.approx(0.31)
    clock.now = 1060.5
    assert limiter._take(create.name, 5) == 0.0


def test_a_slow_first_request_does_not_overrun_the_servers_window(tmp_path: Path) -> None:
    """The server counts a request when it arrives. A request that took long to arrive must
    not let a later, faster one in before the server's window has room (it answered 429)."""
    fake = FakeAmigoAPI(rate_window=0.5)
    arrivals = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal arrivals
        if "/metric/" in request.url.path:
            arrivals += 1
            if arrivals == 1:
                await asyncio.sleep(0.2)  # the first listing is slow to reach the server
        return fake.handle(request)

    async def listings() -> None:
        api = AmigoAPI(
            fake.credentials(),
            retry=RetryPolicy(attempts=1, base_delay=0.01),
            transport=httpx.MockTransport(handle),
            limiter=RateLimiter("org|user", window=0.5, directory=tmp_path),
        )
        try:
            for _ in range(21):  # 20 per window are allowed
                await live_metrics(api)
        finally:
            await api.aclose()

    with fake.serve_sdk():
        asyncio.run(listings())
    assert [r.status for r in fake.calls("get-metrics")] == [200] * 21


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
