"""The client-side queue for the Amigo API's limits, shared through files by every process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from pytest_amigo_metrics.amigo.endpoints import ENDPOINTS, Endpoint
from pytest_amigo_metrics.amigo.rate_limits import RateLimiter, Turn
from pytest_amigo_metrics.models.llm import RetryPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def served(limiter: RateLimiter, endpoint: Endpoint) -> float:
    """A request let through and answered at once (at the limiter's clock): 0.0; or the seconds
    to wait."""
    delay = limiter._take(endpoint.name, endpoint.per_minute or 0)
    if delay <= 0:
        asyncio.run(limiter.answered(Turn(endpoint.name, 0.0, limiter.clock())))
    return delay


def test_limit_is_shared_by_every_limiter_of_the_same_user(tmp_path: Path) -> None:
    clock = Clock()
    one = RateLimiter("org|user", window=60.0, directory=tmp_path, clock=clock)
    other = RateLimiter("org|user", window=60.0, directory=tmp_path, clock=clock)  # a 2nd process
    create = ENDPOINTS["create-conversation"]  # 5 per minute
    delays = [served(limiter, create) for limiter in (one, other, one, other, one)]
    assert delays == [0.0] * 5
    clock.now += 10
    assert served(other, create) == pytest.approx(50.01)  # until the first one leaves
    clock.now += 50.01
    assert served(one, create) == 0.0


def test_a_request_still_in_flight_holds_its_place_in_the_window(tmp_path: Path) -> None:
    """The server counted it when it arrived; until its answer comes, that may be any time."""
    clock = Clock()
    limiter = RateLimiter("org|user", window=60.0, directory=tmp_path, clock=clock)
    create = ENDPOINTS["create-conversation"]  # 5 per minute
    slow = asyncio.run(limiter.wait_turn(create))  # sent at 1000, no answer yet
    clock.now = 1061.0
    assert [served(limiter, create) for _ in range(4)] == [0.0] * 4
    # Not let in although the slow one was sent over a window ago: at least a window after
    # its answer, which has not come.
    assert limiter._take(create.name, 5) == pytest.approx(59.01)
    clock.now = 1062.0
    asyncio.run(limiter.answered(slow))
    clock.now = 1063.0
    assert limiter._take(create.name, 5) == pytest.approx(58.01)  # the first of the four
    clock.now = 1121.0
    assert served(limiter, create) == 0.0


def test_a_request_never_answered_frees_its_place_after_two_windows(tmp_path: Path) -> None:
    clock = Clock()
    limiter = RateLimiter("org|user", window=60.0, directory=tmp_path, clock=clock)
    create = ENDPOINTS["create-conversation"]
    for _ in range(5):
        asyncio.run(limiter.wait_turn(create))  # a transport error: no answer ever comes
    clock.now = 1119.0
    assert limiter._take(create.name, 5) == pytest.approx(1.01)
    clock.now = 1120.0
    assert served(limiter, create) == 0.0


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
            turn = await limiter.wait_turn(finish)
            await limiter.answered(turn)  # as the client does when the answer comes
            waited = turn.waited
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


@pytest.mark.parametrize(
    ("delay", "concurrent"),
    [(0.2, False), (0.6, True)],
    ids=["slow-to-arrive", "in-flight-past-the-window"],
)
def test_a_slow_request_does_not_let_others_overrun_the_servers_window(
    tmp_path: Path, delay: float, concurrent: bool
) -> None:
    """The server counts a request when it arrives. One that took long to arrive, or is still
    in flight after a whole window, must not let later, faster ones in before the server's
    window has room (it answered 429)."""
    pytest.importorskip("amigo_sdk")
    from pytest_amigo_metrics.amigo.client import AmigoAPI
    from pytest_amigo_metrics.amigo.sync import live_metrics
    from pytest_amigo_metrics.testing import FakeAmigoAPI

    fake = FakeAmigoAPI(rate_window=0.5)
    arrivals = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal arrivals
        if "/metric/" in request.url.path:
            arrivals += 1
            if arrivals == 1:
                await asyncio.sleep(delay)  # the first listing is slow to reach the server
        return fake.handle(request)

    async def listings(count: int) -> None:
        api = AmigoAPI(
            fake.credentials(),
            retry=RetryPolicy(attempts=1, base_delay=0.01),
            transport=httpx.MockTransport(handle),
            limiter=RateLimiter("org|user", window=0.5, directory=tmp_path),
        )
        try:
            if concurrent:
                await asyncio.gather(*(live_metrics(api) for _ in range(count)))
            else:
                for _ in range(count):
                    await live_metrics(api)
        finally:
            await api.aclose()

    count = 40 if concurrent else 21  # 20 per window are allowed
    with fake.serve_sdk():
        asyncio.run(listings(count))
    assert [r.status for r in fake.calls("get-metrics")] == [200] * count


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
