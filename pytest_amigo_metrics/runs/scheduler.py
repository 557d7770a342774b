"""The session's event loop, and every conversation of the session in flight on it.

pytest calls items one at a time, but a conversation suite waits on model latency. So once the
items to run are known, every run of every one of them starts as a task on the session's loop
(bounded by limits.py); an item's setup then waits for its own runs, and while it waits the
loop drives everything else in flight. Items report in pytest's order with their usual outcome.
The loop runs only while an item waits, so once pytest stops (-x, --maxfail, Ctrl-C) no model
call starts; closing the session cancels what is left.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..models.llm import litellm_warnings_silenced
from ..models.request_setup import SessionExecutor
from . import ctrl_c
from .agent_threads import AGENT_THREADS, DaemonThreadPool
from .limits import CURRENT_LIMITS, Limits
from .loop_guard import LOOP_GUARD, Watchdog

T = TypeVar("T")
RECANCEL = 0.05  # seconds between cancellations of what is left at the end
POLL = 0.05  # seconds between looks for newly assigned items while waiting (xdist)
CLOSE_TIMEOUT = 2.0  # seconds cancelled tasks get to finish when the session closes
TICK = 5.0  # seconds between progress lines while an item waits
# Objects allocated between two young-generation collections while the session runs: a
# conversation makes short-lived objects by the thousand, and Python's default (700) collects
# every few model calls, a tenth of the session's CPU at zero latency.
YOUNG_COLLECTION_THRESHOLD = 10_000


class Scheduler:
    def __init__(self, limits: Limits, threads: int, *, xdist_worker: bool = False) -> None:
        self.limits = limits
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(SessionExecutor(thread_name_prefix="amigo-loop"))
        # Sync agents run here: daemon threads, so a hung agent never blocks the exit.
        self.executor = DaemonThreadPool(threads)
        # Async agents run on the loop: one that blocks it is interrupted (loop_guard.py), and
        # one that raises KeyboardInterrupt is told apart from Ctrl-C (ctrl_c.py).
        self.watchdog = Watchdog()
        self.loop.set_task_factory(self.watchdog.task_factory)
        self._undo = [self.watchdog.install(), ctrl_c.track(once=xdist_worker)]
        self.jobs: dict[str, asyncio.Task[Any]] = {}
        self._thresholds = gc.get_threshold()
        gc.set_threshold(
            max(self._thresholds[0], YOUNG_COLLECTION_THRESHOLD), *self._thresholds[1:]
        )

    def start(self, key: str, work: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Start `work` as a task under the session's limits, once per key."""
        if key not in self.jobs:
            self.jobs[key] = self.loop.create_task(self._limited(work))

    async def _limited(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        CURRENT_LIMITS.set(self.limits)  # a task's context is its own copy
        AGENT_THREADS.set(self.executor)
        LOOP_GUARD.set(self.watchdog)
        return await work()

    def started(self, key: str) -> bool:
        return key in self.jobs

    def wait(
        self,
        key: str,
        poll: Callable[[], None] | None = None,
        tick: Callable[[float], None] | None = None,
    ) -> Any:
        """Drive the loop until the job of `key` is done; its result, or its exception.
        Meanwhile `poll` is called now and then (to start newly assigned work), and `tick`
        every TICK seconds with the time waited so far (to show progress)."""
        task = self.jobs.pop(key)
        waiting: asyncio.Future[Any] = task
        if poll is not None or tick is not None:
            waiting = self.loop.create_task(self._watching(task, poll, tick))
        with litellm_warnings_silenced():
            while True:
                try:
                    return self.loop.run_until_complete(waiting)
                except (KeyboardInterrupt, SystemExit):
                    # asyncio lets these out of the loop, whichever task raised them. Ctrl-C
                    # ends the session; one an agent's own task raised (sys.exit() in a task
                    # it started) is that task's result too, so its run ends in error.
                    if ctrl_c.counts_as_ctrl_c() or waiting.done():
                        raise

    async def _watching(
        self,
        task: asyncio.Task[T],
        poll: Callable[[], None] | None,
        tick: Callable[[float], None] | None,
    ) -> T:
        started = next_tick = self.loop.time()
        next_tick += TICK
        while not task.done():
            if poll is not None:
                poll()
            await asyncio.wait({task}, timeout=POLL if poll is not None else TICK)
            now = self.loop.time()
            if tick is not None and now >= next_tick and not task.done():
                tick(now - started)
                next_tick = now + TICK
        return task.result()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run one coroutine to its end on the session's loop (work outside the items)."""
        with litellm_warnings_silenced():
            return self.loop.run_until_complete(self._limited(lambda: work))

    def stop(self) -> None:
        """No conversation goes on: every task is cancelled before the loop runs again (a
        queued step would otherwise take its turn first), then given the loop to end (an
        Amigo conversation is finished meanwhile), and no model call starts. Once."""
        if self.limits.stopped:
            return
        self.limits.stopped = True
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        with litellm_warnings_silenced():
            self.loop.run_until_complete(_cancel_the_rest(self.loop))

    def close(self) -> None:
        """Stop, close the loop as asyncio.run does; threads are left to the exit."""
        self.stop()
        with litellm_warnings_silenced():
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        self.limits.close()
        self.executor.shutdown(wait=False)
        for undo in self._undo:
            undo()
        self.jobs.clear()
        if gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD:  # nobody changed it since
            gc.set_threshold(*self._thresholds)


async def _cancel_the_rest(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left (litellm's logging worker too) until it is done. Cancelled again
    and again: asyncio.wait_for before Python 3.12 loses a cancellation that arrives as its
    inner work finishes. Bounded: some litellm releases' logging worker swallows every
    cancellation."""
    deadline = loop.time() + CLOSE_TIMEOUT
    while loop.time() < deadline:
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if not pending:
            break
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=RECANCEL)
