"""Everyday pytest workflows: metrics are the project's, whatever subset pytest collects."""

from __future__ import annotations

import pytest

from conftest import AGENT, METRICS, Suite


@pytest.fixture
def project(suite: Suite) -> Suite:
    """Metrics in their own file, as README's layout keeps them; a passing and a failing test."""
    suite.standard()
    suite.unit_test(file="good.amigo.yaml", name="warm")
    suite.unit_test(file="bad.amigo.yaml", name="cold", script='["you are cold"]')
    return suite


def test_a_single_file_knows_the_metrics_of_the_project(project: Suite) -> None:
    result = project.pytester.runpytest("good.amigo.yaml")
    result.assert_outcomes(passed=1)
    assert "unknown metric" not in result.stdout.str()


def test_a_node_id_knows_the_metrics_of_the_project(project: Suite) -> None:
    project.pytester.runpytest("good.amigo.yaml::warm").assert_outcomes(passed=1)


def test_a_node_id_under_xdist(project: Suite) -> None:
    result = project.pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "bad.amigo.yaml::cold")
    result.assert_outcomes(failed=1)
    assert "unknown metric" not in result.stdout.str()


def test_last_failed_and_failed_first_and_stepwise(project: Suite) -> None:
    project.pytester.runpytest().assert_outcomes(passed=1, failed=1)
    last_failed = project.pytester.runpytest("--lf")
    last_failed.assert_outcomes(failed=1)  # metrics.amigo.yaml is not collected, yet known
    last_failed.stdout.fnmatch_lines(["*run-last-failure*"])
    project.pytester.runpytest("--ff").assert_outcomes(passed=1, failed=1)
    project.pytester.runpytest("--sw").assert_outcomes(failed=1)
    project.pytester.runpytest("--sw").assert_outcomes(failed=1)


def test_metrics_in_a_parent_directory_are_found_like_conftest_files(suite: Suite) -> None:
    suite.write("suites/metrics.amigo.yaml", METRICS)
    suite.write("suites/agent.py", "def respond(messages):\n    return 'Resolved, I apologise.'\n")
    suite.unit_test(file="suites/billing/refund.amigo.yaml", name="refund")
    suite.write("suites/billing/agent.py", "def respond(messages):\n    return 'ok'\n")
    result = suite.pytester.runpytest("suites/billing/refund.amigo.yaml")
    assert "unknown metric" not in result.stdout.str()
    result.assert_outcomes(failed=1)


def test_testpaths_are_searched_when_running_one_file_elsewhere(suite: Suite) -> None:
    suite.write("pytest.ini", "[pytest]\ntestpaths = shared\n")
    suite.write("shared/metrics.amigo.yaml", METRICS)
    suite.standard()
    (suite.path / "metrics.amigo.yaml").unlink()
    suite.unit_test(file="work/t.amigo.yaml", name="t")
    suite.write("work/agent.py", (suite.path / "agent.py").read_text())
    suite.pytester.runpytest("work/t.amigo.yaml").assert_outcomes(passed=1)


def test_metrics_in_ignored_directories_are_not_the_projects(suite: Suite) -> None:
    suite.write("build/metrics.amigo.yaml", METRICS)  # build/ is in norecursedirs
    suite.write("agent.py", "def respond(messages):\n    return 'ok'\n")
    suite.unit_test(name="t")
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown metric 'Empathy Score'*"])


def test_a_repository_checked_out_inside_the_project_is_another_project(project: Suite) -> None:
    """The README's CI recipe may install the plugin from a checkout in the workspace: its
    example suite declares the same metrics, and is not this project's."""
    vendored = project.path / "tools" / "pytest-amigo-metrics"
    (vendored / ".git").mkdir(parents=True)
    project.write("tools/pytest-amigo-metrics/examples/metrics.amigo.yaml", METRICS)
    project.pytester.runpytest("good.amigo.yaml").assert_outcomes(passed=1)
    project.pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "good.amigo.yaml", "bad.amigo.yaml"
    ).assert_outcomes(passed=1, failed=1)
    project.write("tools/pytest-amigo-metrics/examples/agent.py", AGENT)
    project.unit_test(file="tools/pytest-amigo-metrics/examples/t.amigo.yaml", name="theirs")
    # Run there, it is that project's suite, with that project's metrics.
    inside = project.pytester.runpytest("tools/pytest-amigo-metrics/examples/t.amigo.yaml")
    inside.assert_outcomes(errors=1)
    inside.stdout.fnmatch_lines(
        ["*metric 'Empathy Score' is already declared at metrics.amigo.yaml:2", "*testpaths*"]
    )


def test_an_unknown_metric_gets_the_closest_declared_names(project: Suite) -> None:
    project.unit_test(
        file="typo.amigo.yaml", name="typo", expectations=["{metric: Empathy Scor, expect: '>= 7'}"]
    )
    project.unit_test(
        file="case.amigo.yaml", name="case", expectations=["{metric: outcome, expect: resolved}"]
    )
    result = project.pytester.runpytest("typo.amigo.yaml", "case.amigo.yaml")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "typo.amigo.yaml:*.metric: unknown metric 'Empathy Scor'",
            "    fix: did you mean 'Empathy Score'? *declared: Empathy Score, Identity Verified, Outcome",
        ]
    )
    result.stdout.fnmatch_lines(["    fix: did you mean 'Outcome'? *"])


def test_a_broken_metric_file_is_one_error_not_a_cascade(project: Suite) -> None:
    for index in range(5):
        project.unit_test(file=f"more{index}.amigo.yaml", name=f"more {index}")
    project.write("metrics.amigo.yaml", METRICS.replace("description:", "descripton:", 1))
    for args in [(), ("good.amigo.yaml",)]:
        result = project.pytester.runpytest(*args)
        result.assert_outcomes(errors=1)
        out = result.stdout.str()
        result.stdout.fnmatch_lines(
            ["metrics.amigo.yaml:3: metrics[[]0].descripton: unknown key 'descripton'"]
        )
        assert "unknown metric" not in out
        assert "declared with errors" not in out
        assert "required field is missing" not in out, "the misspelt key is the one problem"
        assert "Interrupted: 1 error during collection" in out


def test_unreadable_yaml_in_a_metric_file_is_one_error(project: Suite) -> None:
    project.write("metrics.amigo.yaml", METRICS + "\n  - name: [unclosed\n")
    result = project.pytester.runpytest("good.amigo.yaml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["metrics.amigo.yaml:*: invalid YAML*"])
    assert "unknown metric" not in result.stdout.str()


def test_a_duplicate_declaration_is_reported_once_wherever_pytest_looks(project: Suite) -> None:
    project.write("zz_more_metrics.amigo.yaml", METRICS)
    result = project.pytester.runpytest("good.amigo.yaml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "zz_more_metrics.amigo.yaml:2: metrics[0].name: metric 'Empathy Score' is already declared at metrics.amigo.yaml:2"
        ]
    )


def test_the_plugin_can_be_switched_off_for_a_run(project: Suite) -> None:
    result = project.pytester.runpytest_subprocess("-p", "no:amigo_metrics")
    assert result.ret == 5  # no tests collected
    assert not project.store.exists()


def test_an_option_value_pytest_took_for_a_test_path_is_a_usage_error(
    project: Suite, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest picks the rootdir before it knows the plugin's options: `--amigo-store PATH`
    (a space, the file outside the project and there already) would move it."""
    project.write("pytest.ini", "[pytest]\n")
    store = tmp_path_factory.mktemp("ci-cache") / "results.sqlite3"
    project.pytester.runpytest(f"--amigo-store={store}").assert_outcomes(passed=1, failed=1)
    moved = project.pytester.runpytest_subprocess("--amigo-store", str(store))
    assert moved.ret == pytest.ExitCode.USAGE_ERROR
    moved.stderr.fnmatch_lines(
        [
            f"ERROR: pytest chose the rootdir * because it read *, the value of --amigo-store, "
            f"as a test path*Write --amigo-store={store}"
        ]
    )
    monkeypatch.setenv("PYTEST_ADDOPTS", f"--amigo-store {store}")
    via_env = project.pytester.runpytest_subprocess()
    assert via_env.ret == pytest.ExitCode.USAGE_ERROR
    via_env.stderr.fnmatch_lines(["ERROR: pytest chose the rootdir *the value of --amigo-store*"])
    monkeypatch.delenv("PYTEST_ADDOPTS")
    inside = project.pytester.runpytest("--amigo-json", "out.json")  # inside: harmless
    inside.assert_outcomes(passed=1, failed=1)
    project.pytester.runpytest("--amigo-json", "out.json").assert_outcomes(passed=1, failed=1)
