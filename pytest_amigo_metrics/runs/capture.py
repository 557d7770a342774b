"""What a Python agent prints or logs shows with its own test, masked.

Runs of many tests are in flight while pytest captures the output of one item's phase. Each
run's task (and the thread a sync agent runs in) carries the node id of its test. Once a
session has simulation items to run, what a run writes goes through a routing stream, which
masks it and passes it on only during a phase of its own test's item; otherwise it is held and
handed to pytest's capture when that item's turn comes. Routing streams go where sys.stdout and
sys.stderr point at every moment: what pytest's capture restores between phases and, with its
default fd capture, what it installs during them (both reached through pytest's
CaptureManager, guarded: when its shape differs, each phase is wrapped instead, as it is for
other items' phases and capsys). What runs log is masked as it is made, and a record made
outside its own item's phases is held the same way (hidden from every handler until then).
Output a test's runs make after its item ended (the thread of a sync agent that outran its
turn) is held too, and shown on the terminal between two items, under a line that names its
test; whatever is still held when the session ends is shown then. So sync agents, which go on
in their threads whatever pytest does, never show under another test nor unmasked; a session
without simulation items leaves sys.stdout, sys.stderr and logging as they are.
"""

from __future__ import annotations

import contextlib
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
# The level a held record carries until its test's turn: below every handler's level, so
# that no handler (pytest's per-phase capture included) takes it meanwhile.
_HIDDEN = -1
_LATE_FORMAT = "{levelname} {name}: {message}"


def _shown(record: logging.LogRecord) -> dict[str, str]:
    level = record.__dict__.get("_amigo_level", record.levelno)
    return {
        "levelname": logging.getLevelName(level),
        "name": record.name,
        "message": record.getMessage(),
    }


class _RoutingStream:
    """A text stream in front of `through`: what runs write is masked and goes through only
    during a phase of its own test's item (else it is held); the rest goes through as it is.
    Any other attribute is the real stream's."""

    def __init__(self, through: TextIO, name: str) -> None:
        self.through = through
        self.name = name  # "stdout" or "stderr"

    def write(self, text: str) -> int:
        owner = OUTPUT_OWNER.get()
        if owner is None:
            return self.through.write(text)
        router = _active_router
        if router is None:
            return self.through.write(redact(text))
        if router.holds(owner):
            router.keep(self.name, owner, text)  # masked as a whole when it is released
        else:
            # Whole lines only, masked: a secret written in pieces (a reply streamed token by
            # token) is masked once its line is complete.
            lines = router.whole_lines(self.name, owner, text)
            if lines:
                self.through.write(redact(lines))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "through":  # not set yet (copy.copy makes the object without __init__)
            raise AttributeError(name)
        return getattr(self.through, name)


_active_router: OutputRouter | None = None


def _masked_records() -> Callable[[], None]:
    """Log records made by a run: masked, and held when their item is not in a phase."""
    make_record = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        owner = OUTPUT_OWNER.get()
        if owner is not None and "_amigo_masked" not in record.__dict__:
            try:
                message = record.getMessage()
            except Exception:  # %-arguments that do not fit: said, not raised in the agent
                message = f"{record.msg} (arguments that do not fit: {record.args!r})"
            record.msg, record.args = redact(message), None
            if record.exc_info and not record.exc_text:  # formatted now, then masked
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            record.__dict__["_amigo_masked"] = True
            router = _active_router
            if router is not None and router.holds(owner):
                router.keep_record(owner, record)
        return record

    logging.setLogRecordFactory(masked_record)

    def undo() -> None:
        if logging.getLogRecordFactory() is masked_record:
            logging.setLogRecordFactory(make_record)

    return undo


def _routed(holder: object, attribute: str, name: str) -> Callable[[], None]:
    """A routing stream in front of `holder.attribute`; the function that takes it away."""
    original = getattr(holder, attribute)
    if isinstance(original, _RoutingStream):
        return lambda: None
    setattr(holder, attribute, _RoutingStream(original, name))

    def undo() -> None:
        current = getattr(holder, attribute, None)
        if isinstance(current, _RoutingStream) and current.through is original:
            setattr(holder, attribute, original)

    return undo


def _route_capture(capture_manager: object) -> list[Callable[[], None]]:
    """Routing streams where pytest's global capture points sys.stdout and sys.stderr: what it
    restores between phases (its `_old`) and, with fd capture, what it installs during them.
    Private parts of pytest: when they are not there, phases are wrapped one by one."""
    undo: list[Callable[[], None]] = []
    capturing = getattr(capture_manager, "_global_capturing", None)
    for part, name in (("out", "stdout"), ("err", "stderr")):
        capture = getattr(capturing, part, None)
        sys_capture = getattr(capture, "syscapture", capture)  # fd capture holds a sys capture
        if type(sys_capture).__name__ not in ("SysCapture", "TeeSysCapture"):
            continue
        if hasattr(sys_capture, "_old"):
            undo.append(_routed(sys_capture, "_old", name))
        fd_file = getattr(capture, "tmpfile", None)
        if type(capture).__name__ == "FDCapture" and getattr(sys_capture, "tmpfile", 0) is fd_file:
            undo.append(_routed(sys_capture, "tmpfile", name))
    return undo


class OutputRouter:
    def __init__(self) -> None:
        self.stdout: dict[str, list[str]] = defaultdict(list)
        self.stderr: dict[str, list[str]] = defaultdict(list)
        self.records: dict[str, list[logging.LogRecord]] = defaultdict(list)
        # The start of a line a run was writing during its own item's phase, by stream and test.
        self.partial: dict[tuple[str, str], str] = {}
        self.current: str | None = None  # the item whose phase pytest is in
        self.ended: set[str] = set()  # items that reported
        self._late: set[str] = set()  # ended items whose runs wrote since: shown between items
        self._lock = threading.Lock()  # agent threads hold output concurrently
        self._undo: list[Callable[[], None]] = []
        self._masking: list[Callable[[], None]] = []  # what masks sys.stdout, sys.stderr, logs

    def activate(self, capture_manager: object | None) -> None:
        """The session has simulation items to run: from now on, runs' output is routed."""
        global _active_router
        if _active_router is self:
            return
        _active_router = self
        self._masking = [_masked_records(), _routed(sys, "stdout", "stdout")]
        self._masking.append(_routed(sys, "stderr", "stderr"))
        self._undo = [*self._masking, *_route_capture(capture_manager)]

    def close(self, *, agents_still_writing: bool = False) -> None:
        """Stop routing; show what is still held (runs whose item never had its turn, and
        what ended tests' runs wrote since). While agent threads that outran their turn still
        live (`agents_still_writing`), sys.stdout, sys.stderr and log records stay masked:
        those threads may write after the session, or after this xdist worker, ends."""
        global _active_router
        if _active_router is not self:
            return
        self.release_late(None)
        _active_router = None
        keep = self._masking if agents_still_writing else []
        for undo in reversed(self._undo):
            if undo not in keep:
                undo()
        self._undo = []
        for nodeid in list({*self.stdout, *self.stderr, *self.records}):
            self._release(nodeid)

    @property
    def active(self) -> bool:
        return _active_router is self

    def holds(self, owner: str) -> bool:
        return owner != self.current

    def keep(self, stream: str, owner: str, text: str) -> None:
        with self._lock:
            (self.stdout if stream == "stdout" else self.stderr)[owner].append(text)
            if owner in self.ended:
                self._late.add(owner)

    def whole_lines(self, stream: str, owner: str, text: str) -> str:
        """The lines `text` completes (with the start kept from earlier writes); the rest of
        the last line is kept for the next write, or held when the phase ends."""
        with self._lock:
            pending = self.partial.pop((stream, owner), "") + text
            lines, newline, rest = pending.rpartition("\n")
            if rest:
                self.partial[(stream, owner)] = rest
        return lines + newline

    def keep_record(self, owner: str, record: logging.LogRecord) -> None:
        record.__dict__["_amigo_level"], record.levelno = record.levelno, _HIDDEN
        with self._lock:
            self.records[owner].append(record)
            if owner in self.ended:
                self._late.add(owner)

    @contextlib.contextmanager
    def waiting_for(self, nodeid: str) -> Iterator[None]:
        """While `nodeid`'s item waits (in its setup phase): first what its runs wrote
        meanwhile, then their output as they write it; after it, nothing of theirs is held."""
        self._release(nodeid)
        try:
            with self.routing(nodeid):
                yield
        finally:
            self.ended.add(nodeid)
            self._release(nodeid)

    @contextlib.contextmanager
    def routing(self, nodeid: str) -> Iterator[None]:
        """During a phase of `nodeid`'s item: its runs' output reaches pytest, the rest waits."""
        previous, self.current = self.current, nodeid
        undo = [_routed(sys, "stdout", "stdout"), _routed(sys, "stderr", "stderr")]
        try:
            yield
        finally:
            for step in undo:
                step()
            self.current = previous
            with self._lock:  # a line left unfinished: held with the rest, until released
                for stream in ("stdout", "stderr"):
                    if rest := self.partial.pop((stream, nodeid), ""):
                        (self.stdout if stream == "stdout" else self.stderr)[nodeid].append(rest)

    def release_late(self, show: Callable[[str], None] | None) -> None:
        """Between two items (pytest captures nothing then): what the runs of tests that had
        ended wrote since, on the terminal under a line naming the test."""
        if not self._late:
            return
        with self._lock:
            late, self._late = self._late, set()
        for nodeid in sorted(late):
            with self._lock:
                text = "".join(self.stdout.pop(nodeid, []) + self.stderr.pop(nodeid, []))
                records = self.records.pop(nodeid, [])
            text = redact(text)
            text += "".join(f"{_LATE_FORMAT.format(**_shown(r))}\n" for r in records)
            if not text:
                continue
            heading = f"amigo: {nodeid} went on writing after its test ended:"
            if show is None:
                sys.stderr.write(f"{heading}\n{text}")
            else:
                show(heading + "\n" + text.rstrip("\n"))

    def _release(self, nodeid: str) -> None:
        """What this test's runs printed or logged while they were held, now."""
        with self._lock:
            out, err = self.stdout.pop(nodeid, []), self.stderr.pop(nodeid, [])
            records = self.records.pop(nodeid, [])
        if out:
            sys.stdout.write(redact("".join(out)))
        if err:
            sys.stderr.write(redact("".join(err)))
        for record in records:
            record.levelno = record.__dict__.pop("_amigo_level")
            logging.getLogger(record.name).handle(record)
