"""This session's results against a stored earlier run (the baseline), test by test.

A test **regressed** when it passed in the baseline and does not now (failed or error), or when
its pass rate fell below the low end of the baseline's 95 % Wilson interval (more runs failing
than chance explains, even if both sides pass `min_pass_rate`). It **improved** in the mirror
cases. Tests only one side ran are `new` or `removed` (not run this time, e.g. deselected).
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from .report.model import (
    Comparison,
    MetricComparison,
    MetricType,
    SessionRun,
    TestComparison,
    wilson_interval,
)
from .suite.metrics import JudgeValue, format_value
from .verdicts.outcomes import MetricOutcome, RunOutcome, TestOutcome

EPSILON = 1e-9
ComparisonStatus = Literal["regressed", "improved", "unchanged", "new", "removed"]


def compare(
    baseline: SessionRun, before: list[TestOutcome], after: list[TestOutcome]
) -> Comparison:
    old = {o.nodeid: o for o in before}
    new = {o.nodeid: o for o in after}
    order = dict.fromkeys([*new, *old])  # this run's order, then the tests it did not run
    return Comparison(
        baseline_run_id=baseline.id,
        baseline_started_at=baseline.started_at,
        tests=[compare_test(old.get(nodeid), new.get(nodeid)) for nodeid in order],
    )


def compare_test(before: TestOutcome | None, after: TestOutcome | None) -> TestComparison:
    either = after or before
    assert either is not None
    names = dict.fromkeys([*_metric_names(after), *_metric_names(before)])
    return TestComparison(
        nodeid=either.nodeid,
        name=either.name,
        status=status_of(before, after),
        baseline_outcome=before.status if before else None,
        outcome=after.status if after else None,
        baseline_pass_rate=before.pass_rate if before and before.runs else None,
        pass_rate=after.pass_rate if after and after.runs else None,
        metrics=[compare_metric(name, before, after) for name in names],
    )


def status_of(before: TestOutcome | None, after: TestOutcome | None) -> ComparisonStatus:
    if before is None:
        return "new"
    if after is None:
        return "removed"
    if before.status == "passed" and after.status != "passed":
        return "regressed"
    if before.status != "passed" and after.status == "passed":
        return "improved"
    if before.runs and after.runs:
        low, high = wilson_interval(before.passed_runs, len(before.runs))
        if after.pass_rate < low - EPSILON:
            return "regressed"
        if after.pass_rate > high + EPSILON:
            return "improved"
    return "unchanged"


def compare_metric(
    name: str, before: TestOutcome | None, after: TestOutcome | None
) -> MetricComparison:
    old_values, old_version = _values(before, name)
    new_values, new_version = _values(after, name)
    kind = _type_of(old_values + new_values)
    numerical = kind == "numerical"
    return MetricComparison(
        metric_name=name,
        metric_type=kind,
        baseline_version=old_version,
        version=new_version,
        baseline_mean=_mean(old_values) if numerical else None,
        mean=_mean(new_values) if numerical else None,
        baseline_distribution={} if numerical else _distribution(old_values),
        distribution={} if numerical else _distribution(new_values),
    )


def _metric_names(outcome: TestOutcome | None) -> list[str]:
    if outcome is None:
        return []
    return list(dict.fromkeys(m.metric for r in outcome.runs for m in r.metrics))


def _values(outcome: TestOutcome | None, name: str) -> tuple[list[JudgeValue], int | None]:
    if outcome is None:
        return [], None
    found = [_verdict_of(r, name) for r in outcome.runs]
    known = [m for m in found if m is not None]
    return [m.value for m in known], max((m.version for m in known), default=None)


def _verdict_of(run: RunOutcome, name: str) -> MetricOutcome | None:
    """A run's verdict on the metric, once however many expectations name it: the one on the
    whole conversation when there is one (others judged only its start, `up_to_turn`)."""
    found = [m for m in run.metrics if m.metric == name]
    return next((m for m in found if m.up_to_turn is None), found[0] if found else None)


def _type_of(values: list[JudgeValue]) -> MetricType | None:
    """A metric's type from its values: the judge's values are checked against it."""
    for value in values:
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, str):
            return "categorical"
        if isinstance(value, int | float):
            return "numerical"
    return None


def _mean(values: list[JudgeValue]) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return sum(numbers) / len(numbers) if numbers else None


def _distribution(values: list[JudgeValue]) -> dict[str, int]:
    return dict(Counter(format_value(v) for v in values).most_common())
