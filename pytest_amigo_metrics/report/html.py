"""The HTML report: one self-contained file (inline CSS, JS and SVG; nothing fetched), rendered
on the server side so it reads without JavaScript. Every value is escaped; a content security
policy lets only the template's own scripts and styles run."""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from ..redact import redact
from ..suite.metrics import format_value
from .chart import Point, chart_svg, numeric
from .html_comparison import comparison_section
from .html_text import anchor, cost, duration, plural, text, tokens, usage_sentence, when
from .model import (
    ReportedExpectation,
    ReportedMessage,
    ReportedResult,
    ReportedRun,
    ReportedTest,
    SessionReport,
)
from .terminal import OFFLINE_LABEL

if TYPE_CHECKING:
    pass

LOW_AGREEMENT = 0.8
_MARKER = re.compile(r"<!--([A-Z]+)-->")
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@cache
def _template() -> str:
    return files(__package__).joinpath("template.html").read_text(encoding="utf-8")


def _csp(template: str) -> str:
    """Only the template's own inline scripts and styles, by hash; nothing from anywhere."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(template):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    return (
        "default-src 'none'; img-src data:; base-uri 'none'; form-action 'none'; "
        f"style-src {' '.join(hashes['style'])}; script-src {' '.join(hashes['script'])}"
    )


def _fill(template: str, values: dict[str, str]) -> str:
    """Markers replaced in one pass: inserted text is never scanned for markers."""
    parts = _MARKER.split(template)
    return "".join(values[p] if i % 2 else p for i, p in enumerate(parts))


def _badge(status: str) -> str:
    return f'<span class="badge {text(status)}">{text(status)}</span>'


def _models(report: SessionReport) -> dict[str, list[str]]:
    if report.run.models:
        return report.run.models
    found: dict[str, list[str]] = {}
    for test in report.tests:
        for role, model in test.models.items():
            if model not in found.setdefault(role, []):
                found[role].append(model)
    return found


def _header(report: SessionReport) -> str:
    run = report.run
    counts = Counter(t.outcome for t in report.tests)
    tally = ", ".join(f"{counts[s]} {s}" for s in ("passed", "failed", "error") if counts[s])
    models = "; ".join(
        f"{text(role)}: " + ", ".join(f"<code>{text(m)}</code>" for m in names)
        for role, names in _models(report).items()
    )
    took = duration(run.started_at, run.ended_at)
    offline = (
        f'<p class="note">Roles marked <code>offline/...</code> used the built-in {OFFLINE_LABEL}.'
        "</p>"
        if report.offline_models
        else ""
    )
    return (
        '<header class="page" id="run"><h1>Amigo metrics report</h1><dl class="facts">'
        f'<dt>Run</dt><dd><code id="run-id">{text(run.id)}</code></dd>'
        f"<dt>Started</dt><dd>{text(when(run.started_at))}</dd>"
        f"<dt>Ended</dt><dd>{text(when(run.ended_at))}"
        f"{f' (took {text(took)})' if took else ''}</dd>"
        f"<dt>Tests</dt><dd>{len(report.tests)}{f': {tally}' if tally else ''}</dd>"
        f"<dt>Models</dt><dd>{models or 'none'}</dd>"
        f"<dt>Usage</dt><dd>{text(usage_sentence(report.usage))}</dd>"
        f"</dl>{offline}</header>"
    )


def _summary(report: SessionReport) -> str:
    if not report.tests:
        return (
            '<section id="summary"><h2>Summary</h2><p>No simulation unit tests ran.</p></section>'
        )
    rows = "".join(
        f'<tr class="test-row {text(t.outcome)}" data-outcome="{text(t.outcome)}">'
        f'<td><a href="#{anchor("test", i)}">{text(t.name)}</a><br>'
        f'<code class="muted">{text(t.file)}</code></td>'
        f"<td>{_badge(t.outcome)}</td>"
        f"<td>{text(t.pass_rate.describe())}<br><span class='muted'>required "
        f"{t.pass_rate.required} of {t.pass_rate.runs}</span></td>"
        f'<td class="num">{tokens(t.usage):,}</td><td class="num">{text(cost(t.usage))}</td></tr>'
        for i, t in enumerate(report.tests)
    )
    return (
        '<section id="summary" aria-labelledby="summary-title">'
        '<h2 id="summary-title">Summary</h2><div class="filter">'
        '<label><input type="checkbox" id="failures-only" disabled> Failures only</label>'
        '<span id="filter-status" class="muted" aria-live="polite"></span></div>'
        '<div class="scroll"><table><thead><tr><th scope="col">Test</th>'
        '<th scope="col">Outcome</th>'
        '<th scope="col">Pass rate</th><th scope="col" class="num">Tokens</th>'
        f'<th scope="col" class="num">Cost</th></tr></thead><tbody>{rows}</tbody></table></div>'
        "</section>"
    )


def _expectations(test: ReportedTest) -> str:
    if not test.expectations:
        return ""
    rows = "".join(
        f"<tr><td>{text(e.metric_name)}</td><td>v{e.metric_version}</td>"
        f"<td><code>{text(e.expectation)}</code></td>"
        f'<td class="num">{e.runs_met}/{e.runs_evaluated} runs</td></tr>'
        for e in test.expectations
    )
    return (
        '<h3>Expectations</h3><div class="scroll"><table><thead><tr><th scope="col">Metric</th>'
        '<th scope="col">Version</th><th scope="col">Expected</th>'
        f'<th scope="col" class="num">Met</th></tr></thead><tbody>{rows}</tbody></table></div>'
    )


def _bounds(expectation: ReportedExpectation) -> tuple[float, float] | None:
    low, high = expectation.lower_bound, expectation.upper_bound
    return (low, high) if low is not None and high is not None else None


def _charts(test: ReportedTest) -> str:
    """One chart per numerical metric, when the test has more than one run."""
    if len(test.runs) < 2:
        return ""
    figures = []
    for e in test.expectations:
        points = [
            Point(run.run_index, r.result, r.met)
            for run in test.runs
            for r in run.results
            if r.metric_name == e.metric_name
        ]
        if not any(numeric(p.value) is not None for p in points):
            continue
        title = f"{e.metric_name} v{e.metric_version} per run (expected {e.expectation})"
        values = ", ".join(format_value(p.value) for p in points)
        figures.append(
            f"<figure>{chart_svg(title, points, e.expectation, _bounds(e))}"
            f"<figcaption>{text(title)}: {text(values)}</figcaption></figure>"
        )
    return f'<h3>Values across runs</h3><div class="charts">{"".join(figures)}</div>' * bool(
        figures
    )


def _agreement(result: ReportedResult) -> str:
    if result.agreement is None:
        return ""
    samples = ", ".join(format_value(v) for v in result.samples)
    low = (
        ' <span class="badge flag">low agreement</span>' if result.agreement < LOW_AGREEMENT else ""
    )
    return (
        f'<p class="agreement">Judge agreement {result.agreement * 100:.0f} % over '
        f"{len(result.samples)} samples ({text(samples)}){low}</p>"
    )


def _verdict(
    result: ReportedResult, own: str, messages: dict[str, tuple[int, ReportedMessage, str]]
) -> str:
    state = "met" if result.met else "unmet"
    links = []
    for ref in result.source.references:
        if ref in messages:
            number, message, target = messages[ref]
            links.append(f'<a href="#{target}">{text(message.role)} message {number}</a>')
        else:
            links.append(f"<code>{text(ref)}</code> (not in this transcript)")
    cited = f"<p>Referenced: {', '.join(links)}</p>" if links else ""
    return (
        f'<section class="verdict {state}" id="{own}"><h4>{text(result.metric_name)} '
        f'<span class="muted">v{result.metric_version}</span> {_badge(state)}</h4>'
        f'<p><span class="value">{text(format_value(result.result))}</span>; expected '
        f"<code>{text(result.expectation)}</code>; judge <code>{text(result.judge_model)}</code>"
        f'</p><p class="justification">{text(result.justification)}</p>{cited}'
        f"{_agreement(result)}</section>"
    )


def _message(number: int, message: ReportedMessage, own: str, verdicts: dict[str, str]) -> str:
    cited = ""
    if message.referenced_by:
        links = ", ".join(
            f'<a href="#{verdicts[name]}">{text(name)}</a>' if name in verdicts else text(name)
            for name in message.referenced_by
        )
        cited = f'<div class="cited">Referenced by {links}</div>'
    classes = f"msg {text(message.role)}" + (" referenced" if message.referenced_by else "")
    return (
        f'<li class="{classes}" id="{own}"><div class="who">{number}. '
        f"{text(message.role.capitalize())} <code>{text(message.id)}</code></div>"
        f'<div class="content">{text(message.content)}</div>{cited}</li>'
    )


def _run_line(run: ReportedRun) -> str:
    met = sum(r.met for r in run.results)
    verdicts = f"{met}/{len(run.results)} expectations met" if run.results else "no verdicts"
    ended = f" \u00b7 ended: {text(run.end_reason)}" if run.end_reason else ""
    return (
        f'Run {run.run_index} {_badge(run.outcome)} <span class="muted">{verdicts}'
        f" \u00b7 {plural(len(run.messages), 'message')}{ended}"
        f" \u00b7 {tokens(run.usage):,} tokens \u00b7 {text(cost(run.usage))}</span>"
    )


def _run(index: int, run: ReportedRun) -> str:
    base = anchor("test", index, "run", run.run_index)
    numbered = [(n, m, anchor(base, "msg", m.id)) for n, m in enumerate(run.messages, start=1)]
    messages = {m.id: (n, m, own) for n, m, own in numbered}
    verdict_ids = [anchor(base, "verdict", n) for n in range(len(run.results))]
    by_metric: dict[str, str] = {}
    for result, own in zip(run.results, verdict_ids, strict=True):
        by_metric.setdefault(result.metric_name, own)
    error = f'<div class="problem">{text(run.error)}</div>' if run.error else ""
    verdicts = "".join(
        _verdict(r, own, messages) for r, own in zip(run.results, verdict_ids, strict=True)
    )
    transcript = "".join(_message(n, m, own, by_metric) for n, m, own in numbered)
    return (
        f'<details class="run {text(run.outcome)}" id="{base}"'
        f"{' open' if run.outcome != 'passed' else ''}><summary>{_run_line(run)}</summary>"
        f'{error}<div class="run-body"><div><h4 class="muted">Verdicts</h4>'
        f"{verdicts or '<p>No verdicts.</p>'}</div>"
        f'<div><h4 class="muted">Transcript <code>{text(run.conversation_id)}</code></h4>'
        f'<ol class="transcript">{transcript}</ol></div></div></details>'
    )


def _test(index: int, test: ReportedTest) -> str:
    models = ", ".join(f"{text(role)} <code>{text(m)}</code>" for role, m in test.models.items())
    error = f'<div class="problem">{text(test.error)}</div>' if test.error else ""
    return (
        f'<article class="test {text(test.outcome)}" id="{anchor("test", index)}" '
        f'data-outcome="{text(test.outcome)}"><h2>{text(test.name)} {_badge(test.outcome)}</h2>'
        '<dl class="facts">'
        f"<dt>Node id</dt><dd><code>{text(test.nodeid)}</code></dd>"
        f"<dt>Unit test id</dt><dd><code>{text(test.unit_test_id)}</code></dd>"
        f"<dt>Pass rate</dt><dd>{text(test.pass_rate.describe())}; required "
        f"{test.pass_rate.required} of {test.pass_rate.runs} (min pass rate "
        f"{test.pass_rate.min_pass_rate * 100:.0f} %)</dd>"
        f"<dt>Models</dt><dd>{models or 'none'}</dd>"
        f"<dt>Usage</dt><dd>{text(usage_sentence(test.usage))}</dd></dl>{error}"
        f"{_expectations(test)}{_charts(test)}<h3>Runs</h3>"
        f"{''.join(_run(index, r) for r in test.runs)}</article>"
    )


def render_html(report: SessionReport) -> str:
    template = _template()
    anchors = {t.nodeid: anchor("test", i) for i, t in enumerate(report.tests)}
    comparison = comparison_section(report.comparison, anchors) if report.comparison else ""
    content = (
        f"{_header(report)}<main>{_summary(report)}{comparison}"
        f'<section id="tests" aria-label="Tests">'
        f"{''.join(_test(i, t) for i, t in enumerate(report.tests))}</section></main>"
        f"<footer>Written by pytest-amigo-metrics (report format {report.format}). "
        "This file is self-contained: it loads nothing from the network.</footer>"
    )
    return _fill(
        template,
        {
            "CSP": text(_csp(template)),
            "TITLE": text(f"Amigo metrics report {report.run.id}"),
            # Outcomes are redacted where they are made; this pass (one, over the whole
            # page: redacting each value walks the environment each time) is the backstop.
            "CONTENT": redact(content),
        },
    )


def write_html(report: SessionReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
