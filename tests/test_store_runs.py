"""Store format 2: each session's run and each test's outcome are recorded, enough to rebuild a
past run's report from the store alone; a format-1 store is migrated keeping every result."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from conftest import Suite
from pytest_amigo_metrics.store import SCHEMA_VERSION, Store

SESSION_RUN = "SELECT * FROM runs"
COLD = '["you are cold"]'


def cli(suite: Suite, *args: str) -> pytest.RunResult:
    return suite.pytester.run(sys.executable, "-m", "pytest_amigo_metrics", *args)


def two_tests(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(
        name="good",
        runs=2,
        expectations=[
            '{metric: Empathy Score, expect: ">= 7"}',
            "{metric: Outcome, expect: resolved}",
        ],
    )
    suite.unit_test(file="bad.amigo.yaml", name="cold", script=COLD)


def test_the_run_and_each_test_outcome_are_recorded(suite: Suite) -> None:
    two_tests(suite)
    result = suite.pytester.runpytest("--amigo-judge-retries", "1")
    result.assert_outcomes(passed=1, failed=1)
    (run,) = suite.rows(SESSION_RUN)
    assert run["id"] in result.stdout.str() and run["origin"] == "pytest"
    record = json.loads(run["record"])
    assert record["started_at"] < record["ended_at"]
    assert record["counts"] == {"passed": 1, "failed": 1, "error": 0}
    assert record["models"] == {
        "simulator": ["offline/simulator"],
        "judge": ["offline/judge"],
        "agent": ["python:agent:respond"],
    }
    assert record["options"]["judge_retries"] == "1" and record["options"]["backend"] == "local"
    assert "concurrency" not in record["options"], "only what changes results is recorded"

    rows = {r["nodeid"]: r for r in suite.rows("SELECT * FROM test_outcomes")}
    good, cold = rows["tests.amigo.yaml::good"], rows["bad.amigo.yaml::cold"]
    assert {r["run_id"] for r in rows.values()} == {run["id"]}
    assert (good["name"], good["file"], good["outcome"]) == ("good", "tests.amigo.yaml", "passed")
    assert (good["runs_passed"], good["runs"], good["runs_required"]) == (2, 2, 2)
    assert good["min_pass_rate"] == 1.0 and json.loads(good["models"])["judge"] == "offline/judge"
    assert json.loads(good["expectations"]) == [
        {
            "metric": "Empathy Score",
            "metric_id": json.loads(good["expectations"])[0]["metric_id"],
            "metric_version": 1,
            "expectation": ">= 7",
            "met": [True, True],
        },
        {
            "metric": "Outcome",
            "metric_id": json.loads(good["expectations"])[1]["metric_id"],
            "metric_version": 1,
            "expectation": "resolved",
            "met": [True, True],
        },
    ]
    assert cold["outcome"] == "failed" and cold["runs_passed"] == 0
    assert json.loads(cold["expectations"])[0]["met"] == [False]
    result_ids = {r["id"] for r in suite.rows("SELECT id FROM evaluation_results")}
    data = json.loads(good["outcome_data"])
    assert {m["result_id"] for r in data["runs"] for m in r["metrics"]} <= result_ids
    assert all("messages" not in r for r in data["runs"]), "transcripts live in conversations"


def test_a_past_run_is_rebuilt_from_the_store_as_it_was_reported(suite: Suite) -> None:
    two_tests(suite)
    result = suite.pytester.runpytest("--amigo-json", "live.json")
    result.assert_outcomes(passed=1, failed=1)
    suite.pytester.runpytest().assert_outcomes(passed=1, failed=1)  # a later run
    live = json.loads((suite.path / "live.json").read_text())
    store = Store(suite.store)
    run, origin = store.session_run(live["run"]["id"])
    outcomes = store.test_outcomes(run.id)
    assert origin == "pytest" and [o.nodeid for o in outcomes] == [
        "bad.amigo.yaml::cold",
        "tests.amigo.yaml::good",
    ]
    assert outcomes[1].runs[0].messages[0].content == "I forgot my password."
    written = cli(suite, "report", live["run"]["id"], "--json", "again.json")
    assert written.ret == 0, written.stderr.str()
    assert json.loads((suite.path / "again.json").read_text()) == live


def test_under_xdist_one_run_record_from_the_controller(suite: Suite) -> None:
    suite.standard()
    for index in range(4):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=4)
    (run,) = suite.rows(SESSION_RUN)
    assert json.loads(run["record"])["counts"] == {"passed": 4, "failed": 0, "error": 0}
    outcomes = suite.rows("SELECT run_id, nodeid FROM test_outcomes")
    assert len(outcomes) == 4 and {r["run_id"] for r in outcomes} == {run["id"]}


def test_a_session_that_never_recorded_its_end_is_listed_from_its_tests(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.pytester.runpytest().assert_outcomes(passed=1)
    db = sqlite3.connect(suite.store)
    db.execute("DELETE FROM runs")  # as if the controller had been killed
    db.commit()
    db.close()
    listed = cli(suite, "runs")
    assert listed.ret == 0
    listed.stdout.fnmatch_lines(["RUN ID *", "* (not recorded) *      1      0     0  "])


def test_collect_only_and_collection_errors_record_no_run(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.pytester.runpytest().assert_outcomes(passed=1)
    suite.pytester.runpytest("--collect-only")
    suite.write("bad.amigo.yaml", "simulation_unit_tests: [{name: x}]\n")
    suite.pytester.runpytest()
    assert len(suite.rows(SESSION_RUN)) == 1


# --- migration from format 1 ------------------------------------------------------------------

# The store's SCHEMA as format 1 wrote it (pytest-amigo-metrics before runs were recorded).
FORMAT_1_SCHEMA = """
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
OLD_TABLES = ("metrics", "metric_versions", "evaluation_results", "conversations")
OLD_RUN = "0123456789abcdef01234567"
EMPATHY_ID = "aaaaaaaaaaaaaaaaaaaaaaaa"


def format_1_store(path: Path) -> None:
    """A format-1 file as the old plugin left it: one run, two results, one conversation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(FORMAT_1_SCHEMA)
    stamp = "2026-11-01T10:00:00+00:00"
    db.execute(
        "INSERT INTO metrics VALUES (?, 'Old Metric', 'numerical', '[]', NULL, '{}', 1, 0, ?, ?)",
        (EMPATHY_ID, stamp, stamp),
    )
    value = json.dumps({"type": "numerical", "lower_bound": 1.0, "upper_bound": 10.0})
    db.execute(
        "INSERT INTO metric_versions VALUES (?, 1, 'old', ?, 'fp', ?)", (EMPATHY_ID, value, stamp)
    )
    messages = [{"id": "m" * 24, "interaction_id": "i" * 24, "role": "user", "content": "hi"}]
    db.execute(
        "INSERT INTO conversations VALUES (?, ?, ?, 'old.amigo.yaml::old', 0, 'max_turns', ?, ?, ?)",
        (
            "c" * 24,
            OLD_RUN,
            "u" * 24,
            json.dumps(messages),
            json.dumps({"simulator": "offline/simulator", "judge": "offline/judge"}),
            stamp,
        ),
    )
    for index, result in enumerate((7, 3)):
        source = {
            "type": "simulation",
            "simulation_unit_test_set_run_id": OLD_RUN,
            "unit_test_id": "u" * 24,
            "run_index": index,
            "references": ["m" * 24],
        }
        db.execute(
            "INSERT INTO evaluation_results VALUES (?, ?, 1, ?, 'why', ?, 'simulation', ?, ?, ?,"
            " 'offline/judge', ?, ?)",
            (
                f"{index:024d}",
                EMPATHY_ID,
                json.dumps(result),
                json.dumps(source),
                OLD_RUN,
                "u" * 24,
                index,
                f"2026-11-01T10:00:0{index}+00:00",
                stamp,
            ),
        )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


def dump(path: Path, tables: tuple[str, ...] = OLD_TABLES) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
    finally:
        db.close()


def test_a_format_1_store_is_migrated_keeping_every_result(suite: Suite) -> None:
    format_1_store(suite.store)
    before = dump(suite.store)
    suite.standard()
    suite.unit_test()
    result = suite.pytester.runpytest()
    result.assert_outcomes(passed=1)

    after = dump(suite.store)
    assert sqlite3.connect(suite.store).execute("PRAGMA user_version").fetchone()[0] == 2
    assert SCHEMA_VERSION == 2
    for table in OLD_TABLES:
        assert set(before[table]) <= set(after[table]), f"{table}: a format-1 row was lost"
    old = Store(suite.store).evaluation_results(simulation_unit_test_set_run_id=OLD_RUN)
    assert [r.result for r in old.metric_evaluation_results] == [7, 3]

    runs = {r["id"]: r for r in suite.rows(SESSION_RUN)}
    assert runs[OLD_RUN]["origin"] == "store format 1"
    old_record = json.loads(runs[OLD_RUN]["record"])
    assert old_record["started_at"].startswith("2026-11-01T10:00:00")
    assert old_record["models"] == {"judge": ["offline/judge"], "simulator": ["offline/simulator"]}
    assert len(runs) == 2, "the old run and this session's"

    listed = cli(suite, "runs")
    listed.stdout.fnmatch_lines(
        [f"{OLD_RUN}  2026-11-01 10:00:00 *[[]store format 1: results only]"]
    )
    shown = cli(suite, "show", OLD_RUN)
    assert shown.ret == pytest.ExitCode.USAGE_ERROR
    shown.stderr.fnmatch_lines(
        [f"error: run * was recorded by store format 1, which kept *`results --run {OLD_RUN}`*"]
    )
    kept = cli(suite, "results", "--run", OLD_RUN)
    assert kept.ret == 0, kept.stderr.str()
    kept.stdout.fnmatch_lines(
        [
            "CREATED (UTC) *",
            f"2026-11-01 10:00:00  {OLD_RUN}    0  Old Metric v1 * 7 * old.amigo.yaml::old",
            f"2026-11-01 10:00:01  {OLD_RUN}    1  Old Metric v1 * 3 * old.amigo.yaml::old",
        ]
    )
    baseline = suite.pytester.runpytest("--amigo-baseline", OLD_RUN)
    assert baseline.ret == pytest.ExitCode.USAGE_ERROR
    baseline.stderr.fnmatch_lines(["ERROR: --amigo-baseline *: that run was recorded by store*"])


def test_the_migration_happens_once_under_xdist(suite: Suite) -> None:
    format_1_store(suite.store)
    suite.standard()
    for index in range(3):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2").assert_outcomes(passed=3)
    origins = sorted(r["origin"] for r in suite.rows(SESSION_RUN))
    assert origins == ["pytest", "store format 1"]
    assert len(suite.rows("SELECT * FROM evaluation_results")) == 2 + 3


def test_validate_reads_a_format_1_store_and_leaves_it_as_it_is(suite: Suite) -> None:
    format_1_store(suite.store)
    before = suite.store.read_bytes()
    suite.standard()
    suite.unit_test()
    result = cli(suite, "validate")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert suite.store.read_bytes() == before
    assert sqlite3.connect(suite.store).execute("PRAGMA user_version").fetchone()[0] == 1


def test_the_store_commands_read_a_format_1_store_without_migrating_it(suite: Suite) -> None:
    """The commands only read: a format-1 store is listed as a migration would list it, and
    stays format 1 byte for byte (the next pytest session migrates it)."""
    format_1_store(suite.store)
    before = suite.store.read_bytes()
    listed = cli(suite, "runs", "--store", str(suite.store))
    assert listed.ret == 0, listed.stderr.str()
    listed.stdout.fnmatch_lines(
        [f"{OLD_RUN}  2026-11-01 10:00:00 *offline/judge*[[]store format 1: results only]"]
    )
    shown = cli(suite, "show", "latest", "--store", str(suite.store))
    assert shown.ret == pytest.ExitCode.USAGE_ERROR
    shown.stderr.fnmatch_lines(["error: *results.sqlite3 holds no earlier run"])
    assert suite.store.read_bytes() == before
    assert sqlite3.connect(suite.store).execute("PRAGMA user_version").fetchone()[0] == 1
