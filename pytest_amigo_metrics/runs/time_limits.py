"""Time limits on awaited work: a model call, an agent turn, a whole conversation."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class OutOfTime(Exception):
    """The time limit given to `within` ran out (not a TimeoutError the work raised itself)."""


async def within(work: Awaitable[T], seconds: float | None) -> T:
    """`work`, or OutOfTime after `seconds`. Run in the caller's own task (Python 3.11's
    asyncio.timeout): asyncio.wait_for makes a task per call, and before Python 3.12 it can
    lose a cancellation that arrives as the work finishes."""
    if seconds is None:
        return await work
    if sys.version_info >= (3, 11):
        limit = asyncio.timeout(seconds)
        try:
            async with limit:
                return await work
        except TimeoutError:
            if limit.expired():
                raise OutOfTime from None
            raise
    deadline = asyncio.get_running_loop().time() + seconds
    try:
        return await asyncio.wait_for(work, seconds)
    except asyncio.TimeoutError:
        if asyncio.get_running_loop().time() >= deadline:
            raise OutOfTime from None
        raise
