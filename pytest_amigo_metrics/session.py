"""The plugin's per-pytest-session state and the plain work the hooks hand over to."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

from .errors import AmigoRunError, SpecProblem, bounded_repr
from .ids import stable_id
from .models import llm, offline_models
from .models.llm import ModelEndpoint
from .models.recording import CURRENT_RECORDING, TestRecording
from .once import once_per_run
from .roles import called_models, models_for
from .runs.capture import OUTPUT_OWNER, OutputRouter
from .runs.execution import Check, Judge, RunPlan, run_all
from .runs.limits import Limits, LimitSettings
from .runs.progress import Progress
from .runs.scheduler import Scheduler
from .runs.simulator import SimulatedUser
from .settings import Role, Settings
from .store import MetricTypeChanged, Registration, Store, StoreError
from .store.file_format import unusable
from .suite.catalog import Blocked, Catalog
from .suite.discovery import find_suite_files, ignored_by_pytest, matches, may_declare_metrics
from .suite.expectations import BoundExpectation
from .suite.loader import LoadedSuite, LocatedMetric
from .suite.metrics import MetricRegistry
from .suite.spec import UnitTest
from .targets import build_agent
from .verdicts.judge import ActiveMetric, LocalJudge
from .verdicts.outcomes import TestOutcome, lost_outcome

if TYPE_CHECKING:
    from .amigo.client import AmigoAPI

T = TypeVar("T")


@dataclass
class AmigoSession:
    settings: Settings
    run_id: str
    rootpath: Path
    catalog: Catalog = field(init=False)
    outcomes: list[TestOutcome] = field(default_factory=list)
    registrations: dict[str, Registration] = field(default_factory=dict)
    config: pytest.Config | None = None  # for the Amigo API: ini options and the transport hook
    _store: Store | None = None
    read_only: bool = False  # `validate`: the store is read, never created, migrated or written
    _amigo: AmigoAPI | None = None
    # One loop for the whole session: litellm's async clients and logging worker bind to it.
    _scheduler: Scheduler | None = None
    _poll: Callable[[], None] | None = None  # under xdist: start newly queued items
    output: OutputRouter = field(default_factory=OutputRouter)
    progress: Progress = field(default_factory=lambda: Progress())
    show: Callable[[str], None] | None = None  # the terminal, for progress lines
    terminal: Callable[[str], None] | None = None  # the terminal, whatever the verbosity
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def _tick(self, waited: float) -> None:
        if self.show is not None:
            self.show(self.progress.line(waited, self.scheduler.limits.paused()))

    def __post_init__(self) -> None:
        self.catalog = Catalog(self.rootpath, check=self._type_change)
        offline_models.set_latency(self.settings.offline_latency)

    @property
    def registry(self) -> MetricRegistry:
        return self.catalog.registry

    def discover(self, config: pytest.Config) -> None:
        """Load every suite file of the project that may declare metrics, so each run sees
        the same metrics whatever pytest collects."""
        ignored = ignored_by_pytest(config)
        found = find_suite_files(config, self.settings.file_patterns, ignored)
        for path in found:
            if may_declare_metrics(path):
                self.catalog.load(path)

    def expect_model_calls(self, tests: Sequence[UnitTest]) -> None:
        """Once pytest collects a test that calls a model through litellm, import litellm in
        the background (2-3 s), overlapping the rest of collection. A session whose collected
        tests call none (scripted users, the Amigo judge, Amigo targets) never imports it,
        whatever the project's other suite files hold."""
        if self.config is None or self.config.option.collectonly:
            return
        if not any(called_models(self.settings, test) for test in tests):
            return
        if self.settings.record_mode == "replay":
            llm.prepare_response_formats()  # on this thread, before any agent runs
        else:
            llm.start_loading_litellm()

    @property
    def store(self) -> Store:
        if self._store is None:
            try:
                self._store = Store(
                    self.settings.store_path, self.settings.store_timeout, read_only=self.read_only
                )
            except StoreError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._store

    def check_store(self) -> None:
        """Open an existing store up front, so an unusable one stops the session at once."""
        if self.settings.store_path.exists():
            _ = self.store

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            limits = Limits(
                LimitSettings(
                    model_in_flight=self.settings.model_concurrency,
                    model_per_minute=self.settings.model_rpm,
                    conversations=self.settings.concurrency,
                    call_timeout=self.settings.call_timeout or None,
                    turn_timeout=self.settings.turn_timeout or None,
                    conversation_timeout=self.settings.conversation_timeout or None,
                ),
                shared_scope=self.run_id if self._workers() > 1 else None,
            )
            self._scheduler = Scheduler(
                limits,
                threads=self.settings.concurrency,
                xdist_worker=hasattr(self.config, "workerinput"),
            )
        return self._scheduler

    def _workers(self) -> int:
        """How many xdist workers run the session (1 without xdist)."""
        worker_input = getattr(self.config, "workerinput", None) or {}
        return int(worker_input.get("workercount", 1))

    def _run_async(self, work: Coroutine[Any, Any, T]) -> T:
        return self.scheduler.run(work)

    def amigo(self) -> AmigoAPI:
        """The session's Amigo API connection, made at first use (AmigoRunError without
        credentials)."""
        if self._amigo is None:
            from .amigo.client import connect

            assert self.config is not None, "the plugin gives the session its config"
            self._amigo = connect(self.config, self.settings)
        return self._amigo

    def close(self) -> None:
        writing = self._scheduler is not None and self._scheduler.executor.abandoned > 0
        self.output.close(agents_still_writing=writing)
        if self._scheduler is not None:
            self._scheduler.stop()  # before closing the Amigo client runs the loop again
        if self._amigo is not None:
            self._run_async(self._amigo.aclose())
            self._amigo = None
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def _type_change(self, located: LocatedMetric) -> SpecProblem | None:
        # With the amigo backend the organization holds the metric: its sync checks the type.
        if self.settings.backend != "local" or not self.settings.store_path.exists():
            return None
        spec = located.spec
        name, declared = spec.name, spec.metric_value.type
        stored = self.store.stored_type(name)
        if stored is None or stored == declared:
            return None
        return SpecProblem(
            located.path,
            located.line,
            located.field("metric_value.type"),
            f"metric {name!r} is stored as {stored}; a metric's value type never changes",
            f"declare a new metric with a new name (e.g. '{name} ({declared})') and point the "
            f"tests at it; results of the {stored} metric stay in {self.settings.store_path}",
        )

    def binding_problems(self, suite: LoadedSuite) -> list[SpecProblem]:
        """What binding the file's tests would report (the file is an error already)."""
        problems: list[SpecProblem] = []
        for test in suite.tests:
            try:
                problems += self.resolve(test, suite.path)[1]
            except Blocked:  # the metric's own file reports its errors
                continue
        return problems

    def resolve(
        self, test: UnitTest, path: Path
    ) -> tuple[list[BoundExpectation], list[SpecProblem]]:
        """Bind each expectation to its metric, with every problem found (Blocked when a
        metric it uses is declared with errors)."""
        checks, problems = self.catalog.bind(test, path)
        if self.settings.judge == "amigo" and test.target.amigo is None:
            problems.insert(
                0,
                SpecProblem(
                    path,
                    test.line,
                    f"simulation_unit_tests[{bounded_repr(test.name)}].target",
                    f"the Amigo judge evaluates conversations held by Amigo, and this test talks "
                    f"to {test.target.describe()}",
                    "give the test an `amigo: {service_id: ...}` target, or run it with "
                    "--amigo-judge local",
                ),
            )
        return checks, problems

    def register_metrics(self) -> dict[str, SpecProblem]:
        """Store every declared metric once; new versions where definitions changed. With the
        amigo backend, in the organization; the problems found there, by metric name."""
        if self.settings.backend == "amigo":
            return self._sync_to_amigo()
        registered = once_per_run(self.run_id, "local-registration", self._register_locally)
        self.registrations.update(
            {name: Registration(**fields) for name, fields in registered.items()}
        )
        return {}

    def _register_locally(self) -> dict[str, dict[str, Any]]:
        """Every metric of the project, once per session (the first xdist worker does it for
        all), each against the latest stored version under the store's write lock."""
        registered: dict[str, dict[str, Any]] = {}
        for name, located in self.registry.metrics.items():
            try:
                registered[name] = asdict(self.store.register(located.spec))
            except MetricTypeChanged as exc:  # changed by another process since collection
                problem = SpecProblem(
                    located.path, located.line, located.field("metric_value.type"), str(exc)
                )
                raise pytest.UsageError(problem.format(self.rootpath)) from None
            except sqlite3.DatabaseError as exc:  # locked, full or damaged since it was opened
                raise pytest.UsageError(
                    unusable(self.store.path, exc, self.store.busy_timeout)
                ) from None
        return registered

    def _sync_to_amigo(self) -> dict[str, SpecProblem]:
        from .amigo.sync import read_report, sync_report

        specs = [located.spec for located in self.registry.metrics.values()]
        try:
            report = once_per_run(
                self.run_id, "amigo-sync", lambda: self._run_async(sync_report(self.amigo(), specs))
            )
        except AmigoRunError as exc:
            raise pytest.UsageError(f"syncing metrics to the Amigo organization: {exc}") from None
        registrations, problems = read_report(report, self.registry)
        self.registrations.update(registrations)
        return problems

    def active(self, bound: BoundExpectation) -> Check:
        """The expectation against the metric's registered id and version."""
        spec = bound.metric
        registration = self.registrations.get(spec.name)
        if registration is None and self.settings.backend == "amigo":
            raise AmigoRunError(f"metric {spec.name!r} was not synced to the Amigo organization")
        registration = registration or self.store.register(spec)
        metric = ActiveMetric(registration.metric_id, spec.name, registration.version, spec)
        return Check(metric, bound.expectation, bound.up_to_turn)

    def judge_for(self, models: dict[Role, ModelEndpoint], samples: int = 1) -> Judge:
        if self.settings.judge == "amigo":
            from .amigo.judge import AmigoJudge

            return AmigoJudge(self.amigo())  # one evaluation per metric and run: no samples
        return LocalJudge(
            models["judge"], self.settings.judge_retries, self.settings.retry, samples
        )

    def runs_of(self, test: UnitTest) -> int:
        """The test's runs: --amigo-runs when given, else its YAML's."""
        return self.settings.runs or test.runs

    def schedule(
        self, tests: Sequence[ScheduledTest], queued: Callable[[], list[Any]] | None = None
    ) -> None:
        """Once the items to run are known: start all their runs; under xdist, those of the
        items queued to this worker, and more as they arrive."""
        capture = self.config.pluginmanager.get_plugin("capturemanager") if self.config else None
        self.output.activate(capture)
        if queued is None:
            for test in tests:
                self.start(test)
            return
        wanted = {id(t) for t in tests}

        def poll() -> None:
            for test in queued():
                if id(test) in wanted:
                    self.start(test)

        self._poll = poll

    def lost(self, nodeid: str, why: str) -> None:
        """A simulation test that never reported (its xdist worker crashed): an error in the
        summary and the store, so it does not vanish."""
        file_name = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
        if not matches(file_name, self.settings.file_patterns):
            return
        outcome = lost_outcome(nodeid, why, self.run_id)
        self.save(outcome)
        self.outcomes.append(outcome)

    def start(self, test: ScheduledTest) -> None:
        """Start every run of the test on the session's loop (once)."""
        if not self.scheduler.started(test.nodeid):
            self.progress.total += self.runs_of(test.unit_test)
            self.scheduler.start(test.nodeid, lambda: self._run_recorded(test))

    def outcome_of(self, test: ScheduledTest) -> TestOutcome:
        """Wait for the test's runs (the loop drives every other test in flight meanwhile),
        then store its results: a test that is never reported (-x) stores nothing."""
        self.start(test)
        with self.output.waiting_for(test.nodeid):
            outcome: TestOutcome = self.scheduler.wait(test.nodeid, self._poll, self._tick)
        self.save(outcome)
        return outcome

    def save(self, outcome: TestOutcome) -> None:
        """Store the test's results; a store that fails (disk full, read-only, ...) is said
        on the outcome, which the reports count."""
        try:
            self.store.save_outcome(self.run_id, outcome)
        except (sqlite3.Error, OSError, pytest.UsageError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            outcome.store_error = f"results not stored in {self.settings.store_path} ({reason})"

    async def _run_recorded(self, test: ScheduledTest) -> TestOutcome:
        """The test's runs, recorded or replayed as --amigo-record-mode says."""
        mode = self.settings.record_mode
        if mode == "off":
            return await self._run_test(test)
        recorded = TestRecording.open(mode, test.path, test.unit_test.name, nodeid=test.nodeid)
        CURRENT_RECORDING.set(recorded)  # this task's context: its runs and model calls
        outcome = await self._run_test(test)
        outcome.recording = recorded.summary()
        try:
            recorded.write()
        except OSError as exc:
            outcome.recording_error = f"recording not written to {recorded.path} ({exc})"
        return outcome

    async def _run_test(self, test: ScheduledTest) -> TestOutcome:
        spec, nodeid = test.unit_test, test.nodeid
        OUTPUT_OWNER.set(nodeid)  # what its agent prints or logs is this test's
        models = models_for(self.settings, spec)
        agent = build_agent(
            spec.target,
            model=models.get("agent"),
            search_paths=[test.path.parent, self.rootpath],
            retry=self.settings.retry,
            amigo=self.amigo,
        )
        plan = RunPlan(
            simulator=SimulatedUser(
                spec.persona, spec.scenario, spec.script, models["simulator"], self.settings.retry
            ),
            agent=agent,
            checks=[self.active(c) for c in test.checks],
            judge=self.judge_for(models, self.settings.judge_samples or spec.judge_samples),
            max_turns=spec.max_turns,
            runs=self.runs_of(spec),
        )
        reported = {
            "simulator": models["simulator"].label,
            "judge": plan.judge.name,
            "agent": agent.name,
        }
        runs = await run_all(plan, lambda run: self.progress.ended(run))
        return TestOutcome(
            nodeid=nodeid,
            name=spec.name,
            unit_test_id=stable_id("unit_test", nodeid),
            simulation_unit_test_set_run_id=self.run_id,
            min_pass_rate=spec.min_pass_rate,
            models=reported,
            runs=sorted(runs, key=lambda r: r.run_index),
        )


class ScheduledTest(Protocol):
    """What the session needs of a pytest item to run it."""

    @property
    def nodeid(self) -> str: ...

    @property
    def path(self) -> Path: ...

    unit_test: UnitTest
    checks: list[BoundExpectation]
