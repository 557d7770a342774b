"""`--amigo-baseline`: this session against a stored earlier run, in the terminal and the JSON
report; `--amigo-fail-on-regression` makes a regression fail the session."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from conftest import METRICS, Suite

THREE = [
    '{metric: Empathy Score, expect: ">= 7"}',
    "{metric: Outcome, expect: resolved}",
    "{metric: Identity Verified, expect: true}",
]
COLD = '["you are cold"]'


def judge(value: object) -> str:
    return json.dumps({"value": value, "justification": f"judged {value}", "references": []})


def run_ids(suite: Suite) -> list[str]:
    return [r["id"] for r in suite.rows("SELECT id FROM runs ORDER BY started_at")]


def section(output: str) -> str:
    start = output.index("== amigo baseline ==")
    return output[start : output.index("\n==", start + 1)]


def test_a_pass_rate_below_the_baseline_interval_regresses_and_can_fail_the_session(
    suite: Suite,
) -> None:
    suite.standard()
    suite.unit_test(runs=10, extra="min_pass_rate: 0.5\n")
    options = ("--amigo-judge-model", "scripted/judge")
    suite.scripted({"judge": [judge(9)]})
    suite.pytester.runpytest(*options).assert_outcomes(passed=1)
    (first,) = run_ids(suite)

    suite.scripted({"judge": [judge(9)] * 6 + [judge(2)] * 4})
    result = suite.pytester.runpytest(*options, "--amigo-baseline", "latest")
    result.assert_outcomes(passed=1)  # still above min_pass_rate...
    assert result.ret == pytest.ExitCode.OK, "without the flag a regression is only shown"
    shown = section(result.stdout.str())
    assert f"compared with run {first} " in shown and ": 1 regressed" in shown
    assert (
        "REGRESSED tests.amigo.yaml::password reset  passed -> passed; pass rate 100 % -> 60 %"
        in shown
    )
    assert "          Empathy Score v1: mean 9 -> 6.2" in shown
    assert "--amigo-fail-on-regression" not in result.stdout.str()

    suite.scripted({"judge": [judge(9)] * 6 + [judge(2)] * 4})
    gate = suite.pytester.runpytest(
        *options, "--amigo-baseline", first, "--amigo-fail-on-regression"
    )
    gate.assert_outcomes(passed=1)
    assert gate.ret == pytest.ExitCode.TESTS_FAILED
    gate.stdout.fnmatch_lines(
        [
            "the session fails (--amigo-fail-on-regression): 1 regressed against run "
            f"{first}: tests.amigo.yaml::password reset"
        ]
    )

    suite.scripted({"judge": [judge(9)] * 8 + [judge(2)] * 2})  # 80 %: within the interval
    calm = suite.pytester.runpytest(
        *options, "--amigo-baseline", first, "--amigo-fail-on-regression"
    )
    assert calm.ret == pytest.ExitCode.OK
    assert "UNCHANGED tests.amigo.yaml::password reset" in section(calm.stdout.str())


def comparison_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert report["comparison"] is not None
    return {t["nodeid"]: t for t in report["comparison"]["tests"]}


def test_both_reports_show_regressed_improved_new_and_removed_tests_under_xdist(
    suite: Suite,
) -> None:
    suite.standard()
    suite.unit_test(file="stays.amigo.yaml", name="stays", runs=2, expectations=THREE)
    suite.unit_test(file="breaks.amigo.yaml", name="breaks", expectations=THREE)
    suite.unit_test(file="heals.amigo.yaml", name="heals", script=COLD)
    suite.unit_test(file="goes.amigo.yaml", name="goes")
    suite.pytester.runpytest().assert_outcomes(passed=3, failed=1)
    (first,) = run_ids(suite)

    suite.unit_test(file="breaks.amigo.yaml", name="breaks", script=COLD, expectations=THREE)
    suite.unit_test(file="heals.amigo.yaml", name="heals")
    (suite.path / "goes.amigo.yaml").unlink()
    suite.unit_test(file="comes.amigo.yaml", name="comes")
    args = ("-p", "xdist", "-n", "2", "--amigo-baseline", "latest", "--amigo-json", "r.json")
    result = suite.pytester.runpytest_subprocess(*args, "--amigo-fail-on-regression")
    result.assert_outcomes(passed=3, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert out.count("== amigo baseline ==") == 1
    shown = section(out)
    assert "1 regressed, 1 improved, 1 unchanged, 1 new, 1 not run" in shown
    for line in (
        "REGRESSED breaks.amigo.yaml::breaks  passed -> failed; pass rate 100 % -> 0 %",
        "          Empathy Score v1: mean 10 -> 1",
        "          Outcome v1: resolved x1 -> n/a x1",
        "          Identity Verified v1: true x1 -> false x1",
        "IMPROVED  heals.amigo.yaml::heals  failed -> passed; pass rate 0 % -> 100 %",
        "UNCHANGED stays.amigo.yaml::stays  passed -> passed; pass rate 100 % -> 100 %",
        "NEW       comes.amigo.yaml::comes  passed; pass rate 100 %",
        "NOT RUN   goes.amigo.yaml::goes  in the baseline: passed, pass rate 100 %",
    ):
        assert line in shown, line
    result.stdout.fnmatch_lines(["the session fails (--amigo-fail-on-regression): 1 regressed*"])

    report = json.loads((suite.path / "r.json").read_text())
    assert report["comparison"]["baseline_run_id"] == first
    assert report["comparison"]["regressed"] == ["breaks.amigo.yaml::breaks"]
    tests = comparison_of(report)
    statuses = {nodeid: t["status"] for nodeid, t in tests.items()}
    assert statuses == {
        "breaks.amigo.yaml::breaks": "regressed",
        "heals.amigo.yaml::heals": "improved",
        "stays.amigo.yaml::stays": "unchanged",
        "comes.amigo.yaml::comes": "new",
        "goes.amigo.yaml::goes": "removed",
    }
    breaks = tests["breaks.amigo.yaml::breaks"]
    assert (breaks["baseline_outcome"], breaks["outcome"]) == ("passed", "failed")
    assert (breaks["baseline_pass_rate"], breaks["pass_rate"]) == (1.0, 0.0)
    metrics = {m["metric_name"]: m for m in breaks["metrics"]}
    assert metrics["Empathy Score"]["metric_type"] == "numerical"
    assert (metrics["Empathy Score"]["baseline_mean"], metrics["Empathy Score"]["mean"]) == (10, 1)
    assert metrics["Outcome"]["metric_type"] == "categorical"
    assert metrics["Outcome"]["baseline_distribution"] == {"resolved": 1}
    assert metrics["Outcome"]["distribution"] == {"n/a": 1}
    assert metrics["Identity Verified"]["distribution"] == {"false": 1}
    stays = {m["metric_name"]: m for m in tests["stays.amigo.yaml::stays"]["metrics"]}
    assert stays["Identity Verified"]["baseline_distribution"] == {"true": 2}
    assert all(not m["version_changed"] for m in stays.values())


def test_metric_versions_that_differ_are_flagged(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(expectations=THREE)
    suite.pytester.runpytest().assert_outcomes(passed=1)
    suite.write("metrics.amigo.yaml", METRICS.replace("and reassure?", "and reassure the user?"))
    result = suite.pytester.runpytest("--amigo-baseline", "latest", "--amigo-json", "r.json")
    result.assert_outcomes(passed=1)
    assert (
        "          Empathy Score v1 -> v2 (versions differ: the values measure different "
        "things): mean 10 -> 10" in section(result.stdout.str())
    )
    (test,) = comparison_of(json.loads((suite.path / "r.json").read_text())).values()
    flags = {m["metric_name"]: m["version_changed"] for m in test["metrics"]}
    assert flags == {"Empathy Score": True, "Outcome": False, "Identity Verified": False}
    versions = {m["metric_name"]: (m["baseline_version"], m["version"]) for m in test["metrics"]}
    assert versions["Empathy Score"] == (1, 2)


def test_a_change_undone_is_a_new_version_of_the_same_definition_not_flagged(
    suite: Suite,
) -> None:
    suite.standard()
    suite.unit_test(expectations=THREE)
    suite.pytester.runpytest().assert_outcomes(passed=1)
    first = run_ids(suite)[0]
    suite.write("metrics.amigo.yaml", METRICS.replace("and reassure?", "and reassure the user?"))
    suite.pytester.runpytest().assert_outcomes(passed=1)
    suite.write("metrics.amigo.yaml", METRICS)  # changed back: version 3, as the API makes it
    result = suite.pytester.runpytest("--amigo-baseline", first, "--amigo-json", "r.json")
    result.assert_outcomes(passed=1)
    assert "versions differ" not in section(result.stdout.str())
    (test,) = comparison_of(json.loads((suite.path / "r.json").read_text())).values()
    (empathy,) = [m for m in test["metrics"] if m["metric_name"] == "Empathy Score"]
    assert (empathy["same_definition"], empathy["version_changed"]) == (True, False)
    compared = suite.pytester.run(
        sys.executable, "-m", "pytest_amigo_metrics", "compare", first, "latest"
    )
    assert compared.ret == 0
    compared.stdout.fnmatch_lines(["UNCHANGED tests.amigo.yaml::password reset  *"])
    assert "versions differ" not in compared.stdout.str()


def test_an_unknown_baseline_is_a_usage_error_before_any_conversation(suite: Suite) -> None:
    suite.standard()
    suite.scripted({"judge": [judge(9)]})
    suite.unit_test()
    options = ("--amigo-judge-model", "scripted/judge")
    missing = suite.pytester.runpytest(*options, "--amigo-baseline", "0" * 24)
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["ERROR: --amigo-baseline 000*: there is no results store at *"])
    suite.pytester.runpytest(*options).assert_outcomes(passed=1)
    calls = len(suite.calls())
    unknown = suite.pytester.runpytest(*options, "--amigo-baseline", "0" * 24)
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    unknown.stderr.fnmatch_lines(
        [
            "ERROR: --amigo-baseline 000*: *holds no run '000*'; `python -m pytest_amigo_metrics runs`*"
        ]
    )
    assert len(suite.calls()) == calls, "no conversation started"


def test_latest_with_no_earlier_run_compares_nothing_and_passes(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    first = suite.pytester.runpytest("--amigo-baseline", "latest", "--amigo-fail-on-regression")
    assert first.ret == pytest.ExitCode.OK
    first.stdout.fnmatch_lines(["amigo baseline: no earlier run in *: nothing to compare with"])
    second = suite.pytester.runpytest("--amigo-baseline", "latest")
    assert "== amigo baseline ==" in second.stdout.str(), "the first run is the next baseline"


def test_a_session_where_no_test_ran_compares_nothing(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.pytester.runpytest().assert_outcomes(passed=1)
    suite.write("broken.amigo.yaml", "simulation_unit_tests: [{name: x, persona: 3}]\n")
    result = suite.pytester.runpytest("--amigo-baseline", "latest", "--amigo-json", "r.json")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert "== amigo baseline ==" not in out and "NOT RUN" not in out
    result.stdout.fnmatch_lines(["amigo baseline: no test ran: nothing to compare with"])
    assert json.loads((suite.path / "r.json").read_text())["comparison"] is None
    (suite.path / "broken.amigo.yaml").unlink()
    selected_none = suite.pytester.runpytest("--amigo-baseline", "latest", "-k", "nomatch")
    assert selected_none.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "NOT RUN" not in selected_none.stdout.str()
    selected_none.stdout.fnmatch_lines(["amigo baseline: no test ran: nothing to compare with"])


STOP_AFTER_FIRST = """
import os

def pytest_runtest_logreport(report):
    if os.environ.get("STOP_NOW") and report.when == "teardown":
        raise KeyboardInterrupt  # as Ctrl-C after the first test
"""


def test_an_interrupted_session_is_marked_and_never_the_latest_baseline(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.standard()
    suite.unit_test(name="first")
    suite.unit_test(file="second.amigo.yaml", name="second")
    suite.pytester.runpytest().assert_outcomes(passed=2)
    suite.write("conftest.py", STOP_AFTER_FIRST)
    monkeypatch.setenv("STOP_NOW", "1")
    stopped = suite.pytester.runpytest(no_reraise_ctrlc=True)
    assert stopped.ret == pytest.ExitCode.INTERRUPTED
    monkeypatch.delenv("STOP_NOW")
    complete, interrupted = run_ids(suite)
    runs = suite.pytester.run(sys.executable, "-m", "pytest_amigo_metrics", "runs")
    runs.stdout.fnmatch_lines([f"{interrupted}  * (interrupted) *"])
    again = suite.pytester.runpytest("--amigo-baseline", "latest")
    again.assert_outcomes(passed=2)
    again.stdout.fnmatch_lines([f"compared with run {complete} *: 2 unchanged"])
    assert interrupted not in section(again.stdout.str())
