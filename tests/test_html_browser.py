"""The HTML report in a real browser: headless Chromium opens the file a real session wrote
(under xdist) and the DOM it renders is read back with --dump-dom."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from html_suite import FAILING, INJECTION, PASSING, Page, reported_outcomes, write_suite

from conftest import Suite

BROWSERS = ("chromium", "chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is not None:
        return found
    message = (
        "headless Chromium is needed to test the HTML report in a browser: install the "
        "`chromium` package (apt-get install chromium)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; under CI=true a missing browser fails this test", pytrace=False)
    pytest.skip(message)


def open_in_browser(chromium: str, page: Path, profile: Path, query: str = "") -> Page:
    """The DOM after the page's scripts ran; console messages of the page fail the test."""
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri() + query],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    console = [
        line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line
    ]
    assert not console, f"the page logged to the console: {console}"
    dom = Page(done.stdout)
    assert dom.root.get("data-script-ready") == "1", "the report's script did not run to its end"
    assert dom.root.get("data-page-errors") == "0", dom.by_id["page-errors"].words
    return dom


def test_browser_shows_the_failing_verdict_its_referenced_message_and_the_filter(
    suite: Suite, chromium: str, tmp_path: Path
) -> None:
    write_suite(suite)
    result = suite.pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--amigo-html", "report.html"
    )
    result.assert_outcomes(passed=1, failed=1)
    report = suite.path / "report.html"
    outcomes = reported_outcomes(suite)
    run = outcomes[FAILING].runs[0]
    verdict = next(m for m in run.metrics if m.metric == "Empathy Score")
    cited = run.message(verdict.references[0])
    assert cited is not None

    dom = open_in_browser(chromium, report, tmp_path / "profile")
    [(anchor, message)] = [(i, e) for i, e in dom.by_id.items() if i.endswith(f"msg-{cited.id}")]
    assert cited.id in message.words and INJECTION in message.text
    assert "referenced" in message.attrs["class"].split()
    [shown] = [
        e
        for e in dom.by_id.values()
        if "verdict" in e.attrs.get("class", "").split()
        and f"#{anchor}" in e.links
        and e.words.startswith("Empathy Score")
    ]
    assert verdict.justification in shown.text and "unmet" in shown.attrs["class"].split()
    assert dom.by_id["failures-only"].attrs["type"] == "checkbox"
    assert "disabled" not in dom.by_id["failures-only"].attrs, "the script enabled the filter"
    assert dom.by_id["filter-status"].words == "showing 2 of 2 tests"
    assert dom.test_section(FAILING) and dom.test_section(PASSING)
    assert dom.title.startswith("Amigo metrics report "), "no script of the transcript ran"


def test_browser_applies_the_failures_filter_and_opens_a_linked_run(
    suite: Suite, chromium: str, tmp_path: Path
) -> None:
    write_suite(suite)
    suite.pytester.runpytest("--amigo-html", "report.html").assert_outcomes(passed=1, failed=1)
    report = suite.path / "report.html"
    passing = reported_outcomes(suite)[PASSING]
    passed_run = next(r for r in passing.runs if r.passed)

    filtered = open_in_browser(chromium, report, tmp_path / "profile", "?failures")
    assert "failures-only" in filtered.root.get("class", "").split()
    assert filtered.by_id["filter-status"].words == "showing 1 of 2 tests"

    before = Page(report.read_text())
    run_id = f"{before.test_section(PASSING).attrs['id']}-run-{passed_run.run_index}"
    assert "open" not in before.by_id[run_id].attrs, "a passed run starts folded"
    message = next(i for i in before.by_id if i.startswith(run_id + "-msg-"))
    linked = open_in_browser(chromium, report, tmp_path / "profile", f"#{message}")
    assert "open" in linked.by_id[run_id].attrs, "following a link unfolds the run it points into"


def test_browser_blocks_markup_slipped_into_the_file_and_reports_it(
    suite: Suite, chromium: str, tmp_path: Path
) -> None:
    """The page's error catcher and its content security policy work: were escaping ever
    bypassed, a foreign script would be blocked, and shown as a page problem."""
    write_suite(suite)
    suite.pytester.runpytest("--amigo-html", "report.html").assert_outcomes(passed=1, failed=1)
    report = suite.path / "report.html"
    tampered = report.read_text().replace(
        '<div id="page-errors"',
        "<script>document.title = 'pwned'</script><div id=\"page-errors\"",
        1,
    )
    report.write_text(tampered)
    done = subprocess.run(
        [
            chromium,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    dom = Page(done.stdout)
    assert dom.root["data-page-errors"] == "1"
    assert "content security policy" in dom.by_id["page-errors"].words
    assert dom.title.startswith("Amigo metrics report "), "the slipped-in script never ran"
    assert "Content Security Policy" in done.stderr, "the browser's console shows it too"
