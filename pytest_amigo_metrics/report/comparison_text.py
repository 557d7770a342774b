"""The terminal's `amigo baseline` section: this session against a stored earlier run."""

from __future__ import annotations

from collections import Counter

from .model import Comparison, MetricComparison, TestComparison

LABELS = {
    "regressed": "REGRESSED",
    "improved": "IMPROVED",
    "unchanged": "UNCHANGED",
    "new": "NEW",
    "removed": "NOT RUN",
}
MARKUP = {"REGRESSED": {"red": True}, "IMPROVED": {"green": True}}
VERSION_FLAG = "versions differ: the values measure different things"


def comparison_lines(comparison: Comparison, *, quiet: bool = False) -> list[str]:
    """A head line with the counts, then one line per test (unchanged ones only when not
    quiet) and, for tests that changed, one per metric."""
    counts: Counter[str] = Counter(t.status for t in comparison.tests)
    started = comparison.baseline_started_at
    when = f" (started {started:%Y-%m-%d %H:%M} UTC)" if started else ""
    summary = ", ".join(
        f"{counts[status]} {LABELS[status].lower()}" for status in LABELS if counts[status]
    )
    lines = [f"compared with run {comparison.baseline_run_id}{when}: {summary or 'no tests'}"]
    for test in comparison.tests:
        changed = test.status in ("regressed", "improved") or any(
            m.version_changed for m in test.metrics
        )
        if quiet and not changed and test.status != "new":
            continue
        lines.append(f"{LABELS[test.status]:9} {test.nodeid}  {_verdicts(test)}")
        if changed:
            lines += [f"          {metric_line(m)}" for m in test.metrics]
    return lines


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f} %"


def _verdicts(test: TestComparison) -> str:
    if test.status == "new":
        return f"{test.outcome}; pass rate {_rate(test.pass_rate)}"
    if test.status == "removed":
        before = _rate(test.baseline_pass_rate)
        return f"in the baseline: {test.baseline_outcome}, pass rate {before}"
    return (
        f"{test.baseline_outcome} -> {test.outcome}; pass rate "
        f"{_rate(test.baseline_pass_rate)} -> {_rate(test.pass_rate)}"
    )


def _version(version: int | None) -> str:
    return "-" if version is None else f"v{version}"


def _mean(mean: float | None) -> str:
    return "-" if mean is None else f"{mean:.3g}"


def _distribution(values: dict[str, int]) -> str:
    return ", ".join(f"{value} x{count}" for value, count in values.items()) or "-"


def metric_line(metric: MetricComparison) -> str:
    """`Empathy Score v1 -> v2 (versions differ...): mean 8.5 -> 4`."""
    versions = _version(metric.baseline_version)
    if metric.version != metric.baseline_version:
        versions += f" -> {_version(metric.version)}"
    if metric.version_changed:
        versions += f" ({VERSION_FLAG})"
    elif metric.same_definition:
        versions += " (the same definition)"
    if metric.metric_type == "numerical":
        values = f"mean {_mean(metric.baseline_mean)} -> {_mean(metric.mean)}"
    else:
        before, after = metric.baseline_distribution, metric.distribution
        values = f"{_distribution(before)} -> {_distribution(after)}"
    return f"{metric.metric_name} {versions}: {values}"


def regression_verdict(comparison: Comparison) -> str:
    names = ", ".join(t.nodeid for t in comparison.regressions)
    return (
        f"the session fails (--amigo-fail-on-regression): {len(comparison.regressions)} "
        f"regressed against run {comparison.baseline_run_id}: {names}"
    )
