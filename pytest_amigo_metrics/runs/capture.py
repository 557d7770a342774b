"""What a Python agent prints or logs shows with its own test.

Runs of many tests are in flight while pytest captures the output of one item. Each run's task
(and the thread a sync agent runs in) carries the node id of its test; while an item waits,
what other tests' runs print or log is set aside, and handed to pytest's capture when their
own item's turn comes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TextIO

from ..redact import redact

# The node id of the test whose run the current task or agent thread belongs to.
OUTPUT_OWNER: ContextVar[str | None] = ContextVar("amigo_output_owner", default=None)


class _Routed(io.TextIOBase):
    """A stream that passes the current item's text through and keeps the rest aside."""

    def __init__(self, through: TextIO, current: str, aside: dict[str, list[str]]) -> None:
        self.through = through
        self.current = current
        self.aside = aside

    def write(self, text: str) -> int:
        owner = OUTPUT_OWNER.get()
        if owner is None or owner == self.current:
            self.through.write(redact(text))
        else:
            self.aside[owner].append(redact(text))
        return len(text)

    def flush(self) -> None:
        self.through.flush()

    def isatty(self) -> bool:
        return False


class _SetAside(logging.Filter):
    def __init__(self, current: str, aside: dict[str, list[logging.LogRecord]]) -> None:
        super().__init__()
        self.current = current
        self.aside = aside

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_amigo_redacted", False):
            record.msg, record.args = redact(record.getMessage()), None
            record._amigo_redacted = True
        owner = OUTPUT_OWNER.get()
        if owner is None or owner == self.current:
            return True
        if not getattr(record, "_amigo_aside", False):
            record._amigo_aside = True  # kept once, not once per handler
            self.aside[owner].append(record)
        return False


class OutputRouter:
    def __init__(self) -> None:
        self.stdout: dict[str, list[str]] = defaultdict(list)
        self.stderr: dict[str, list[str]] = defaultdict(list)
        self.records: dict[str, list[logging.LogRecord]] = defaultdict(list)

    @contextlib.contextmanager
    def waiting_for(self, nodeid: str) -> Iterator[None]:
        """While `nodeid`'s item waits: its runs' output reaches pytest, the rest waits."""
        self._release(nodeid)
        out, err = sys.stdout, sys.stderr
        handlers = list(logging.getLogger().handlers)
        aside = _SetAside(nodeid, self.records)
        sys.stdout = _Routed(out, nodeid, self.stdout)
        sys.stderr = _Routed(err, nodeid, self.stderr)
        for handler in handlers:
            handler.addFilter(aside)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = out, err
            for handler in handlers:
                handler.removeFilter(aside)

    def _release(self, nodeid: str) -> None:
        """What this test's runs printed or logged while other items waited, now."""
        sys.stdout.write("".join(self.stdout.pop(nodeid, [])))
        sys.stderr.write("".join(self.stderr.pop(nodeid, [])))
        for record in self.records.pop(nodeid, []):
            logging.getLogger(record.name).handle(record)
