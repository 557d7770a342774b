"""Store faults: each is a usage error naming the store before the first conversation (or one
error per test when it happens during the run); a result already stored is never lost, and
the file passes SQLite's integrity check afterwards."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import Suite
from pytest_amigo_metrics.runs.transcript import Message
from pytest_amigo_metrics.store import Store
from pytest_amigo_metrics.verdicts.outcomes import RunOutcome, TestOutcome


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


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """A file or folder nobody can write: by its mode, or for root (whom modes do not stop) by
    the immutable attribute, which behaves for SQLite as a read-only mount does."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        with immutable(path):
            yield
        return
    mode = path.stat().st_mode
    path.chmod(mode & ~0o222)
    try:
        yield
    finally:
        path.chmod(mode)


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


# A conftest that takes the store's write lock once the session has opened and checked the
# store, before the plugin registers the metrics (its hook runs last), as another process
# starting a long write then would.
LOCK_AFTER_THE_CHECK = """
import sqlite3

import pytest

holder = []


def pytest_collection_modifyitems(config):
    db = sqlite3.connect(config.rootpath / ".amigo-metrics" / "results.sqlite3",
                         isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    holder.append(db)


def pytest_unconfigure(config):
    for db in holder:
        db.execute("ROLLBACK")
        db.close()
"""


def test_a_store_locked_while_metrics_are_registered_is_a_usage_error(suite: Suite) -> None:
    stored = stored_session(suite)
    suite.write("conftest.py", LOCK_AFTER_THE_CHECK)
    result = suite.pytester.runpytest_subprocess("--amigo-store-timeout", "0.3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    result.stderr.fnmatch_lines(
        [
            "ERROR: the results store *results.sqlite3 is locked by another process for longer "
            "than 0.3 s*--amigo-store-timeout*"
        ]
    )
    assert len(suite.rows("SELECT * FROM evaluation_results")) == stored
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


def store_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_amigo_metrics", *args], capture_output=True, text=True
    )


def journal_mode(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        db.close()


def another_programs_database(path: Path, user_version: int) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO users (name) VALUES ('ada')")
    db.execute(f"PRAGMA user_version = {user_version}")
    db.commit()
    db.close()


@pytest.mark.parametrize("user_version", [0, 1, 2])
def test_another_programs_database_is_refused_as_not_a_store_and_left_byte_for_byte(
    suite: Suite, user_version: int
) -> None:
    """`--amigo-store app.db` by mistake: whatever its user_version says, it is not a store;
    it is neither switched to WAL nor migrated, and the message says so and how to fix it."""
    suite.standard()
    suite.unit_test()
    app = suite.path / "app.db"
    another_programs_database(app, user_version)
    before = app.read_bytes()
    result = suite.pytester.runpytest_subprocess("--amigo-store", str(app))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *app.db is not a pytest-amigo-metrics results store: it is another SQLite "
            "database (its tables: users). The file is left as it is: point --amigo-store at "
            "another path*"
        ]
    )
    assert "store format" not in result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    listed = store_cli("runs", "--store", str(app))
    assert listed.returncode == 4 and "Traceback" not in listed.stderr
    assert "app.db is not a pytest-amigo-metrics results store" in listed.stderr
    assert app.read_bytes() == before
    assert journal_mode(app) == "delete"
    assert sorted(p.name for p in suite.path.glob("app.db*")) == ["app.db"]


def test_a_store_of_a_newer_format_is_refused_and_left_byte_for_byte(suite: Suite) -> None:
    stored = stored_session(suite)
    db = sqlite3.connect(suite.store)
    db.execute("PRAGMA journal_mode = DELETE")  # a format of its own, as a newer version's may be
    db.execute("PRAGMA user_version = 3")
    db.close()
    before = suite.store.read_bytes()
    calls_before = len(suite.calls())
    result = suite.pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *results.sqlite3 holds results in store format 3*The file is left as it is*"]
    )
    assert len(suite.calls()) == calls_before
    listed = store_cli("runs", "--store", str(suite.store))
    assert listed.returncode == 4 and "holds results in store format 3" in listed.stderr
    assert suite.store.read_bytes() == before
    assert journal_mode(suite.store) == "delete"
    assert len(suite.rows("SELECT * FROM evaluation_results")) == stored


def large_outcome(content_size: int) -> TestOutcome:
    messages = [
        Message(id=f"m{i}", interaction_id="i0", role=role, content="x" * content_size)
        for i, role in enumerate(("user", "agent"))
    ]
    run = RunOutcome(
        run_index=0,
        conversation_id="c" * 24,
        end_reason="script_completed",
        messages=messages,
        metrics=[],
    )
    return TestOutcome(
        nodeid="big.amigo.yaml::big",
        name="big",
        unit_test_id="u" * 24,
        simulation_unit_test_set_run_id="r" * 24,
        min_pass_rate=1.0,
        models={},
        runs=[run],
    )


def test_a_full_disk_during_a_write_is_the_error_raised_and_the_store_stays_usable(
    tmp_path: Path,
) -> None:
    """SQLite rolls a transaction back itself when the disk fills up mid-write (simulated by
    capping the file's pages): the error raised says so, not that no transaction is active."""
    store = Store(tmp_path / "results.sqlite3")
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 4}")
    with pytest.raises(sqlite3.OperationalError, match=r"^database or disk is full$"):
        store.save_outcome("r" * 24, large_outcome(200_000))
    assert not store._db.in_transaction
    store._db.execute("PRAGMA max_page_count = 1073741823")
    store.save_outcome("r" * 24, large_outcome(10))
    assert store._db.execute("SELECT count(*) FROM test_outcomes").fetchone()[0] == 1
    assert store._db.execute("PRAGMA integrity_check").fetchall()[0][0] == "ok"
    store.close()


DISK_FILLS_UP = """
from pytest_amigo_metrics.store import Store

opened = Store.__init__

def __init__(self, *args, **kwargs):
    opened(self, *args, **kwargs)  # then room for the metrics, not for a large conversation
    pages = self._db.execute("PRAGMA page_count").fetchone()[0]
    self._db.execute(f"PRAGMA max_page_count = {pages + 16}")

Store.__init__ = __init__
"""

LONG_WINDED_AGENT = """
from agent import respond as polite

def respond(messages):
    return polite(messages) + " Let me add every detail." * 8000
"""


def test_a_full_disk_during_the_run_is_the_reason_the_test_gives(suite: Suite) -> None:
    suite.standard()
    suite.write("conftest.py", DISK_FILLS_UP)
    suite.write("long_winded.py", LONG_WINDED_AGENT)
    suite.unit_test(agent="long_winded:respond")
    result = suite.pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "simulation unit test 'password reset' ran, but its * not stored: results not "
            "stored in *results.sqlite3 (OperationalError: database or disk is full)*"
        ]
    )
    assert "cannot rollback" not in result.stdout.str() + result.stderr.str()
    assert suite.rows("SELECT * FROM conversations") == []
    suite.assert_store_intact()


@pytest.mark.parametrize("what", ["file", "folder"])
def test_the_store_commands_read_a_read_only_store(suite: Suite, what: str) -> None:
    """`runs`, `show`, `report` and `compare` only read: a store on a read-only mount, in a
    read-only folder or itself read-only serves them, and is left as it is."""
    stored_session(suite)
    stored_session(suite)
    first, second = (r["id"] for r in suite.rows("SELECT id FROM runs ORDER BY started_at"))
    before = suite.store.read_bytes()
    store = str(suite.store)
    report = suite.path / "report.json"
    with read_only(suite.store if what == "file" else suite.store.parent):
        listed = store_cli("runs", "--store", store)
        shown = store_cli("show", "latest", "--store", store)
        reported = store_cli("report", first, "--json", str(report), "--store", store)
        compared = store_cli("compare", first, second, "--store", store)
    for done in (listed, shown, reported, compared):
        assert done.returncode == 0, done.stderr
    assert first in listed.stdout and second in listed.stdout
    assert f"run {second}: started" in shown.stdout
    assert f"compared with run {first}" in compared.stdout
    assert json.loads(report.read_text())["run"]["id"] == first
    assert suite.store.read_bytes() == before
    suite.assert_store_intact()
