"""How a pytest-xdist worker that loaded litellm ends: at once, after its exit handlers.

The controller waits for every worker process to end before it finishes the session. A
process that imported litellm spends about 0.1 s of CPU at exit freeing litellm's million
objects, one by one: time the session waits for and that nothing needs (the operating system
takes the memory back anyway). A worker with that much to free therefore runs every exit
handler registered with `atexit` (coverage's, logging's, the user's, in their usual order,
once each), flushes its standard streams, and ends with `os._exit`. Non-daemon threads have
been joined before exit handlers run. A worker that still has a regular file open for writing
(whose buffered data only the usual end would write: a log file an agent never closed, a
coverage database; standard output and error redirected to files do not count) ends the usual
way, and so does one on a system without /proc. Set
AMIGO_METRICS_WORKER_FAST_EXIT=0 to let every worker end the usual way.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import stat
import sys

ENVIRONMENT_SWITCH = "AMIGO_METRICS_WORKER_FAST_EXIT"
_ending = False


def end_worker_quickly() -> None:
    """Arrange the quick end; called as late as possible (the worker's unconfigure), so that
    the handler is the last one registered, which `atexit` calls first."""
    if os.environ.get(ENVIRONMENT_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if not hasattr(atexit, "_run_exitfuncs"):  # an interpreter without it: the usual end
        return
    atexit.unregister(_exit_now)
    atexit.register(_exit_now)


def _exit_now() -> None:
    global _ending
    if _ending:  # called again by the run below
        return
    _ending = True
    atexit.unregister(_exit_now)
    if files_open_for_writing():
        return  # the usual end: the other handlers, then Python closes (and flushes) them
    # Every other handler, in the usual last-registered-first order; it clears them after.
    atexit._run_exitfuncs()
    logging.shutdown()  # flushes file handlers when logging's own handler did not run
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    os._exit(0)  # an xdist worker's exit status is not read: results travel on its channel


def files_open_for_writing() -> bool:
    """Whether this process has a regular file open for writing (True when it cannot tell:
    no /proc, as on macOS and Windows). Standard input, output and error do not count, even
    when redirected to a file (`pytest ... > log 2>&1`, and pytester): _exit_now flushes the
    streams that write to them."""
    try:
        descriptors = [int(name) for name in os.listdir("/proc/self/fd")]
        import fcntl
    except (OSError, ValueError, ImportError):
        return True
    for descriptor in descriptors:
        if descriptor <= 2:
            continue
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                continue  # pipes, sockets, /dev/null, the listing's own directory
            mode = fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_ACCMODE
        except OSError:  # closed since the listing
            continue
        if mode in (os.O_WRONLY, os.O_RDWR):
            return True
    return False
