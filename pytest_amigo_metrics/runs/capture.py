"""What a Python agent prints or logs shows with its own test, masked.

Runs of many tests are in flight while pytest captures the output of one item's phase. Each
run's task (and the thread a sync agent runs in) carries the node id of its test. What a run
writes goes through a routing stream, which masks it and passes it on only during a phase of
its own test's item; otherwise it is set aside and handed to pytest's capture when that
item's turn comes. Routing streams sit where sys.stdout and sys.stderr point at every
moment: under pytest's capture (installed before it starts: what pytest restores between
phases) and, with pytest's default fd capture, in its place (what pytest installs at the first
instant of every phase). With another capture method they wrap sys.stdout for each phase.
What runs log is masked as it is made, and a record made outside its own item's phases is
set aside the same way (hidden from every handler until then). So sync agents, which go on in
their threads whatever pytest does, never show under another test nor unmasked.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TextIO

from ..redact import redact

# The node id of the test whose run the current task or agent thread belongs to.
OUTPUT_OWNER: ContextVar[str | None] = ContextVar("amigo_output_owner", default=None)


class _RoutingStream:
    """A text stream in front of `through`: what runs write is masked and goes through only
    during a phase of its own test's item (else it is set aside); the rest goes through as it
    is. Any other attribute is the real stream's."""

    def __init__(self, through: TextIO, name: str) -> None:
        self.through = through
        self.name = name  # "stdout" or "stderr"

    def write(self, text: str) -> int:
        owner = OUTPUT_OWNER.get()
        if owner is None:
            return self.through.write(text)
        text = redact(text)
        router = _active_router
        if router is None or owner == router.current:
            return self.through.write(text)
        router.keep(self.name, owner, text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.through, name)


_active_router: OutputRouter | None = None


def install_session_streams() -> Callable[[], None]:
    """Routing streams for sys.stdout and sys.stderr, and masking of the log records runs
    make; the function that undoes both. Called before pytest's capture starts."""
    out, err = sys.stdout, sys.stderr
    sys.stdout = _RoutingStream(out, "stdout")
    sys.stderr = _RoutingStream(err, "stderr")
    make_record = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        owner = OUTPUT_OWNER.get()
        if owner is not None:
            record.msg, record.args = redact(record.getMessage()), None
            router = _active_router
            if router is not None and owner != router.current:
                router.keep_record(owner, record)
        return record

    logging.setLogRecordFactory(masked_record)

    def restore() -> None:
        if isinstance(sys.stdout, _RoutingStream) and sys.stdout.through is out:
            sys.stdout = out
        if isinstance(sys.stderr, _RoutingStream) and sys.stderr.through is err:
            sys.stderr = err
        if logging.getLogRecordFactory() is masked_record:
            logging.setLogRecordFactory(make_record)

    return restore


def route_fd_capture(capture_manager: object) -> None:
    """Under pytest's fd capture (its default), routing streams become what it points
    sys.stdout and sys.stderr at during phases. This reaches into pytest's CaptureManager;
    when its shape is not the expected one, phases are routed by `OutputRouter.routing`."""
    capturing = getattr(capture_manager, "_global_capturing", None)
    for part, name in (("out", "stdout"), ("err", "stderr")):
        fd_capture = getattr(capturing, part, None)
        sys_capture: Any = getattr(fd_capture, "syscapture", None)
        if type(fd_capture).__name__ != "FDCapture" or type(sys_capture).__name__ != "SysCapture":
            continue
        tmpfile = getattr(fd_capture, "tmpfile", None)  # the file its sys capture writes to
        if isinstance(tmpfile, io.TextIOWrapper) and sys_capture.tmpfile is tmpfile:
            sys_capture.tmpfile = _RoutingStream(tmpfile, name)


# The level a record set aside carries until its test's turn: below every handler's level,
# so that no handler (pytest's per-phase capture included) takes it meanwhile.
_HIDDEN = -1


class OutputRouter:
    def __init__(self) -> None:
        self.stdout: dict[str, list[str]] = defaultdict(list)
        self.stderr: dict[str, list[str]] = defaultdict(list)
        self.records: dict[str, list[logging.LogRecord]] = defaultdict(list)
        self.current: str | None = None  # the item whose phase pytest is in
        self._lock = threading.Lock()  # agent threads set text aside concurrently

    def activate(self) -> None:
        """From now on, what runs write outside their own item's phases is set aside here."""
        global _active_router
        _active_router = self

    def close(self) -> None:
        global _active_router
        if _active_router is self:
            _active_router = None

    def keep(self, stream: str, owner: str, text: str) -> None:
        with self._lock:
            (self.stdout if stream == "stdout" else self.stderr)[owner].append(text)

    def keep_record(self, owner: str, record: logging.LogRecord) -> None:
        if "_amigo_level" in record.__dict__:  # kept already (a pytest run inside a pytest run)
            return
        record.__dict__["_amigo_level"], record.levelno = record.levelno, _HIDDEN
        with self._lock:
            self.records[owner].append(record)

    @contextlib.contextmanager
    def waiting_for(self, nodeid: str) -> Iterator[None]:
        """While `nodeid`'s item waits (in its setup phase): first what its runs wrote
        meanwhile, then their output as they write it."""
        self._release(nodeid)
        with self.routing(nodeid):
            yield

    @contextlib.contextmanager
    def routing(self, nodeid: str) -> Iterator[None]:
        """During a phase of `nodeid`'s item: its runs' output reaches pytest, the rest waits."""
        previous, self.current = self.current, nodeid
        out, err = sys.stdout, sys.stderr
        if not isinstance(out, _RoutingStream):  # a capture method that is not fd
            sys.stdout = _RoutingStream(out, "stdout")
        if not isinstance(err, _RoutingStream):
            sys.stderr = _RoutingStream(err, "stderr")
        try:
            yield
        finally:
            sys.stdout, sys.stderr = out, err
            self.current = previous

    def _release(self, nodeid: str) -> None:
        """What this test's runs printed or logged while other items' phases ran, now."""
        with self._lock:
            out, err = self.stdout.pop(nodeid, []), self.stderr.pop(nodeid, [])
            records = self.records.pop(nodeid, [])
        sys.stdout.write("".join(out))
        sys.stderr.write("".join(err))
        for record in records:
            record.levelno = record.__dict__.pop("_amigo_level")
            logging.getLogger(record.name).handle(record)
