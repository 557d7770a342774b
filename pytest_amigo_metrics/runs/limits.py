"""How many model calls and conversations are in flight: per model, and for the session.

Every role and test that calls the same model (the same model string at the same URL) shares
its gate: at most `in_flight` calls at once, at most `per_minute` calls started in any 60 s
when set, and a pause for everyone after the provider asked for one (429 with Retry-After).
When calls wait for a model, the conversation that started first goes first: conversations
then finish one after another, and their verdicts are asked for while later ones still talk,
instead of every conversation crawling through its turns together.
Under pytest-xdist the calls in flight, the conversations in flight and the per-minute counts
hold for the whole session, every worker included (shared_limits.py); a pause holds in the
worker that was asked for it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from ..file_lock import take_from_window
from .shared_limits import SharedSlots, limit_file, shared_limits_available

WINDOW = 60.0  # seconds over which `per_minute` is counted


@dataclass(frozen=True)
class LimitSettings:
    model_in_flight: int = 128
    model_per_minute: float | None = None
    conversations: int = 256
    # Seconds (None: no limit): one model call, one agent turn, one whole conversation.
    call_timeout: float | None = None
    turn_timeout: float | None = None
    conversation_timeout: float | None = None


class SeniorityGate:
    """At most `size` holders at once; a waiter whose conversation started first gets in first
    (then in order of arrival)."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (SENIORITY.get(), next(self._arrivals), ticket))
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():  # let in, then cancelled: pass it on
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            ticket = heapq.heappop(self._waiters)[2]
            if not ticket.done():  # a cancelled waiter's ticket is done
                ticket.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


@dataclass
class ModelGate:
    in_flight: int
    per_minute: float | None
    # Under xdist: the session's slots and per-minute window, shared by every worker.
    shared_slots: SharedSlots | None = None
    shared_window: Path | None = None
    _slots: SeniorityGate = field(init=False)
    _starts: collections.deque[float] = field(default_factory=collections.deque)
    _paused_until: float = 0.0
    _window_full_until: float = 0.0  # under xdist: when the shared per-minute window had room

    def __post_init__(self) -> None:
        self._slots = SeniorityGate(self.in_flight)

    def resume_in(self, now: float) -> float:
        """Seconds before the next call may start (0: now)."""
        while self._starts and now - self._starts[0] >= WINDOW:
            self._starts.popleft()
        wait = max(self._paused_until, self._window_full_until) - now
        if self.per_minute and len(self._starts) >= self.per_minute:
            wait = max(wait, self._starts[0] + WINDOW - now)
        return max(0.0, wait)

    def pause(self, seconds: float) -> None:
        """The provider asked for a pause: no call to this model starts before it ends."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots, held(self.shared_slots):
            await self._wait_turn()
            yield

    async def _wait_turn(self) -> None:
        while True:
            now = time.monotonic()
            wait = self.resume_in(now)
            if wait <= 0 and self.shared_window is not None and self.per_minute:
                wait = take_from_window(self.shared_window, self.per_minute, WINDOW)
                if wait <= 0:
                    return
                self._window_full_until = now + wait  # for the progress line
            elif wait <= 0:
                self._starts.append(now)
                return
            waits = MODEL_WAIT.get()
            if waits is not None:
                waits.append(wait)
            await asyncio.sleep(wait)


@contextlib.asynccontextmanager
async def held(slots: SharedSlots | None) -> AsyncIterator[None]:
    """One of the shared slots for the block (nothing to hold without them)."""
    if slots is None:
        yield
        return
    async with slots.held():
        yield


@dataclass
class Limits:
    """The session's gates, made on first use inside the session's event loop. With a
    `shared_scope` (the session's run id, under xdist) they hold across its processes."""

    settings: LimitSettings = field(default_factory=LimitSettings)
    shared_scope: str | None = None
    _models: dict[tuple[str, str | None], ModelGate] = field(default_factory=dict)
    _conversations: asyncio.Semaphore | None = None
    _shared_conversations: SharedSlots | None = None
    _shared: list[SharedSlots] = field(default_factory=list)
    _started: itertools.count[int] = field(default_factory=itertools.count)
    # Set when the session stops (-x, --maxfail, Ctrl-C): no model call starts after that,
    # even in a task whose cancellation asyncio lost (wait_for on Python < 3.12).
    stopped: bool = False

    def model(self, model: str, api_base: str | None = None) -> ModelGate:
        key = (model, api_base)
        if key not in self._models:
            name = f"model {model} at {api_base or ''}"
            self._models[key] = ModelGate(
                self.settings.model_in_flight,
                self.settings.model_per_minute,
                shared_slots=self._slots(name, self.settings.model_in_flight),
                shared_window=self._window(name) if self.settings.model_per_minute else None,
            )
        return self._models[key]

    def _slots(self, name: str, size: int) -> SharedSlots | None:
        if self.shared_scope is None or not shared_limits_available():
            return None
        slots = SharedSlots(limit_file(self.shared_scope, name + " slots"), size)
        self._shared.append(slots)
        return slots

    def _window(self, name: str) -> Path | None:
        if self.shared_scope is None or not shared_limits_available():
            return None
        return limit_file(self.shared_scope, name + " per minute")

    def paused(self) -> list[str]:
        """The models whose calls wait for a pause or their per-minute limit right now."""
        now = time.monotonic()
        return [
            f"{model} ({gate.resume_in(now):.0f}s)"
            for (model, _), gate in self._models.items()
            if gate.resume_in(now) > 0
        ]

    @contextlib.asynccontextmanager
    async def conversation(self) -> AsyncIterator[None]:
        """One of the session's conversation slots, for the block."""
        if self._conversations is None:
            self._conversations = asyncio.Semaphore(self.settings.conversations)
            self._shared_conversations = self._slots("conversations", self.settings.conversations)
        async with self._conversations, held(self._shared_conversations):
            seniority = SENIORITY.set(next(self._started))  # this task's, and its calls'
            try:
                yield
            finally:
                # Closed from another context only when the loop shuts down with it stuck.
                with contextlib.suppress(ValueError):
                    SENIORITY.reset(seniority)

    def close(self) -> None:
        """Let go of the shared limits' files (their locks go with them)."""
        for slots in self._shared:
            slots.close()
        self._shared.clear()


# The limits of the session whose event loop runs the current task (None: no limits).
CURRENT_LIMITS: ContextVar[Limits | None] = ContextVar("amigo_limits", default=None)
# When the current task's conversation got its slot (0, 1, 2, ...): the earlier, the sooner
# its calls get a model's slot. Calls outside a conversation go first.
SENIORITY: ContextVar[int] = ContextVar("amigo_seniority", default=-1)
# Seconds the current run waited for a model's requests-per-minute limit or Retry-After pause.
MODEL_WAIT: ContextVar[list[float] | None] = ContextVar("amigo_model_wait", default=None)


@contextlib.asynccontextmanager
async def model_slot(model: str, api_base: str | None) -> AsyncIterator[ModelGate | None]:
    """A call slot for the model under the current session's limits (none outside one)."""
    limits = CURRENT_LIMITS.get()
    if limits is None:
        yield None
        return
    if limits.stopped:
        raise asyncio.CancelledError("the session stopped")
    gate = limits.model(model, api_base)
    async with gate.slot():
        if limits.stopped:  # stopped while this call waited for its slot
            raise asyncio.CancelledError("the session stopped")
        yield gate
