"""The store's file format: its tables, the checks of a file found on disk, the migration from
format 1, and what SQLite's refusals mean for a user."""

from __future__ import annotations

import functools
import json
import sqlite3
from pathlib import Path

from ..report.model import SessionRun

SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, metric_value_type TEXT NOT NULL,
    applied_to_services TEXT NOT NULL, additional_notes TEXT, tags TEXT NOT NULL,
    latest_version INTEGER NOT NULL, is_deleted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metric_versions (
    metric_id TEXT NOT NULL REFERENCES metrics(id), version INTEGER NOT NULL,
    description TEXT NOT NULL, metric_value TEXT NOT NULL, fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (metric_id, version));
CREATE TABLE IF NOT EXISTS evaluation_results (
    id TEXT PRIMARY KEY, metric_id TEXT NOT NULL, metric_version INTEGER NOT NULL,
    result TEXT NOT NULL, justification TEXT NOT NULL, source TEXT NOT NULL,
    source_type TEXT NOT NULL, simulation_unit_test_set_run_id TEXT, unit_test_id TEXT,
    run_index INTEGER, judge_model TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS results_by_run
    ON evaluation_results (simulation_unit_test_set_run_id, created_at);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, simulation_unit_test_set_run_id TEXT NOT NULL,
    unit_test_id TEXT NOT NULL, nodeid TEXT NOT NULL, run_index INTEGER NOT NULL,
    end_reason TEXT, messages TEXT NOT NULL, models TEXT NOT NULL, created_at TEXT NOT NULL);
"""
# Added by format 2. `record` is a SessionRun and `outcome_data` a TestOutcome without its
# messages (they are in `conversations`), as JSON: enough to rebuild any past run's report.
SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT, origin TEXT NOT NULL,
    record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
CREATE TABLE IF NOT EXISTS test_outcomes (
    run_id TEXT NOT NULL, nodeid TEXT NOT NULL, name TEXT NOT NULL, file TEXT NOT NULL,
    unit_test_id TEXT NOT NULL, outcome TEXT NOT NULL, runs_passed INTEGER NOT NULL,
    runs INTEGER NOT NULL, runs_required INTEGER NOT NULL, min_pass_rate REAL NOT NULL,
    models TEXT NOT NULL, expectations TEXT NOT NULL, outcome_data TEXT NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (run_id, nodeid));
"""

SCHEMA_VERSION = 2
ORIGIN_PYTEST = "pytest"
ORIGIN_FORMAT_1 = "store format 1"  # a run recorded before runs were: results only


# The tables every format has had: a file with neither is another program's database.
CORE_TABLES = frozenset({"metrics", "evaluation_results"})


def format_problem(db: sqlite3.Connection) -> str | None:
    """Why the file cannot serve as a store of this format (None when it can): not a store at
    all (another program's database), another format than this one or format 1 (which is
    migrated, or only read), or tables or columns missing. Reads only: the caller may hold a
    read-only connection."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if not db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        return None  # an empty database: a new store
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    # A store of this format (maybe damaged) has some of its tables; of another format (format
    # 1 too, which is migrated), at least the tables every format has had.
    if version == SCHEMA_VERSION:
        is_store = bool(tables & set(_expected_columns()))
    else:
        is_store = tables >= CORE_TABLES
    if not is_store:
        return _not_a_store(tables)
    if version == 1:
        return None
    if version != SCHEMA_VERSION:
        return (
            f"holds results in store format {version}; this version of pytest-amigo-metrics "
            f"reads format {SCHEMA_VERSION}. The file is left as it is: point --amigo-store at "
            "a new file, or use the plugin version that wrote it."
        )
    damage = schema_damage(db)
    if damage:
        return (
            f"is damaged: {damage}. It is left as it is: point --amigo-store at a new file "
            "(or restore it from a copy)"
        )
    return None


def _not_a_store(tables: set[str]) -> str:
    names = sorted(t for t in tables if not t.startswith("sqlite_"))  # not SQLite's own
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    held = f"its tables: {shown}" if names else "no tables, only indexes, views or triggers"
    return (
        f"is not a pytest-amigo-metrics results store: it is another SQLite database ({held}). "
        "The file is left as it is: point --amigo-store at another path, where a new store is "
        "created (by default .amigo-metrics/results.sqlite3 under the rootdir)"
    )


def unusable(
    path: Path, exc: sqlite3.DatabaseError, busy_timeout: float, *, writing: bool = True
) -> str:
    """What is wrong with a store that SQLite refused, and what to do about it (`writing`:
    whether it was opened to be written, or only read)."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            f"the results store {path} is locked by another process for longer than "
            f"{busy_timeout:g} s; wait for that process to end, or raise --amigo-store-timeout"
        )
    if "readonly" in text or "read-only" in text:
        return (
            f"the results store {path} is read-only ({text}); make the file and its folder "
            "writable, or point --amigo-store at a writable file"
        )
    if "unable to open" in text and not writing:
        return (
            f"the results store {path} cannot be opened for reading ({text}); check that the "
            "file and its folder can be read"
        )
    if "unable to open" in text:
        return (
            f"the results store {path} cannot be opened for writing ({text}); its folder must "
            f"be writable too (SQLite keeps {path.name}-wal and {path.name}-shm beside it), or "
            "point --amigo-store at a writable file"
        )
    if "malformed" in text or "disk image" in text:
        return (
            f"the results store {path} is damaged ({text}); recover what it holds with "
            f"`sqlite3 {path} .recover | sqlite3 {path}.recovered` and point --amigo-store at "
            "the copy, or move the file away to start a new store"
        )
    return f"{path} is not a usable SQLite store ({text})"


def _columns(db: sqlite3.Connection) -> dict[str, set[str]]:
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {n: {r[1] for r in db.execute(f'PRAGMA table_info("{n}")')} for n in names}


@functools.cache
def _expected_columns() -> dict[str, set[str]]:
    memory = sqlite3.connect(":memory:")
    memory.executescript(SCHEMA + SCHEMA_2)
    try:
        return _columns(memory)
    finally:
        memory.close()


def schema_damage(db: sqlite3.Connection) -> str | None:
    """Tables or columns of this format that the file lacks, or None when it has them all."""
    found = _columns(db)
    missing = []
    for table, columns in _expected_columns().items():
        if table not in found:
            missing.append(f"table {table} is missing")
        elif lacking := sorted(columns - found[table]):
            missing.append(f"table {table} lacks {', '.join(lacking)}")
    return "; ".join(missing) or None


def execute_script(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def run_row(run: SessionRun, origin: str) -> tuple[str, str, str | None, str, str]:
    """A run record as a row of the `runs` table."""
    return (
        run.id,
        run.started_at.isoformat(),
        run.ended_at.isoformat() if run.ended_at else None,
        origin,
        run.model_dump_json(),
    )


def migrate_from_1(db: sqlite3.Connection) -> None:
    """Format 1 -> 2: every table and row stays; the new tables are added, and each run
    found in the results gets a run record (no verdicts: format 1 never kept them)."""
    execute_script(db, SCHEMA_2)
    for run in legacy_runs(db):
        db.execute(
            "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?)", run_row(run, ORIGIN_FORMAT_1)
        )
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def read_in_place(db: sqlite3.Connection) -> None:
    """A reader's view of an empty or format-1 file as a store of this format, without writing
    it: the tables the file lacks are TEMP tables (in memory, gone with the connection), with
    the run records the migration from format 1 would add."""
    if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    db.execute("PRAGMA temp_store = MEMORY")
    empty = not db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    script = (SCHEMA if empty else "") + SCHEMA_2
    execute_script(db, script.replace("CREATE TABLE", "CREATE TEMP TABLE"))
    if not empty:
        for run in legacy_runs(db):
            db.execute(
                "INSERT INTO temp.runs VALUES (?, ?, ?, ?, ?)", run_row(run, ORIGIN_FORMAT_1)
            )


def legacy_runs(db: sqlite3.Connection) -> list[SessionRun]:
    """The runs a format-1 store holds results and conversations of, with their models."""
    rows = db.execute(
        "SELECT run_id, min(created_at) AS started, max(created_at) AS ended FROM ("
        " SELECT simulation_unit_test_set_run_id AS run_id, created_at FROM evaluation_results"
        " WHERE simulation_unit_test_set_run_id IS NOT NULL UNION ALL"
        " SELECT simulation_unit_test_set_run_id, created_at FROM conversations)"
        " GROUP BY run_id ORDER BY started"
    ).fetchall()
    models: dict[str, dict[str, set[str]]] = {}
    for row in db.execute("SELECT simulation_unit_test_set_run_id, models FROM conversations"):
        for role, model in json.loads(row[1]).items():
            models.setdefault(row[0], {}).setdefault(role, set()).add(model)
    return [
        SessionRun(
            id=row["run_id"],
            started_at=row["started"],
            ended_at=row["ended"],
            options={"recorded_by": ORIGIN_FORMAT_1},
            models={role: sorted(m) for role, m in models.get(row["run_id"], {}).items()},
        )
        for row in rows
    ]
