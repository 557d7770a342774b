"""The threads sync agents run in: daemon threads, as many as the session's conversations,
and one more for each agent left hanging past its turn's time limit."""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")


class DaemonThreadPool(concurrent.futures.Executor):
    """A thread pool whose threads are daemons: interpreter exit does not wait for an agent
    that never returns (concurrent.futures joins its own threads at exit)."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a job
        self._queued = 0  # jobs no thread has taken yet
        self._abandoned = 0  # threads still busy with a call nobody waits for any more
        self._lock = threading.Lock()
        self._closed = False

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the session's thread pool is closed")
            self._work.put((future, fn, args, kwargs))
            self._queued += 1
            # A thread more when the jobs not taken yet outnumber the threads waiting (jobs
            # submitted back to back all find the same idle thread).
            if self._queued > self._idle and len(self._threads) - self._abandoned < self.size:
                thread = threading.Thread(target=self._serve, daemon=True, name="amigo-agent")
                self._threads.append(thread)
                thread.start()
        return future

    def _serve(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            job = self._work.get()
            with self._lock:
                self._idle -= 1
                if job is not None:
                    self._queued -= 1
            if job is None:
                return
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the awaiting task, never lost
                future.set_exception(exc)

    def abandon(self, future: concurrent.futures.Future[Any]) -> None:
        """Nobody waits for `future` any more (its turn ran out of time): until its call
        returns, if ever, its thread does not count, so the other agents still get one."""
        with self._lock:
            if future.done():
                return
            self._abandoned += 1
        future.add_done_callback(self._returned)

    @property
    def abandoned(self) -> int:
        """Threads still in a call nobody waits for: an agent that outran its turn."""
        return self._abandoned

    def _returned(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._abandoned -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._work.put(None)
        if wait:
            for thread in threads:
                thread.join()


# The threads of the session whose event loop runs the current task (None: asyncio's default
# executor).
AGENT_THREADS: ContextVar[DaemonThreadPool | None] = ContextVar("amigo_agent_threads", default=None)
