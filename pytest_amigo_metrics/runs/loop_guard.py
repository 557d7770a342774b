"""Async agents that block the session's event loop.

An async agent runs on the session's loop, in the main thread. One that calls blocking code
(`time.sleep`, a sync HTTP or database client) holds the whole loop: no time limit can fire and
every other conversation stalls. So each step of an async agent's coroutine (from one `await`
to the next) is timed against the turn limit. A step that overruns it is interrupted: a watchdog
thread sends the main thread a signal (POSIX), whose handler raises `LoopBlocked` in the agent's
code. A step that overran and returned anyway (no signal, or code that swallowed it) is caught
when it returns. Either way the run ends in error and the session goes on.
"""

from __future__ import annotations

import asyncio
import contextvars
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")
# SIGURG: ignored by default, so a stray one after the session harms nothing, and not one
# people register for tracebacks (faulthandler.register is invisible to signal.getsignal).
# None on Windows: overruns are then caught when the step returns.
INTERRUPT = getattr(signal, "SIGURG", None)
WATCH_EVERY = 0.2  # seconds between the watchdog's looks at the step in progress


class LoopBlocked(BaseException):
    """A step of an async agent held the loop past the limit. A BaseException, so that an
    agent's own `except Exception` does not swallow it."""

    def __init__(self, took: float, limit: float) -> None:
        super().__init__(f"one step took {took:.1f} s, over the limit of {limit:g} s")
        self.took = took
        self.limit = limit


@dataclass
class _Step:
    started: float
    limit: float
    interrupted: bool = False

    def overdue(self, now: float) -> bool:
        return now - self.started > self.limit


class Watchdog:
    """Times the steps of async agents; interrupts one that holds the loop too long."""

    def __init__(self) -> None:
        self._step: _Step | None = None
        self._signals = False
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def install(self) -> Callable[[], None]:
        """The interrupting signal's handler, from the main thread, when the signal is free;
        the undo. Without it, overruns are still caught when the step returns."""
        if INTERRUPT is None or threading.current_thread() is not threading.main_thread():
            return lambda: None
        if signal.getsignal(INTERRUPT) != signal.SIG_DFL:  # someone else's: leave it
            return lambda: None
        signal.signal(INTERRUPT, self._interrupted)
        self._signals = True

        def undo() -> None:
            self._closed.set()
            self._signals = False
            if signal.getsignal(INTERRUPT) == self._interrupted:
                signal.signal(INTERRUPT, signal.SIG_DFL)

        return undo

    def guard(self, work: Awaitable[T], limit: float | None) -> Awaitable[T]:
        """`work`, each of its steps held to `limit` seconds (None: no limit), and so are the
        steps of the tasks it starts (asyncio.wait_for, gather and create_task make some)."""
        if not limit:
            return work
        return _Guarded(self, _in_agent(work, limit), limit)

    def task_factory(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Generator[Any, None, Any] | Coroutine[Any, Any, Any],
        **options: Any,
    ) -> asyncio.Future[Any]:
        """The loop's task factory: a task started from an async agent's code is held to the
        agent's limit too."""
        limit = AGENT_STEP_LIMIT.get()
        if limit and isinstance(coro, Coroutine):
            return asyncio.Task(_stepped(_Guarded(self, coro, limit)), loop=loop, **options)
        return asyncio.Task(coro, loop=loop, **options)

    def _interrupted(self, signum: int, frame: FrameType | None) -> None:
        step = self._step
        if step is not None and step.interrupted:
            raise LoopBlocked(time.monotonic() - step.started, step.limit)

    def begin_step(self, limit: float) -> _Step:
        """A step of an agent's code starts: the watchdog times it from now."""
        step = _Step(time.monotonic(), limit)
        self._step = step
        if self._signals and self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name="amigo-loop-watchdog", daemon=True
            )
            self._thread.start()
        return step

    def end_step(self, step: _Step) -> None:
        """The step returned: LoopBlocked if it took longer than its limit."""
        self._step = None
        took = time.monotonic() - step.started
        if took > step.limit:
            raise LoopBlocked(took, step.limit)

    def drop_step(self) -> None:
        """The step raised: it is over, whatever it took (its error is the one to report)."""
        self._step = None

    def _watch(self) -> None:
        main = threading.main_thread().ident
        while not self._closed.wait(WATCH_EVERY):
            step = self._step
            if step is None or step.interrupted or not step.overdue(time.monotonic()):
                continue
            step.interrupted = True
            if INTERRUPT is not None and main is not None and self._signals:
                signal.pthread_kill(main, INTERRUPT)


class _Guarded(Awaitable[T]):
    """Awaits `work` as `yield from` would, timing each step of it."""

    def __init__(self, watchdog: Watchdog, work: Awaitable[T], limit: float) -> None:
        self._watchdog = watchdog
        self._work = work
        self._limit = limit

    def __await__(self) -> Generator[Any, Any, T]:
        inner = self._work.__await__()
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            step = self._watchdog.begin_step(self._limit)
            try:
                yielded = inner.send(to_send) if to_throw is None else inner.throw(to_throw)
            except StopIteration as done:
                self._watchdog.end_step(step)
                return done.value  # type: ignore[no-any-return]
            except BaseException:
                self._watchdog.drop_step()
                raise
            try:
                self._watchdog.end_step(step)
            except LoopBlocked:
                inner.close()
                raise
            try:
                to_send, to_throw = (yield yielded), None
            except GeneratorExit:
                inner.close()
                raise
            except BaseException as exc:  # a cancellation: passed on to the agent's code
                to_send, to_throw = None, exc


LOOP_GUARD: contextvars.ContextVar[Watchdog | None] = contextvars.ContextVar(
    "amigo_loop_guard", default=None
)
# Set while an async agent's code runs: the tasks it starts inherit it.
AGENT_STEP_LIMIT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "amigo_agent_step_limit", default=None
)


async def _in_agent(work: Awaitable[T], limit: float) -> T:
    token = AGENT_STEP_LIMIT.set(limit)
    try:
        return await work
    finally:
        AGENT_STEP_LIMIT.reset(token)


async def _stepped(work: Awaitable[T]) -> T:
    return await work


def guarded(work: Awaitable[T], limit: float | None) -> Awaitable[T]:
    """`work` under the session's watchdog, when there is one."""
    watchdog = LOOP_GUARD.get()
    return work if watchdog is None else watchdog.guard(work, limit)
