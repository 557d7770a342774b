"""The default executor of the session's event loop: litellm's request setups run on the loop."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import functools
import inspect
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
# litellm request setups run per turn of the session loop: one per turn starts requests
# soonest, but costs litellm's background logging more work per call.
SETUPS_PER_TURN = 4


def _is_litellm_request_setup(fn: Callable[..., Any]) -> bool:
    """Whether `fn` is litellm.acompletion's synchronous request setup, which it hands to the
    loop's default executor: `partial(context.run, partial(litellm.main.completion, ...))`."""
    main = sys.modules.get("litellm.main")
    if main is None or not isinstance(fn, functools.partial) or not fn.args:
        return False
    inner = fn.args[0]
    return isinstance(inner, functools.partial) and inner.func is getattr(main, "completion", None)


class SessionExecutor(concurrent.futures.ThreadPoolExecutor):
    """The default executor of the session's loop. litellm.acompletion hands its synchronous
    request setup (building parameters; for async providers no I/O) to it. Run on the loop
    instead of a thread, a call costs about 1 ms less (no thread hop, no contention for the
    GIL). The setups run a few per turn of the loop, so that calls go on to send their requests
    before the next setups start: when every conversation asks at once, the first requests leave
    after a few setups instead of after all of them. Everything else runs in threads as usual."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setups: collections.deque[tuple[concurrent.futures.Future[Any], Callable[[], Any]]]
        self._setups = collections.deque()
        self._next_setup_scheduled = False
        # The coroutines setups returned (an async provider's request) that may not have been
        # awaited yet. A call cancelled in the turn its setup ran never awaits its coroutine
        # (asyncio drops a result that reaches a cancelled future): closed at shutdown, it
        # does not warn "coroutine ... was never awaited" after pytest's summary (-x).
        self._sent: list[Coroutine[Any, Any, Any]] = []
        self._sent_kept = 0  # how many were left after the last look

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        if args or kwargs or not _is_litellm_request_setup(fn):
            # In the caller's context: what an async agent's `run_in_executor(None, ...)`
            # prints or logs is its own test's (runs/capture.py).
            context = contextvars.copy_context()
            return super().submit(context.run, fn, *args, **kwargs)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not called from the loop: a thread does it
            return super().submit(fn)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._setups.append((future, fn))
        if not self._next_setup_scheduled:
            self._next_setup_scheduled = True
            loop.call_soon(self._run_next_setup, loop)
        return future

    def _run_next_setup(self, loop: asyncio.AbstractEventLoop) -> None:
        self._next_setup_scheduled = False
        ran = 0
        while self._setups and ran < SETUPS_PER_TURN:
            future, fn = self._setups.popleft()
            if future.set_running_or_notify_cancel():  # its call may have been cancelled
                try:
                    result = fn()
                except BaseException as exc:  # handed to the awaiting call, as from a thread
                    future.set_exception(exc)
                else:
                    if inspect.iscoroutine(result):
                        self._keep(result)
                    future.set_result(result)
                ran += 1
        if self._setups:
            self._next_setup_scheduled = True
            loop.call_soon(self._run_next_setup, loop)

    def _keep(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Hold a setup's coroutine until it has started; the list is pruned as it doubles."""
        self._sent.append(coroutine)
        if len(self._sent) > 2 * self._sent_kept + 64:
            self._sent = [c for c in self._sent if _not_started(c)]
            self._sent_kept = len(self._sent)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The loop's close shuts its default executor down: nothing awaits a coroutine that
        has not started by then."""
        sent, self._sent, self._sent_kept = self._sent, [], 0
        for coroutine in sent:
            if _not_started(coroutine):
                coroutine.close()
        super().shutdown(wait=wait, cancel_futures=cancel_futures)


def _not_started(coroutine: Coroutine[Any, Any, Any]) -> bool:
    return inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED
