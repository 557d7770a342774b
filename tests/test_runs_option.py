"""--amigo-runs overrides every test's `runs`; the pass-rate requirement stays a rate."""

from __future__ import annotations

import json

import pytest
from junit_props import junit_properties

from conftest import Suite


def verdict(value: int) -> str:
    return json.dumps({"value": value, "justification": "j", "references": []})


def test_a_smoke_run_of_one_conversation_per_test(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(name="three", runs=3)
    suite.unit_test(file="other.amigo.yaml", name="five", runs=5)
    result = suite.pytester.runpytest("--amigo-runs", "1")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "PASSED  other.amigo.yaml::five  1/1 runs passed*",
            "PASSED  tests.amigo.yaml::three  1/1 runs passed*",
        ]
    )
    assert len(suite.rows("SELECT * FROM conversations")) == 2


def test_more_runs_keep_min_pass_rate_a_rate(suite: Suite) -> None:
    suite.standard()
    suite.scripted({"judge": [verdict(9), verdict(2), verdict(9), verdict(2)]})
    suite.unit_test(runs=1, extra="min_pass_rate: 0.5\n")
    result = suite.pytester.runpytest(
        "--amigo-runs", "4", "--amigo-concurrency", "1", "--amigo-judge-model", "scripted/judge"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["PASSED  *2/4 runs passed (50 %, 95 % CI 15*85 %), required 50 %"])
    assert len([c for c in suite.calls() if c["model"] == "judge"]) == 4

    suite.scripted({"judge": [verdict(9), verdict(2), verdict(2), verdict(9)]})
    suite.unit_test(runs=1, extra="min_pass_rate: 0.75\n")
    result = suite.pytester.runpytest(
        "--amigo-runs", "4", "--amigo-concurrency", "1", "--amigo-judge-model", "scripted/judge"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*2 of 4 runs met every expectation (pass rate 50%, required 75%)"]
    )


def test_environment_and_ini_set_it_and_the_command_line_wins(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.standard()
    suite.unit_test(runs=1)
    suite.pytester.makeini("[pytest]\namigo_runs = 2\n")
    suite.pytester.runpytest().stdout.fnmatch_lines(["PASSED  *2/2 runs passed*"])
    monkeypatch.setenv("AMIGO_METRICS_RUNS", "3")
    suite.pytester.runpytest().stdout.fnmatch_lines(["PASSED  *3/3 runs passed*"])
    result = suite.pytester.runpytest("--amigo-runs", "1", "--junitxml=o.xml")
    result.stdout.fnmatch_lines(["PASSED  *1/1 runs passed*"])
    assert junit_properties(suite.path / "o.xml")["password reset"]["amigo.pass_rate"] == "1/1"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "0",
            "*--amigo-runs / AMIGO_METRICS_RUNS / ini amigo_runs: 0 is not allowed: give a "
            "whole number from 1 to 100, as in the YAML*",
        ),
        ("-2", "*--amigo-runs*-2 is not allowed*"),
        ("101", "*--amigo-runs*101 is not allowed: give a whole number from 1 to 100*"),
        ("two", "*--amigo-runs: 'two' is not a whole number*"),
        ("1.5", "*--amigo-runs: '1.5' is not a whole number*"),
    ],
)
def test_a_bad_value_is_a_usage_error(suite: Suite, value: str, message: str) -> None:
    suite.standard()
    suite.unit_test()
    result = suite.pytester.runpytest(f"--amigo-runs={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert not suite.store.exists()


def test_under_xdist_every_worker_runs_the_overridden_count(suite: Suite) -> None:
    suite.standard()
    for index in range(3):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}", runs=1)
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "--amigo-runs", "2")
    result.assert_outcomes(passed=3)
    for index in range(3):
        result.stdout.fnmatch_lines([f"PASSED  t{index}.amigo.yaml::case {index}  2/2 runs*"])
    assert len(suite.rows("SELECT * FROM conversations")) == 6


@pytest.mark.parametrize("value", ["0", "26"])
def test_judge_samples_from_the_command_line_hold_to_the_yaml_bounds(
    suite: Suite, value: str
) -> None:
    suite.standard()
    suite.unit_test()
    result = suite.pytester.runpytest(f"--amigo-judge-samples={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--amigo-judge-samples*{value} is not allowed: give a whole number from 1 to 25*"]
    )
    assert not suite.store.exists()
