"""The session report: what `--amigo-json` writes and `--amigo-html` renders, for this session
or for any run kept in the store. Metric results are shaped like the Amigo API's
MetricEvaluationResultInstance with a `simulation` source."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from ..runs.transcript import EndReason, Role
from ..suite.metrics import JudgeValue
from ..verdicts.outcomes import MetricOutcome, RunOutcome, Status, TestOutcome, Usage

REPORT_FORMAT = 1
MetricType = Literal["boolean", "numerical", "categorical"]


def wilson_interval(passed: int, runs: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a pass rate (0..1); (0, 1) when there are no runs."""
    if runs <= 0:
        return 0.0, 1.0
    rate = passed / runs
    denominator = 1 + z * z / runs
    centre = (rate + z * z / (2 * runs)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / runs + z * z / (4 * runs * runs)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


class PassRate(BaseModel):
    passed: int
    runs: int
    required: int  # runs that must pass
    min_pass_rate: float
    rate: float
    interval_95: tuple[float, float]  # Wilson score interval

    def describe(self) -> str:
        """`3/5 runs passed (60 %, 95 % CI 23-88 %)`, with an en dash."""
        low, high = self.interval_95
        return (
            f"{self.passed}/{self.runs} runs passed ({self.rate * 100:.0f} %, "
            f"95 % CI {low * 100:.0f}\u2013{high * 100:.0f} %)"
        )


class ReportedMessage(BaseModel):
    id: str
    interaction_id: str
    role: Role
    content: str
    referenced_by: list[str] = []  # names of the metrics whose verdict cites this message


class SimulationSource(BaseModel):
    type: Literal["simulation"] = "simulation"
    simulation_unit_test_set_run_id: str
    unit_test_id: str
    run_index: int
    references: list[str]


class ReportedResult(BaseModel):
    """A MetricEvaluationResultInstance (simulation source), with the expectation it was held to."""

    id: str | None = None  # the stored evaluation result's id (None: it was not stored)
    metric_id: str
    metric_name: str
    metric_version: int
    result: JudgeValue  # null: not applicable
    justification: str
    source: SimulationSource
    judge_model: str
    expectation: str
    met: bool
    samples: list[JudgeValue] = []
    agreement: float | None = None


class ReportedRun(BaseModel):
    run_index: int
    outcome: Status
    conversation_id: str
    end_reason: EndReason | None
    error: str | None
    messages: list[ReportedMessage]
    results: list[ReportedResult]
    usage: Usage
    model_wait_seconds: float = 0.0
    rate_limit_wait_seconds: float = 0.0


class ReportedExpectation(BaseModel):
    metric_name: str
    metric_id: str
    metric_version: int
    expectation: str
    runs_met: int
    runs_evaluated: int
    # A numerical metric's bounds (absent from runs stored by versions before 2026-12).
    lower_bound: float | None = None
    upper_bound: float | None = None


class ReportedTest(BaseModel):
    nodeid: str
    name: str
    file: str
    unit_test_id: str
    outcome: Status
    pass_rate: PassRate
    models: dict[str, str]
    expectations: list[ReportedExpectation]
    runs: list[ReportedRun]
    usage: Usage
    error: str | None = None  # why its results were not stored or its recording not written


class OutcomeCounts(BaseModel):
    passed: int = 0
    failed: int = 0
    error: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.error


class SessionRun(BaseModel):
    """One pytest session: a simulation unit test set run."""

    id: str
    started_at: datetime
    ended_at: datetime | None = None
    options: dict[str, str] = {}  # the settings that change results (models, runs, backend...)
    models: dict[str, list[str]] = {}  # per role, every model used
    counts: OutcomeCounts = Field(default_factory=OutcomeCounts)
    # Stopped by Ctrl-C (or pytest.exit): the tests not yet reported never ran.
    interrupted: bool = False


class MetricComparison(BaseModel):
    """One metric of one test, in the baseline run and in this one."""

    metric_name: str
    metric_type: MetricType | None = None
    baseline_version: int | None = None
    version: int | None = None
    baseline_mean: float | None = None  # numerical
    mean: float | None = None
    baseline_distribution: dict[str, int] = {}  # boolean, categorical: value -> runs
    distribution: dict[str, int] = {}

    # The two versions declare the same description and value space (a change undone).
    same_definition: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def version_changed(self) -> bool:
        """Both sides judged different definitions: the values measure different things."""
        return (
            None not in (self.baseline_version, self.version)
            and self.baseline_version != self.version
            and not self.same_definition
        )


class TestComparison(BaseModel):
    __test__ = False  # not a pytest test class

    nodeid: str
    name: str
    status: Literal["regressed", "improved", "unchanged", "new", "removed"]
    baseline_outcome: Status | None = None
    outcome: Status | None = None
    baseline_pass_rate: float | None = None
    pass_rate: float | None = None
    metrics: list[MetricComparison] = []


class Comparison(BaseModel):
    baseline_run_id: str
    baseline_started_at: datetime | None = None
    tests: list[TestComparison]

    @property
    def regressions(self) -> list[TestComparison]:
        return [t for t in self.tests if t.status == "regressed"]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def regressed(self) -> list[str]:
        """Node ids of the tests that regressed."""
        return [t.nodeid for t in self.regressions]


class SessionReport(BaseModel):
    format: int = REPORT_FORMAT
    run: SessionRun
    tests: list[ReportedTest]
    usage: Usage
    comparison: Comparison | None = None
    offline_models: bool = False  # some role used the built-in offline provider


def pass_rate_of(outcome: TestOutcome) -> PassRate:
    runs = len(outcome.runs)
    return PassRate(
        passed=outcome.passed_runs,
        runs=runs,
        required=outcome.required_runs,
        min_pass_rate=outcome.min_pass_rate,
        rate=outcome.pass_rate,
        interval_95=wilson_interval(outcome.passed_runs, runs),
    )


def _result(outcome: TestOutcome, run: RunOutcome, metric: MetricOutcome) -> ReportedResult:
    return ReportedResult(
        id=metric.result_id,
        metric_id=metric.metric_id,
        metric_name=metric.metric,
        metric_version=metric.version,
        result=metric.value,
        justification=metric.justification,
        source=SimulationSource(
            simulation_unit_test_set_run_id=outcome.simulation_unit_test_set_run_id,
            unit_test_id=outcome.unit_test_id,
            run_index=run.run_index,
            references=metric.references,
        ),
        judge_model=metric.judge_model,
        expectation=metric.expectation,
        met=metric.passed,
        samples=metric.samples,
        agreement=metric.agreement,
    )


def _run(outcome: TestOutcome, run: RunOutcome) -> ReportedRun:
    cited: dict[str, list[str]] = {}
    for metric in run.metrics:
        for ref in metric.references:
            cited.setdefault(ref, []).append(metric.metric)
    status: Status = "error" if run.error else "passed" if run.passed else "failed"
    return ReportedRun(
        run_index=run.run_index,
        outcome=status,
        conversation_id=run.conversation_id,
        end_reason=run.end_reason,
        error=run.error,
        messages=[
            ReportedMessage(**m.model_dump(), referenced_by=cited.get(m.id, []))
            for m in run.messages
        ],
        results=[_result(outcome, run, m) for m in run.metrics],
        usage=run.usage,
        model_wait_seconds=run.model_wait,
        rate_limit_wait_seconds=run.rate_limit_wait,
    )


def _expectations(outcome: TestOutcome) -> list[ReportedExpectation]:
    found: dict[tuple[str, str], ReportedExpectation] = {}
    for run in outcome.runs:
        for m in run.metrics:
            seen = found.setdefault(
                (m.metric, m.expectation),
                ReportedExpectation(
                    metric_name=m.metric,
                    metric_id=m.metric_id,
                    metric_version=m.version,
                    expectation=m.expectation,
                    runs_met=0,
                    runs_evaluated=0,
                    lower_bound=m.value_range[0] if m.value_range else None,
                    upper_bound=m.value_range[1] if m.value_range else None,
                ),
            )
            seen.runs_met += m.passed
            seen.runs_evaluated += 1
    return list(found.values())


def reported_test(outcome: TestOutcome) -> ReportedTest:
    return ReportedTest(
        nodeid=outcome.nodeid,
        name=outcome.name,
        file=outcome.file,
        unit_test_id=outcome.unit_test_id,
        outcome=outcome.status,
        pass_rate=pass_rate_of(outcome),
        models=outcome.models,
        expectations=_expectations(outcome),
        runs=[_run(outcome, r) for r in outcome.runs],
        usage=outcome.usage,
        error="; ".join(e for e in (outcome.store_error, outcome.recording_error) if e) or None,
    )


def build_report(
    run: SessionRun, outcomes: list[TestOutcome], comparison: Comparison | None = None
) -> SessionReport:
    from ..models.llm import is_offline

    return SessionReport(
        run=run,
        tests=[reported_test(o) for o in outcomes],
        usage=sum((o.usage for o in outcomes), Usage()),
        comparison=comparison,
        offline_models=any(is_offline(m) for o in outcomes for m in o.models.values()),
    )
