"""The baseline comparison section of the HTML report: regressions first."""

from __future__ import annotations

from collections import Counter

from .html_text import percent, text, when
from .model import Comparison, MetricComparison, TestComparison

ORDER = ("regressed", "improved", "new", "removed", "unchanged")


def _version(metric: MetricComparison) -> str:
    before = "\u2013" if metric.baseline_version is None else f"v{metric.baseline_version}"
    after = "\u2013" if metric.version is None else f"v{metric.version}"
    if not metric.version_changed:
        return after if before == after else f"{before} \u2192 {after}"
    return (
        f'<span class="changed">{before} \u2192 {after}</span> '
        '<span class="badge flag">version changed</span>'
    )


def _distribution(counts: dict[str, int]) -> str:
    return ", ".join(f"{text(value)} \u00d7{n}" for value, n in counts.items()) or "\u2013"


def _values(metric: MetricComparison) -> str:
    if metric.baseline_mean is not None or metric.mean is not None:

        def mean(value: float | None) -> str:
            return "\u2013" if value is None else f"{value:.2f}"

        return f"mean {mean(metric.baseline_mean)} \u2192 {mean(metric.mean)}"
    return (
        f"{_distribution(metric.baseline_distribution)} \u2192 {_distribution(metric.distribution)}"
    )


def _metrics(test: TestComparison) -> str:
    if not test.metrics:
        return '<span class="muted">no metrics</span>'
    items = "".join(
        f"<li><strong>{text(m.metric_name)}</strong> {_version(m)}: {_values(m)}</li>"
        for m in test.metrics
    )
    return f'<ul class="plain">{items}</ul>'


def _row(test: TestComparison, anchors: dict[str, str]) -> str:
    name = text(test.name)
    if test.nodeid in anchors:
        name = f'<a href="#{anchors[test.nodeid]}">{name}</a>'
    before = text(test.baseline_outcome or "\u2013")
    after = text(test.outcome or "\u2013")
    return (
        f'<tr class="comparison-row" data-status="{text(test.status)}">'
        f'<td>{name}<br><code class="muted">{text(test.nodeid)}</code></td>'
        f'<td><span class="badge {text(test.status)}">{text(test.status)}</span></td>'
        f"<td>{before} \u2192 {after}</td>"
        f'<td class="num">{percent(test.baseline_pass_rate)} \u2192 {percent(test.pass_rate)}</td>'
        f"<td>{_metrics(test)}</td></tr>"
    )


def comparison_section(comparison: Comparison, anchors: dict[str, str]) -> str:
    """Before/after per test and metric; `anchors` maps node ids to their test sections."""
    tests = sorted(comparison.tests, key=lambda t: ORDER.index(t.status))
    counts: Counter[str] = Counter(t.status for t in tests)
    tally = ", ".join(f"{counts[s]} {s}" for s in ORDER if counts[s]) or "no tests"
    flagged = sum(m.version_changed for t in tests for m in t.metrics)
    versions = (
        f'<p class="note">{flagged} metric result{"s" if flagged != 1 else ""} compared across '
        "different metric versions (flagged below): the metric's definition changed, so values "
        "may differ for that reason alone.</p>"
        if flagged
        else ""
    )
    rows = "".join(_row(t, anchors) for t in tests)
    return (
        '<section id="comparison" aria-labelledby="comparison-title">'
        f'<h2 id="comparison-title">Compared with baseline run '
        f"<code>{text(comparison.baseline_run_id)}</code></h2>"
        f"<p>Baseline started {text(when(comparison.baseline_started_at))}. {tally}.</p>"
        f"{versions}"
        '<div class="scroll"><table><thead><tr><th scope="col">Test</th><th scope="col">Change</th>'
        '<th scope="col">Outcome (baseline \u2192 now)</th>'
        '<th scope="col" class="num">Pass rate</th><th scope="col">Metrics</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></section>"
    )
