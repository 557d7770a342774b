"""Store faults: each is a usage error naming the store before the first conversation (or one
error per test when it happens during the run); a result already stored is never lost, and
the file passes SQLite's integrity check afterwards."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import Suite


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """Read-only even for root (the tests may run as root, whom file modes do not stop)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is needed to make a file read-only for root")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this file system cannot make files immutable: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def stored_session(suite: Suite) -> int:
    """A session whose results are in the store; how many results it stored."""
    suite.standard()
    suite.scripted({})
    suite.unit_test()
    suite.pytester.runpytest().assert_outcomes(passed=1)
    return len(suite.rows("SELECT * FROM evaluation_results"))


def assert_usage_error_before_any_conversation(suite: Suite, *args: str, says: str) -> None:
    calls_before = len(suite.calls())
    result = suite.pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    result.stderr.fnmatch_lines([f"ERROR: the results store *results.sqlite3 {says}"])
    assert len(suite.calls()) == calls_before


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_store_is_a_usage_error_before_any_conversation(
    suite: Suite, what: str
) -> None:
    stored = stored_session(suite)
    before = suite.store.read_bytes()
    with immutable(suite.store if what == "file" else suite.store.parent):
        says = "is read-only*make the file and its folder writable*"
        if what == "folder":
            says = "cannot be opened for writing*its folder must be writable*"
        assert_usage_error_before_any_conversation(suite, says=says)
    assert suite.store.read_bytes() == before
    assert len(suite.rows("SELECT * FROM evaluation_results")) == stored
    suite.assert_store_intact()


def test_a_store_locked_past_the_timeout_is_a_usage_error_and_keeps_its_results(
    suite: Suite,
) -> None:
    stored = stored_session(suite)
    holder = sqlite3.connect(suite.store, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert_usage_error_before_any_conversation(
            suite,
            "--amigo-store-timeout",
            "0.3",
            says="is locked by another process for longer than 0.3 s*--amigo-store-timeout*",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    suite.pytester.runpytest().assert_outcomes(passed=1)
    assert len(suite.rows("SELECT * FROM evaluation_results")) == 2 * stored
    suite.assert_store_intact()


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("DROP TABLE conversations", "table conversations is missing"),
        ("ALTER TABLE evaluation_results DROP COLUMN justification", "lacks justification"),
    ],
)
def test_a_damaged_schema_is_refused_and_the_file_left_as_it_is(
    suite: Suite, damage: str, says: str
) -> None:
    stored_session(suite)
    db = sqlite3.connect(suite.store)
    db.execute(damage)
    db.commit()
    db.close()
    before = suite.store.read_bytes()
    result = suite.pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: *results.sqlite3 is damaged: *{says}*new file*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert suite.store.read_bytes() == before
    suite.assert_store_intact()


def test_store_timeout_must_be_a_number(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-store-timeout", "-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--amigo-store-timeout: -1.0 is not allowed*"])


def test_validate_reads_a_read_only_store(suite: Suite) -> None:
    """`validate` never writes the store, so a read-only one is no obstacle to it."""
    stored_session(suite)
    before = suite.store.read_bytes()
    with immutable(suite.store):
        result = suite.pytester.run(sys.executable, "-m", "pytest_amigo_metrics", "validate")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert suite.store.read_bytes() == before


def test_damaged_pages_are_an_error_naming_the_store_for_the_baseline_and_the_commands(
    suite: Suite,
) -> None:
    for _ in range(3):  # enough results for the tables to span several pages
        stored_session(suite)
    db = sqlite3.connect(suite.store)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(suite.store.read_bytes())
    for start in range(2 * page, len(data), page):  # every page but the first two
        data[start + 8 : start + 200] = b"\xff" * 192
    suite.store.write_bytes(bytes(data))
    result = suite.pytester.runpytest_subprocess("--amigo-baseline=latest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines(
        ["*--amigo-baseline latest: the results store *results.sqlite3 is damaged*.recover*"]
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest_amigo_metrics", "runs", "--store", str(suite.store)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 4 and "Traceback" not in done.stderr
    assert "results.sqlite3 is damaged" in done.stderr and ".recover" in done.stderr
