"""Opening the store's file: its format checked without writing it, before anything writes,
and a read-only connection that never writes it (on a read-only mount too)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .errors import StoreError
from .file_format import format_problem, read_in_place, unusable

T = TypeVar("T")


def waiting_out_locks(step: Callable[[], T], busy_timeout: float) -> T:
    """The step, retried while SQLite answers "locked" without waiting on its busy timeout."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _cannot_keep_wal_files(exc: sqlite3.OperationalError) -> bool:
    """Whether a read-only connection failed for want of the -wal and -shm files beside the
    file, which a read-only folder or mount cannot hold."""
    text = str(exc)
    return "unable to open" in text or "readonly" in text or "read-only" in text


def _consistent_format(db: sqlite3.Connection) -> str | None:
    """format_problem within one read transaction: a process creating the store commits its
    tables and its format together, and the check must not see one without the other."""
    db.execute("BEGIN")
    try:
        return format_problem(db)
    finally:
        db.execute("COMMIT")


def open_read_only(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection that never writes the file, once its format is checked. Where SQLite
    cannot keep the -wal and -shm files a reader of a WAL file needs (a read-only folder or
    mount), the file is read as immutable: nothing can write it there either."""
    if not path.exists():
        raise StoreError(f"there is no results store at {path}")
    uri = path.absolute().as_uri()
    try:
        try:
            return _checked(path, f"{uri}?mode=ro", busy_timeout, reading=True)
        except sqlite3.OperationalError as exc:
            if not _cannot_keep_wal_files(exc):
                raise
            return _checked(path, f"{uri}?immutable=1", busy_timeout, reading=True)
    except sqlite3.DatabaseError as exc:
        raise StoreError(unusable(path, exc, busy_timeout, writing=False)) from None


def check_before_writing(path: Path, busy_timeout: float) -> None:
    """The format of a file about to be opened for writing, read without writing. Where
    SQLite cannot read it so (a hot journal to roll back, WAL files it cannot make), the
    check is left to the writing connection, as before there was this one."""
    try:
        uri = f"{path.absolute().as_uri()}?mode=ro"
        _checked(path, uri, busy_timeout, reading=False).close()
    except sqlite3.DatabaseError as exc:
        if not (isinstance(exc, sqlite3.OperationalError) and _cannot_keep_wal_files(exc)):
            raise StoreError(unusable(path, exc, busy_timeout)) from None


def _checked(path: Path, uri: str, busy_timeout: float, *, reading: bool) -> sqlite3.Connection:
    """A read-only connection to a file whose format is usable; `reading`: to be read as it
    is (a format-1 store too), rather than checked before a writer opens it."""
    db = sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        # A reader may find a file another process is switching to WAL: "locked" at once.
        problem = waiting_out_locks(lambda: _consistent_format(db), busy_timeout)
        if problem:
            raise StoreError(f"{path} {problem}")
        if reading:
            read_in_place(db)
    except BaseException:
        db.close()
        raise
    return db
