"""YAML suite files become pytest items."""

from __future__ import annotations

from conftest import Suite


def test_collect_only_lists_one_item_per_simulation_unit_test(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(name="password reset")
    suite.unit_test(file="more.amigo.yaml", name="angry customer")
    result = suite.pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "more.amigo.yaml::angry customer",
            "tests.amigo.yaml::password reset",
            "2 tests collected*",
        ]
    )
    assert not suite.store.exists(), "collect-only must not write to the store"


def test_k_selects_by_test_name_and_marker_selects_all(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(name="password reset")
    suite.unit_test(file="more.amigo.yaml", name="angry customer")
    result = suite.pytester.runpytest("-k", "angry", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*more.amigo.yaml::angry customer PASSED*"])
    suite.pytester.runpytest("-m", "not amigo").assert_outcomes(deselected=2)


def test_a_deselected_test_is_not_checked(suite: Suite) -> None:
    """-k, -m and --deselect come first: a test left out neither stops the session with its
    problems nor starts litellm's import for its models."""
    suite.standard()
    suite.unit_test(name="good one")
    suite.unit_test(
        file="broken.amigo.yaml",
        name="broken one",
        expectations=["{metric: No Such Metric, expect: true}"],
    )
    result = suite.pytester.runpytest("-k", "good")
    result.assert_outcomes(passed=1, deselected=1)
    assert "No Such Metric" not in result.stdout.str()
    result = suite.pytester.runpytest("-k", "broken")
    result.assert_outcomes(errors=1, deselected=1)
    result.stdout.fnmatch_lines(["*unknown metric 'No Such Metric'*"])


def test_other_yaml_files_are_ignored_and_pattern_is_configurable(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(file="tests.yaml")
    suite.pytester.runpytest("--collect-only", "-q").stdout.fnmatch_lines(["*no tests collected*"])
    suite.write("pytest.ini", "[pytest]\namigo_file_pattern = *.amigo.yaml tests.yaml\n")
    result = suite.pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["tests.yaml::password reset"])


def test_metrics_may_be_declared_in_a_file_collected_after_the_tests(suite: Suite) -> None:
    suite.write("a/agent.py", "def respond(m):\n    return 'resolved'\n")
    suite.unit_test(file="a/tests.amigo.yaml", expectations=["{metric: Outcome, expect: resolved}"])
    from conftest import METRICS

    suite.write("z/metrics.amigo.yaml", METRICS)
    suite.pytester.runpytest().assert_outcomes(passed=1)


def test_defaults_block_supplies_target_runs_and_turns(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "d.amigo.yaml",
        """
        defaults:
          target: {python: "agent:respond"}
          runs: 3
          max_turns: 1
        simulation_unit_tests:
          - name: from defaults
            persona: {name: Sam, background: b}
            scenario: {name: s, objective: o, instructions: i}
            script: ["one", "two", "three"]
            metrics:
              - {metric: Outcome, expect: resolved}
        """,
    )
    result = suite.pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*3/3 runs passed*", "*Outcome v1 = resolved, resolved, resolved*"]
    )
    counts = suite.rows("SELECT run_index, end_reason, messages FROM conversations")
    assert len(counts) == 3
    assert all(r["end_reason"] == "max_turns" for r in counts)
    assert all(r["messages"].count('"role": "user"') == 1 for r in counts)


def test_collection_does_not_import_litellm_or_the_amigo_sdk(suite: Suite) -> None:
    """litellm costs about 2 s and 170 MB to import, amigo-sdk 0.7 s: only a process that
    calls a model (or the Amigo API) pays."""
    suite.standard()
    suite.unit_test()
    suite.write(
        "amigo.amigo.yaml",
        suite.unit_test()
        .read_text()
        .replace(
            'target: {python: "agent:respond"}',
            'target: {amigo: {service_id: "6618791275130b73714e8d1c"}}',
        )
        .replace("password reset", "on amigo"),
    )
    suite.write(
        "conftest.py",
        """
        import sys

        def pytest_collection_finish(session):
            print("litellm imported at collection:", "litellm" in sys.modules)
            print("amigo_sdk imported at collection:", "amigo_sdk" in sys.modules)
        """,
    )
    result = suite.pytester.runpytest_subprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["litellm imported at collection: False", "amigo_sdk imported at collection: False"]
    )
    result.stdout.fnmatch_lines(["*amigo.amigo.yaml::on amigo"])
