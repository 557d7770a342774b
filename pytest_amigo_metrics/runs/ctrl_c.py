"""Whether a KeyboardInterrupt is Ctrl-C (a SIGINT the process received) or one that code
raised. An async agent runs on the session's loop, in the main thread, where both look the
same: a real Ctrl-C ends the session, an agent's own KeyboardInterrupt only its run."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

_received = threading.Event()
_tracking = threading.Event()
_ours: list[Callable[[int, FrameType | None], None]] = []  # the handler installed last


def was_pressed() -> bool:
    """Whether the session saw a Ctrl-C: only one it tracked counts (a session whose SIGINT
    someone else handles is not called interrupted on a guess)."""
    return _received.is_set()


def counts_as_ctrl_c() -> bool:
    """Whether a KeyboardInterrupt just caught is to be taken for Ctrl-C rather than one code
    raised: when a Ctrl-C arrived, and also when SIGINT is not tracked (someone else's
    handler), since a Ctrl-C that cannot be told apart must still end the session."""
    return _received.is_set() or not _tracking.is_set()


def track(*, once: bool = False) -> Callable[[], None]:
    """Note each SIGINT, then let Python raise KeyboardInterrupt as usual; the undo. Only from
    the main thread, and only over Python's own handler. With `once` (an xdist worker, which
    may get Ctrl-C both from the terminal and from its controller), a SIGINT after the first
    is ignored, so that it does not interrupt the worker's way out."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    current = signal.getsignal(signal.SIGINT)
    if current == signal.SIG_IGN:  # started with Ctrl-C ignored (a background job, some CI):
        _received.clear()  # no Ctrl-C can arrive, every KeyboardInterrupt is raised by code
        _tracking.set()
        return _tracking.clear
    # Ours, left by a session that never closed (one run in-process before this one), counts
    # as Python's own.
    if current is not signal.default_int_handler and current not in _ours:
        return lambda: None

    def noted(signum: int, frame: FrameType | None) -> None:
        if once and _received.is_set():
            return
        _received.set()
        signal.default_int_handler(signum, frame)

    _ours[:] = [noted]
    signal.signal(signal.SIGINT, noted)
    _received.clear()
    _tracking.set()

    def undo() -> None:
        if signal.getsignal(signal.SIGINT) is noted:  # not another session's since
            ending = once and _received.is_set()  # a worker on its way out stays deaf to it
            signal.signal(signal.SIGINT, signal.SIG_IGN if ending else signal.default_int_handler)
            _tracking.clear()

    return undo
