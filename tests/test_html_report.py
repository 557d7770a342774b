"""The HTML report (--amigo-html): rendered from a real session, self-contained, escaped."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from html_suite import (
    FAILING,
    INJECTION,
    PASSING,
    Page,
    page_of,
    reported_outcomes,
    write_suite,
)

from conftest import Suite
from pytest_amigo_metrics.report.chart import Point, chart_svg, thresholds
from pytest_amigo_metrics.report.html import render_html
from pytest_amigo_metrics.report.model import (
    Comparison,
    MetricComparison,
    SessionRun,
    TestComparison,
    build_report,
)
from pytest_amigo_metrics.verdicts.outcomes import TestOutcome, Usage

STARTED = datetime(2026, 12, 1, 16, 0, tzinfo=timezone.utc)


@pytest.fixture
def session(suite: Suite) -> dict[str, TestOutcome]:
    """A real session written to report.html; the outcomes pytest reported, by test name."""
    write_suite(suite)
    result = suite.pytester.runpytest("--amigo-html", "report.html")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["amigo HTML report: *report.html"])
    return reported_outcomes(suite)


def report_page(outcomes: dict[str, TestOutcome], **changes: object) -> Page:
    ordered = [outcomes[name] for name in (PASSING, FAILING) if name in outcomes]
    report = build_report(SessionRun(id="run-1", started_at=STARTED), ordered)
    return Page(render_html(report.model_copy(update=changes)))


def test_failing_verdict_shows_its_justification_and_links_the_highlighted_message(
    suite: Suite, session: dict[str, TestOutcome]
) -> None:
    page = page_of(suite.path / "report.html")
    failing = session[FAILING]
    run = failing.runs[0]
    verdict = run.metrics[0]
    assert (verdict.metric, verdict.passed) == ("Empathy Score", False)
    cited = run.message(verdict.references[0])
    assert cited is not None and cited.role == "agent"

    [(anchor, target)] = [(i, e) for i, e in page.by_id.items() if i.endswith(f"msg-{cited.id}")]
    assert cited.id in target.text and INJECTION in target.text
    assert "referenced" in target.attrs["class"].split()
    [shown] = [
        e
        for e in page.by_id.values()
        if "verdict" in e.attrs.get("class", "").split()
        and f"#{anchor}" in e.links
        and e.words.startswith("Empathy Score")
    ]
    assert verdict.justification in shown.text
    assert "unmet" in shown.attrs["class"].split()
    assert "1; expected >= 7; judge offline/judge" in shown.words and "v1" in shown.words
    assert any(link.startswith("#") and "verdict" in link for link in target.links), (
        "the message links back to the verdicts that cite it"
    )


def test_summary_lists_every_test_with_its_pass_rate_and_a_failures_filter(
    suite: Suite, session: dict[str, TestOutcome]
) -> None:
    page = page_of(suite.path / "report.html")
    rows = page.with_class("tr", "test-row")
    assert {r["data-outcome"] for r in rows} == {"passed", "failed"} and len(rows) == 2
    summary = page.by_id["summary"].words
    passed = session[PASSING].passed_runs
    assert f"{PASSING} tests.amigo.yaml passed {passed}/3 runs passed (" in summary
    assert "0/2 runs passed (0 %, 95 % CI 0\u201366 %)" in summary
    assert page.by_id["failures-only"].attrs["type"] == "checkbox"
    assert "hidden" in page.by_id["page-errors"].attrs
    header = page.by_id["run"].words
    assert "2: 1 passed, 1 failed" in header
    assert "built-in offline provider" in header


def test_markup_in_a_transcript_is_shown_as_text_and_never_injected(
    suite: Suite, session: dict[str, TestOutcome]
) -> None:
    html = (suite.path / "report.html").read_text()
    page = Page(html)
    assert [t for t, _ in page.tags].count("script") == 2, "only the template's own scripts"
    assert not [t for t, _ in page.tags if t in ("img", "b")]
    assert "</script><script>" not in html
    assert "&lt;/script&gt;&lt;script&gt;" in html
    messages = [e.text for e in page.by_id.values() if "msg" in e.attrs.get("class", "")]
    assert sum(INJECTION in text for text in messages) == 2  # one per run of the failing test
    assert page.test_section(FAILING).words.count("Fine. Done. </script><script>") == 2


def test_numerical_metric_is_charted_across_runs(
    suite: Suite, session: dict[str, TestOutcome]
) -> None:
    page = page_of(suite.path / "report.html")
    passing = page.test_section(PASSING).attrs["id"]
    [chart] = page.with_class("svg", "chart", inside=passing)
    values = [
        m.value for r in session[PASSING].runs for m in r.metrics if m.metric == "Empathy Score"
    ]
    expected = ", ".join(f"run {i}: {v}" for i, v in enumerate(values))
    assert chart["aria-label"] == f"Empathy Score v1 per run (expected >= 7): {expected}"
    dots = page.with_class("circle", "dot", inside=passing)
    met = [
        m.passed for r in session[PASSING].runs for m in r.metrics if m.metric == "Empathy Score"
    ]
    assert [("met" in d["class"].split()) for d in dots] == met
    assert len(page.with_class("line", "threshold", inside=passing)) == 1  # >= 7, dashed
    labels = [c["aria-label"] for c in page.with_class("svg", "chart")]
    assert len(labels) == 2, "one per test: Identity Verified (a boolean) is not charted"
    assert len(page.with_class("circle", "dot")) == 3 + 2
    chart_source = page.source[page.source.index(html.escape(chart["aria-label"])) :]
    chart_source = chart_source[: chart_source.index("</svg>")]
    assert ">1</text>" in chart_source and ">10</text>" in chart_source, "Empathy's 1 to 10"


def test_a_charts_y_axis_spans_the_metrics_bounds_when_known() -> None:
    close = [Point(0, 7, True), Point(1, 8, True), Point(2, 9, True)]
    scaled = Page(chart_svg("Score", close, ">= 7", value_range=(1, 10)))
    assert ">1</text>" in scaled.source and ">10</text>" in scaled.source
    dots = [float(d["cy"]) for d in scaled.with_class("circle", "dot")]
    unscaled = [
        float(d["cy"]) for d in Page(chart_svg("Score", close, ">= 7")).with_class("circle", "dot")
    ]
    assert dots[0] - dots[2] < (unscaled[0] - unscaled[2]) / 2, "7 to 9 is a third of 1 to 10"


def test_chart_leaves_gaps_at_not_applicable_and_handles_equal_values() -> None:
    svg = chart_svg(
        "Score",
        [Point(0, 3, True), Point(1, 4.5, True), Point(2, None, False), Point(3, 2, False)],
    )
    page = Page(svg)
    assert len(page.with_class("polyline", "trend")) == 1  # 0-1 joined, 3 alone
    assert len(page.with_class("circle", "dot")) == 3
    assert "run 2: n/a" in page.tags[0][1]["aria-label"]
    flat = Page(chart_svg("Flat", [Point(0, 5, True), Point(1, 5, True)]))
    assert all("nan" not in str(a) for _, a in flat.tags)
    assert chart_svg("Words", [Point(0, "resolved", True), Point(1, True, True)]) == ""
    two = [Point(0, 5, True), Point(1, 6, True)]
    assert thresholds(">= 7") == [7.0] and thresholds("between 2 and 10 (or n/a)") == [2.0, 10.0]
    assert thresholds("in [resolved, escalated]") == [] and thresholds("true") == []
    between = Page(chart_svg("Score", two, "between 2 and 10"))
    assert len(between.with_class("line", "threshold")) == 2
    assert ">2</text>" in between.source and ">10</text>" in between.source, "axis spans both"


def test_report_loads_nothing_from_outside(suite: Suite, session: dict[str, TestOutcome]) -> None:
    html = (suite.path / "report.html").read_text()
    page = Page(html)
    references = [
        (tag, name, value)
        for tag, attrs in page.tags
        for name, value in attrs.items()
        if name in ("src", "href", "action", "xlink:href", "data", "srcset", "poster")
    ]
    assert references and all(
        name == "href" and value.startswith("#") for _, name, value in references
    ), [r for r in references if not r[2].startswith("#")]
    assert not re.search(r"url\(|@import|https?://", html)
    [csp] = [a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp.startswith("default-src 'none';") and "unsafe-inline" not in csp


def test_comparison_lists_regressions_first_and_flags_changed_metric_versions(
    session: dict[str, TestOutcome],
) -> None:
    comparison = Comparison(
        baseline_run_id="baseline-7",
        tests=[
            TestComparison(
                nodeid=session[PASSING].nodeid,
                name=PASSING,
                status="unchanged",
                baseline_outcome="passed",
                outcome="passed",
                baseline_pass_rate=1.0,
                pass_rate=1.0,
                metrics=[
                    MetricComparison(
                        metric_name="Identity Verified",
                        metric_type="boolean",
                        baseline_version=1,
                        version=1,
                        baseline_distribution={"true": 3},
                        distribution={"true": 3},
                    )
                ],
            ),
            TestComparison(
                nodeid=session[FAILING].nodeid,
                name=FAILING,
                status="regressed",
                baseline_outcome="passed",
                outcome="failed",
                baseline_pass_rate=1.0,
                pass_rate=0.0,
                metrics=[
                    MetricComparison(
                        metric_name="Empathy Score",
                        metric_type="numerical",
                        baseline_version=1,
                        version=2,
                        baseline_mean=8.5,
                        mean=1.0,
                    )
                ],
            ),
        ],
    )
    page = report_page(session, comparison=comparison)
    section = page.by_id["comparison"]
    assert "baseline-7" in section.words and "1 regressed, 1 unchanged" in section.words
    rows = page.with_class("tr", "comparison-row")
    assert [r["data-status"] for r in rows] == ["regressed", "unchanged"]
    assert "v1 \u2192 v2" in section.words and "version changed" in section.words
    assert (
        "mean 8.50 \u2192 1.00" in section.words
        and "true \u00d73 \u2192 true \u00d73" in section.words
    )
    assert section.words.count("version changed") == 1
    assert "#test-1" in section.links, "each row links to the test's own section"
    assert "comparison" not in report_page(session).by_id


def test_low_judge_agreement_is_flagged(session: dict[str, TestOutcome]) -> None:
    def with_agreement(agreement: float) -> Page:
        failing = session[FAILING]
        run = failing.runs[0]
        metric = run.metrics[0].model_copy(update={"samples": [1, 1, 4], "agreement": agreement})
        changed = run.model_copy(update={"metrics": [metric, *run.metrics[1:]]})
        outcome = failing.model_copy(update={"runs": [changed, *failing.runs[1:]]})
        return report_page({**session, FAILING: outcome})

    low = with_agreement(2 / 3).by_id["test-1"].words
    assert "Judge agreement 67 % over 3 samples (1, 1, 4) low agreement" in low
    high = with_agreement(0.9).by_id["test-1"].words
    assert "Judge agreement 90 %" in high and "low agreement" not in high


def test_tokens_and_cost_per_run_test_and_session(session: dict[str, TestOutcome]) -> None:
    def priced(outcome: TestOutcome, cost: float | None) -> TestOutcome:
        usage = Usage(calls=2, prompt_tokens=1000, completion_tokens=250, cost_usd=cost)
        return outcome.model_copy(
            update={"runs": [r.model_copy(update={"usage": usage}) for r in outcome.runs]}
        )

    page = report_page(
        {PASSING: priced(session[PASSING], 0.01), FAILING: priced(session[FAILING], 0.02)}
    )
    assert (
        "10 model calls; 6,250 tokens (5,000 prompt, 1,250 completion); cost $0.0700"
        in page.by_id["run"].words
    )
    failing = page.by_id["test-1"].words
    assert "4 model calls; 2,500 tokens (2,000 prompt, 500 completion); cost $0.0400" in failing
    assert "1,250 tokens \u00b7 $0.0200" in page.by_id["test-1-run-0"].words
    assert "2,500" in page.by_id["summary"].words and "$0.0400" in page.by_id["summary"].words
    unknown = report_page({PASSING: priced(session[PASSING], None)})
    assert "cost unknown (a model without a known price was used)" in unknown.by_id["test-0"].words


def test_secrets_are_masked_in_the_report(
    session: dict[str, TestOutcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMIGO_TEST_API_KEY", "not-for-reports-123")
    failing = session[FAILING]
    run = failing.runs[0]
    leaked = run.messages[0].model_copy(update={"content": "my key is not-for-reports-123"})
    outcome = failing.model_copy(
        update={"runs": [run.model_copy(update={"messages": [leaked, *run.messages[1:]]})]}
    )
    html = render_html(build_report(SessionRun(id="r", started_at=STARTED), [outcome]))
    assert "not-for-reports-123" not in html and "my key is ***" in html


def test_html_report_under_xdist_is_written_once_by_the_controller(suite: Suite) -> None:
    write_suite(suite)
    result = suite.pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--amigo-html", "out/report.html"
    )
    result.assert_outcomes(passed=1, failed=1)
    page = page_of(suite.path / "out" / "report.html")
    assert len(page.with_class("tr", "test-row")) == 2
    assert page.test_section(PASSING) and page.test_section(FAILING)
    run_id = re.search(r"simulation unit test set run (\w+)", result.stdout.str())
    assert run_id is not None and run_id[1] in page.by_id["run-id"].words


def test_html_path_from_the_environment_and_an_unwritable_path(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_suite(suite)
    monkeypatch.setenv("AMIGO_METRICS_HTML", "env-report.html")
    suite.pytester.runpytest().assert_outcomes(passed=1, failed=1)
    assert (suite.path / "env-report.html").is_file()

    result = suite.pytester.runpytest("--amigo-html", "agent.py/report.html")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["error: the HTML report could not be written to *agent.py/report.html (*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_report_without_tests_says_so(tmp_path: Path) -> None:
    html = render_html(build_report(SessionRun(id="empty", started_at=STARTED), []))
    assert "No simulation unit tests ran." in Page(html).by_id["summary"].words
