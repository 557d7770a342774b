"""The local results store (SQLite, WAL): metrics, versions, evaluation results, conversations,
and (format 2) the record of each session's run and each test's outcome in it.

Several pytest-xdist workers write to one file; every write is one short IMMEDIATE
transaction, and readers never block writers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import TypeAdapter

from ..ids import new_id
from ..records import (
    LOCAL_ORG,
    LOCAL_USER,
    MetricRecord,
    MetricVersionRecord,
    ResultsPage,
    SimulationEvaluationSource,
    Tag,
)
from ..report.model import OutcomeCounts, SessionRun
from ..suite.metrics import metric_id_for, version_fingerprint
from ..suite.spec import MetricSpec, MetricValue
from ..verdicts.outcomes import RunOutcome, TestOutcome
from .errors import MetricTypeChanged, RunNotFound, StoreError
from .file_format import (
    ORIGIN_PYTEST,
    SCHEMA,
    SCHEMA_2,
    SCHEMA_VERSION,
    execute_script,
    format_problem,
    migrate_from_1,
    run_row,
    unusable,
)
from .opening import check_before_writing, open_read_only, waiting_out_locks
from .results_query import Values, results_page

_METRIC_VALUE: TypeAdapter[MetricValue] = TypeAdapter(MetricValue)
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's transaction


@dataclass(frozen=True)
class Registration:
    metric_id: str
    version: int
    created: bool
    new_version: bool


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def expectations_of(outcome: TestOutcome) -> list[dict[str, object]]:
    """Per expectation: its metric and, per run, whether it was met (None: not evaluated)."""
    found: dict[tuple[str, str], dict[str, object]] = {}
    for run in outcome.runs:
        for m in run.metrics:
            found.setdefault(
                (m.metric, m.expectation),
                {
                    "metric": m.metric,
                    "metric_id": m.metric_id,
                    "metric_version": m.version,
                    "expectation": m.expectation,
                    "met": [None] * len(outcome.runs),
                },
            )
    for position, run in enumerate(outcome.runs):
        for m in run.metrics:
            met = found[(m.metric, m.expectation)]["met"]
            assert isinstance(met, list)
            met[position] = m.passed
    return list(found.values())


class Store:
    def __init__(
        self, path: Path | str, busy_timeout: float = BUSY_TIMEOUT, *, read_only: bool = False
    ) -> None:
        self.path = path = Path(path)
        self.busy_timeout = busy_timeout
        # The store commands and `validate`: read what is there, never create, migrate or write
        # (a format-1 store is read as it is).
        self.read_only = read_only
        if path.is_dir():
            raise StoreError(
                f"the results store {path} is a folder; point --amigo-store at a file in it "
                f"(e.g. {path / 'results.sqlite3'})"
            )
        if read_only:
            self._db = open_read_only(path, busy_timeout)
            return
        if path.exists():
            # Checked before anything writes: a file that is refused is left byte for byte.
            check_before_writing(path, busy_timeout)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"the results store {path} cannot be created or opened ({exc}); point "
                "--amigo-store at a writable file"
            ) from None
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(unusable(path, exc, busy_timeout)) from None
        except StoreError:
            self._db.close()
            raise

    def _open(self) -> None:
        # Switching a new file to WAL while other processes open it can fail with "locked"
        # without waiting on the busy timeout, so that step waits here.
        waiting_out_locks(lambda: self._db.execute("PRAGMA journal_mode=WAL"), self.busy_timeout)
        # In WAL mode NORMAL never corrupts the file; a power cut may lose the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._create_or_check()

    def _create_or_check(self) -> None:
        """Create the tables and stamp the format in one transaction, so that another process
        (an xdist worker) never sees tables without their format. Stamping an existing file
        again is the check that it can be written to, before any conversation starts."""
        with self._write() as db:
            problem = format_problem(db)
            if problem:
                raise StoreError(f"{self.path} {problem}")
            if not db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                execute_script(db, SCHEMA + SCHEMA_2)
            elif db.execute("PRAGMA user_version").fetchone()[0] == 1:
                migrate_from_1(db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction. On an error it is rolled back, unless SQLite has done so
        already (a full disk, an I/O error): the error raised is always the first one."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                # If the rollback fails too, the error that stopped the transaction is the one
                # to report.
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    def stored_type(self, name: str) -> str | None:
        row = self._db.execute(
            "SELECT metric_value_type FROM metrics WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else str(row[0])

    def register(self, spec: MetricSpec) -> Registration:
        """Create the metric, or add a version when its description or value specifiers changed.
        Notes, tags and services are updated in place. Idempotent; safe across processes."""
        declared = spec.metric_value.type
        fingerprint = version_fingerprint(spec)
        stamp = now()
        with self._write() as db:
            row = db.execute("SELECT * FROM metrics WHERE name = ?", (spec.name,)).fetchone()
            if row is not None and row["metric_value_type"] != declared:
                raise MetricTypeChanged(spec.name, row["metric_value_type"], declared)
            metric_id = row["id"] if row else metric_id_for(spec.name)
            details = (
                json.dumps(spec.applied_to_services),
                spec.additional_notes,
                json.dumps(spec.tags, sort_keys=True),
            )
            if row is None:
                db.execute(
                    "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, 1, 0, ?, ?)",
                    (metric_id, spec.name, declared, *details, stamp, stamp),
                )
                self._add_version(metric_id, 1, spec, fingerprint, stamp)
                return Registration(metric_id, 1, created=True, new_version=False)
            version = int(row["latest_version"])
            latest = db.execute(
                "SELECT fingerprint FROM metric_versions WHERE metric_id = ? AND version = ?",
                (metric_id, version),
            ).fetchone()
            changed = latest is None or latest["fingerprint"] != fingerprint
            if changed:
                version += 1
                self._add_version(metric_id, version, spec, fingerprint, stamp)
            if changed or details != (
                row["applied_to_services"],
                row["additional_notes"],
                row["tags"],
            ):
                db.execute(
                    "UPDATE metrics SET applied_to_services = ?, additional_notes = ?, tags = ?,"
                    " latest_version = ?, updated_at = ? WHERE id = ?",
                    (*details, version, stamp, metric_id),
                )
            return Registration(metric_id, version, created=False, new_version=changed)

    def _add_version(
        self, metric_id: str, version: int, spec: MetricSpec, fingerprint: str, stamp: str
    ) -> None:
        self._db.execute(
            "INSERT INTO metric_versions VALUES (?, ?, ?, ?, ?, ?)",
            (
                metric_id,
                version,
                spec.description,
                json.dumps(spec.metric_value.model_dump()),
                fingerprint,
                stamp,
            ),
        )

    def save_outcome(self, run_id: str, outcome: TestOutcome) -> None:
        """A reported test: its conversations (with the models of each role), their results and
        the test's outcome, in one transaction: all of it is stored, or none of it."""
        try:
            with self._write() as db:
                for run in outcome.runs:
                    self._insert_run(
                        db, run_id, outcome.unit_test_id, outcome.nodeid, run, outcome.models
                    )
                self._insert_test(db, run_id, outcome)
        except BaseException:
            for run in outcome.runs:  # no id of a result that was not stored
                for metric in run.metrics:
                    metric.result_id = None
            raise

    @staticmethod
    def _insert_run(
        db: sqlite3.Connection,
        run_id: str,
        unit_test_id: str,
        nodeid: str,
        run: RunOutcome,
        models: dict[str, str],
    ) -> None:
        stamp = now()
        if run.messages:
            db.execute(
                "INSERT OR REPLACE INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.conversation_id,
                    run_id,
                    unit_test_id,
                    nodeid,
                    run.run_index,
                    run.end_reason,
                    json.dumps([m.model_dump() for m in run.messages]),
                    json.dumps(models),
                    stamp,
                ),
            )
        verdicts: dict[tuple[str, int | None], str] = {}  # one result per verdict
        for metric in run.metrics:
            key = (metric.metric_id, metric.up_to_turn)
            if key in verdicts:  # another expectation on the same verdict
                metric.result_id = verdicts[key]
                continue
            metric.result_id = verdicts[key] = new_id()
            source = SimulationEvaluationSource(
                simulation_unit_test_set_run_id=run_id,
                unit_test_id=unit_test_id,
                run_index=run.run_index,
                references=metric.references,
            )
            db.execute(
                "INSERT INTO evaluation_results VALUES"
                " (?, ?, ?, ?, ?, ?, 'simulation', ?, ?, ?, ?, ?, ?)",
                (
                    metric.result_id,
                    metric.metric_id,
                    metric.version,
                    json.dumps(metric.value),
                    metric.justification,
                    source.model_dump_json(),
                    run_id,
                    unit_test_id,
                    run.run_index,
                    metric.judge_model,
                    stamp,
                    stamp,
                ),
            )

    def metric_names(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM metrics ORDER BY name")]

    def metric_names_by_id(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._db.execute("SELECT id, name FROM metrics")}

    def test_nodeids(self) -> dict[str, str]:
        """Each unit test id the store has conversations of, with the node id it stands for."""
        rows = self._db.execute("SELECT DISTINCT unit_test_id, nodeid FROM conversations")
        return {r[0]: r[1] for r in rows}

    def has_results_of_test(self, unit_test_id: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM evaluation_results WHERE unit_test_id = ? LIMIT 1", (unit_test_id,)
        ).fetchone()
        return found is not None

    def metric(self, name: str) -> MetricRecord | None:
        row = self._db.execute("SELECT * FROM metrics WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        tags = json.loads(row["tags"])
        return MetricRecord(
            id=row["id"],
            org_id=LOCAL_ORG,
            name=row["name"],
            applied_to_services=json.loads(row["applied_to_services"]),
            additional_notes=row["additional_notes"],
            tags=[Tag(key=k, value=v) for k, v in tags.items()],
            creator=LOCAL_USER,
            updated_by=LOCAL_USER,
            metric_value_type=row["metric_value_type"],
            latest_version=row["latest_version"],
            is_deleted=bool(row["is_deleted"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def versions(self, metric_id: str) -> list[MetricVersionRecord]:
        rows = self._db.execute(
            "SELECT * FROM metric_versions WHERE metric_id = ? ORDER BY version", (metric_id,)
        ).fetchall()
        return [
            MetricVersionRecord(
                metric_id=r["metric_id"],
                version=r["version"],
                description=r["description"],
                metric_value=_METRIC_VALUE.validate_json(r["metric_value"]),
                creator=LOCAL_USER,
                created_at=r["created_at"],
            )
            for r in rows
        ]

    def evaluation_results(
        self,
        *,
        simulation_unit_test_set_run_id: Values | None = None,
        metric_id_and_version: Values | None = None,
        unit_test_id: str | None = None,
        timestamp_after: datetime | str | None = None,
        timestamp_before: datetime | str | None = None,
        sort_by: Values = "+created_at",
        limit: int = 500,
        continuation_token: int = 0,
    ) -> ResultsPage:
        """A page of simulation results as GetMetricEvaluationResults pages them: see
        results_query.results_page."""
        return results_page(
            self._db,
            simulation_unit_test_set_run_id=simulation_unit_test_set_run_id,
            metric_id_and_version=metric_id_and_version,
            unit_test_id=unit_test_id,
            timestamp_after=timestamp_after,
            timestamp_before=timestamp_before,
            sort_by=sort_by,
            limit=limit,
            continuation_token=continuation_token,
        )

    def conversation(self, conversation_id: str) -> list[dict[str, str]]:
        row = self._db.execute(
            "SELECT messages FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return [] if row is None else list(json.loads(row[0]))

    # --- runs and test outcomes (format 2) ------------------------------------------------------

    @staticmethod
    def _insert_test(db: sqlite3.Connection, run_id: str, outcome: TestOutcome) -> None:
        data = outcome.model_dump_json(exclude={"runs": {"__all__": {"messages"}}})
        db.execute(
            "INSERT OR REPLACE INTO test_outcomes VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                outcome.nodeid,
                outcome.name,
                outcome.file,
                outcome.unit_test_id,
                outcome.status,
                outcome.passed_runs,
                len(outcome.runs),
                outcome.required_runs,
                outcome.min_pass_rate,
                json.dumps(outcome.models),
                json.dumps(expectations_of(outcome)),
                data,
                now(),
            ),
        )

    def save_session_run(self, run: SessionRun) -> None:
        """The session's run record (written by the process that owns the session)."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?)", run_row(run, ORIGIN_PYTEST)
            )

    def session_runs(self) -> list[tuple[SessionRun, str]]:
        """Every recorded run, oldest first, with its origin; a run whose session never
        recorded its end (killed) is listed from its tests, without an end."""
        recorded = [
            (SessionRun.model_validate_json(r["record"]), r["origin"])
            for r in self._db.execute("SELECT record, origin FROM runs ORDER BY started_at, rowid")
        ]
        known = {run.id for run, _ in recorded}
        unfinished = self._db.execute(
            "SELECT run_id, min(created_at) AS started,"
            " sum(outcome = 'passed') AS passed, sum(outcome = 'failed') AS failed,"
            " sum(outcome = 'error') AS error FROM test_outcomes GROUP BY run_id"
        ).fetchall()
        for row in unfinished:
            if row["run_id"] not in known:
                counts = OutcomeCounts(**{k: row[k] for k in ("passed", "failed", "error")})
                run = SessionRun(id=row["run_id"], started_at=row["started"], counts=counts)
                recorded.append((run, ORIGIN_PYTEST))
        return sorted(recorded, key=lambda item: item[0].started_at)

    def session_run(self, ref: str, *, exclude: str | None = None) -> tuple[SessionRun, str]:
        """A run by id, or `latest`: the newest run a pytest session recorded to its end (not
        `exclude`, this session's own; not one interrupted, killed or still running)."""
        runs = self.session_runs()
        if ref == "latest":
            found = [
                r
                for r in runs
                if r[1] == ORIGIN_PYTEST
                and r[0].id != exclude
                and r[0].ended_at is not None
                and not r[0].interrupted
            ]
            if not found:
                raise RunNotFound(f"{self.path} holds no earlier run")
            return found[-1]
        for item in runs:
            if item[0].id == ref:
                return item
        raise RunNotFound(f"{self.path} holds no run {ref!r}")

    def test_outcomes(self, run_id: str) -> list[TestOutcome]:
        """The tests of a past run as they were reported, in the order they were, each with its
        conversations."""
        rows = self._db.execute(
            "SELECT outcome_data FROM test_outcomes WHERE run_id = ? ORDER BY created_at, rowid",
            (run_id,),
        ).fetchall()
        outcomes = []
        for row in rows:
            data = json.loads(row[0])
            for run in data["runs"]:
                run["messages"] = self.conversation(run["conversation_id"])
            outcomes.append(TestOutcome.model_validate(data))
        return outcomes
