"""Ctrl-C sent to the xdist controller alone (an IDE's stop button, `kill -INT`, a harness's
`send_signal`): the controller passes it on to its workers at once, as a terminal's Ctrl-C
reaches every process of its group. Otherwise each worker learns of it only when execnet,
after a 5 s grace, interrupts the test it is running, and the session ends 7-9 s later.

A worker found busy with a test after a terminal's Ctrl-C gets a second SIGINT this way; it
ignores the repeat (ctrl_c.track(once=True)). Workers are found in /proc (Linux); elsewhere
the controller leaves them to execnet."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

try:
    from execnet.gateway_io import popen_bootstrapline
except ImportError:  # an execnet that moved it: the line it has long started workers with
    popen_bootstrapline = "import sys;exec(eval(sys.stdin.readline()))"


def worker_pids(parent: int | None = None) -> list[int]:
    """The child processes of `parent` (this process) that execnet started, from /proc."""
    parent = os.getpid() if parent is None else parent
    bootstrap = popen_bootstrapline.encode()
    found = []
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _child_of(entry, parent, bootstrap):
                found.append(int(entry.name))
    return found


def _child_of(process: Path, parent: int, bootstrap: bytes) -> bool:
    try:
        stat = (process / "stat").read_text()
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name, in parentheses, may hold spaces
        return ppid == parent and bootstrap in (process / "cmdline").read_bytes()
    except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
        return False


def interrupt_workers() -> None:
    for pid in worker_pids():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGINT)
