"""`python -m pytest_amigo_metrics`: `validate` checks suite files as pytest's collection does;
`schema` prints the JSON Schema that ships with the package, for editors."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import METRICS, TEST_TEMPLATE, Suite, expectation_lines
from pytest_amigo_metrics.errors import SpecError
from pytest_amigo_metrics.suite.loader import load_suite
from pytest_amigo_metrics.suite.suite_schema import (
    FIELD_DESCRIPTIONS,
    schema_text,
    shipped_schema_path,
    stale_descriptions,
    suite_schema,
)
from pytest_amigo_metrics.validate_command import Problem

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
REGENERATE = "python -m pytest_amigo_metrics schema > pytest_amigo_metrics/suite/suite.schema.json"


def cli(suite: Suite, *args: str) -> pytest.RunResult:
    return suite.pytester.run(sys.executable, "-m", "pytest_amigo_metrics", *args)


def problem_lines(suite: Suite, *args: str) -> list[str]:
    """What validate prints before its summary line, after checking it failed with problems."""
    result = cli(suite, "validate", *args)
    assert result.ret == 1, result.stdout.str() + result.stderr.str()
    assert result.outlines[-1].endswith(("; 1 problem", "problems"))
    return result.outlines[:-1]


def assert_pytest_shows(suite: Suite, lines: list[str]) -> None:
    """pytest's own collection reports each of these lines, verbatim."""
    collected = suite.pytester.runpytest("--collect-only")
    assert collected.ret == pytest.ExitCode.INTERRUPTED
    for line in lines:
        assert line in collected.outlines


# --- validate ---------------------------------------------------------------------------------


def test_validate_passes_a_clean_suite_with_a_summary(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(name="password reset")
    suite.unit_test(file="more.amigo.yaml", name="angry customer")
    result = cli(suite, "validate")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert result.outlines == ["3 suite files checked: 2 tests, 3 metrics; no problems"]
    assert result.errlines == []
    assert not suite.store.exists(), "validate must not write to the store"


def test_validate_reports_an_unknown_key_as_pytest_does(suite: Suite) -> None:
    suite.write(
        "m.amigo.yaml",
        """
        metrics:
          - name: Outcome
            descripton: Classify how it ended.
            metric_value: {type: categorical, categories: [resolved]}
        """,
    )
    lines = problem_lines(suite)
    assert lines[0] == "m.amigo.yaml:3: metrics[0].descripton: unknown key 'descripton'"
    assert lines[1].startswith("    fix: did you mean `description`? allowed keys: ")
    assert_pytest_shows(suite, lines)


def test_validate_reports_an_unknown_metric_in_an_expectation(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(expectations=['{metric: Empathy Scor, expect: ">= 7"}'])
    result = cli(suite, "validate")
    assert result.ret == 1
    assert result.outlines[0] == (
        "tests.amigo.yaml:9: simulation_unit_tests['password reset'].metrics[0].metric: "
        "unknown metric 'Empathy Scor'"
    )
    assert result.outlines[1].startswith("    fix: did you mean 'Empathy Score'?")
    assert result.outlines[2:] == ["2 suite files checked: 0 tests, 3 metrics; 1 problem"]
    assert_pytest_shows(suite, result.outlines[:2])


def test_validate_reports_invalid_yaml_and_counts_every_problem(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.write("broken.amigo.yaml", "simulation_unit_tests:\n  - name: [unclosed\n")
    suite.write(
        "typos.amigo.yaml",
        """
        metrics:
          - name: M
            descripton: d
            metric_value: {type: boolen}
        """,
    )
    result = cli(suite, "validate")
    assert result.ret == 1
    out = result.outlines
    assert out[0].startswith("broken.amigo.yaml:3: invalid YAML: ")
    assert out[1] == (
        "    fix: check indentation and quoting near that line (quote strings such as '>= 7')"
    )
    assert [line.split(": ")[0:2] for line in out[2:] if not line.startswith(" ")] == [
        ["typos.amigo.yaml:3", "metrics[0].descripton"],
        ["typos.amigo.yaml:4", "metrics[0].metric_value.type"],
        ["4 suite files checked", "1 test, 3 metrics; 3 problems"],
    ]
    assert_pytest_shows(suite, out[:-1])


def test_validate_honours_the_amigo_file_pattern_ini(suite: Suite) -> None:
    suite.write("pytest.ini", "[pytest]\namigo_file_pattern = *.suite.yaml\n")
    suite.write("metrics.suite.yaml", METRICS)
    suite.write("agent.py", "def respond(m):\n    return 'resolved'\n")
    suite.unit_test(file="tests.suite.yaml")
    suite.write("ignored.amigo.yaml", "not: [a suite")
    result = cli(suite, "validate")
    assert result.ret == 0, result.stdout.str()
    assert result.outlines == ["2 suite files checked: 1 test, 3 metrics; no problems"]


def test_validate_honours_conftest_files(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.write("conftest.py", 'collect_ignore = ["drafts"]\n')
    suite.write("drafts/wip.amigo.yaml", "simulation_unit_tests: [oops\n")
    result = cli(suite, "validate")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert result.outlines == ["2 suite files checked: 1 test, 3 metrics; no problems"]


def test_validate_given_one_file_checks_that_file(suite: Suite) -> None:
    """As `pytest tests.amigo.yaml`: the project's metrics are known, other tests are not
    checked."""
    suite.standard()
    suite.unit_test()
    suite.unit_test(
        file="other.amigo.yaml", expectations=["{metric: Nope, expect: true}"], name="other"
    )
    result = cli(suite, "validate", "tests.amigo.yaml")
    assert result.ret == 0, result.stdout.str()
    assert result.outlines == ["1 suite file checked: 1 test, 3 metrics; no problems"]
    result = cli(suite, "validate", "other.amigo.yaml")
    assert result.ret == 1
    assert result.outlines[0].startswith("other.amigo.yaml:9: ")
    assert result.outlines[-1] == "1 suite file checked: 0 tests, 3 metrics; 1 problem"


# Runs the command line as `python -m` does, then lists the modules loaded by the end.
AT_EXIT = """
import atexit, runpy, sys

def loaded():
    print("loaded:", " ".join(sorted(m for m in sys.modules if not m.startswith("_"))))

atexit.register(loaded)
sys.argv = ["pytest_amigo_metrics", *sys.argv[1:]]
runpy.run_module("pytest_amigo_metrics", run_name="__main__", alter_sys=True)
"""


def test_validate_counts_a_problem_with_more_lines_once_each(suite: Suite) -> None:
    suite.standard()
    text = suite.unit_test(file="tmp.amigo.yaml", name="one").read_text()
    two = text + text.split("simulation_unit_tests:\n", 1)[1].replace("name: one", "name: two")
    suite.write(
        "t.amigo.yaml",
        two.replace("agent:respond", "agentz:respond", 1).replace("agent:respond", "agent:rspond"),
    )
    (suite.path / "tmp.amigo.yaml").unlink()
    result = cli(suite, "validate")
    assert result.ret == 1
    assert "ERROR collecting" not in result.stdout.str()
    assert "    looked in: " in result.stdout.str()
    assert result.outlines[-1].endswith("; 2 problems")


def test_validate_reports_a_model_no_provider_accepts_as_pytest_does(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(extra="models: {judge: opneai/gpt-4o-mini}\n")
    result = cli(suite, "validate")
    assert result.ret == 1, result.stdout.str() + result.stderr.str()
    assert result.outlines[0] == (
        "tests.amigo.yaml:10: simulation_unit_tests['password reset'].models.judge: no litellm provider accepts the model "
        "'opneai/gpt-4o-mini'"
    )
    assert result.outlines[-1].endswith("; 1 problem")
    shown = suite.pytester.runpytest().stdout.str()
    assert result.outlines[0] in shown


def test_a_tests_expectation_and_model_problems_show_in_one_run(suite: Suite) -> None:
    """Fixing a bad expectation should not reveal the same test's bad model only then."""
    suite.standard()
    suite.unit_test(
        expectations=['{metric: Empathy Score, expect: ">= 11"}'],
        extra="models: {judge: opneai/gpt-4o-mini}\n",
    )
    for result in (cli(suite, "validate"), suite.pytester.runpytest()):
        text = result.stdout.str()
        assert "threshold 11 is outside the metric's bounds" in text, text
        assert "no litellm provider accepts the model 'opneai/gpt-4o-mini'" in text, text
    result.assert_outcomes(errors=1)  # one error for the test, with both problems
    assert suite.calls() == []


def test_validate_imports_neither_litellm_nor_test_modules(suite: Suite) -> None:
    """litellm costs about 2 s to import; test modules may do anything at import time."""
    suite.standard()
    suite.unit_test()
    suite.write("test_module.py", "open('imported.txt', 'w').close()\n")
    result = suite.pytester.run(sys.executable, "-c", AT_EXIT, "validate")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert result.outlines[0] == "2 suite files checked: 1 test, 3 metrics; no problems"
    loaded = set(result.outlines[1].removeprefix("loaded: ").split())
    assert {"pytest_amigo_metrics.plugin", "pytest_amigo_metrics.items", "yaml"} <= loaded
    assert not {m for m in loaded if m.split(".")[0] in ("litellm", "openai", "amigo_sdk")}
    assert "test_module" not in loaded
    assert not (suite.path / "imported.txt").exists()


def test_validate_the_examples_from_a_checkout_of_the_plugin(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run where the plugin's own sources are importable (as in a checkout with an editable
    install): nothing about the already-imported package is reported."""
    monkeypatch.setenv("AMIGO_METRICS_STORE", str(suite.path / "results.sqlite3"))
    monkeypatch.chdir(EXAMPLES.parent)
    result = cli(suite, "validate", "examples")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert result.outlines == ["2 suite files checked: 4 tests, 3 metrics; no problems"]
    assert result.errlines == []
    assert not (suite.path / "results.sqlite3").exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing.amigo.yaml", "ERROR: file or directory not found: missing.amigo.yaml"),
        (
            "test_module.py",
            "error: test_module.py: not a suite file (amigo_file_pattern: *.amigo.yaml)",
        ),
    ],
)
def test_validate_usage_errors_exit_4(suite: Suite, path: str, message: str) -> None:
    suite.write("test_module.py", "open('imported.txt', 'w').close()\n")
    result = cli(suite, "validate", path)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.errlines
    assert result.outlines == []
    assert not (suite.path / "imported.txt").exists()


def test_validate_shows_collection_warnings(suite: Suite) -> None:
    suite.standard()
    suite.write("pytest.ini", "[pytest]\namigo_file_patern = *.yaml\n")
    result = cli(suite, "validate")
    assert result.ret == 0
    assert result.outlines == [
        "warning: PytestConfigWarning: Unknown config option: amigo_file_patern",
        "1 suite file checked: 0 tests, 3 metrics; no problems, 1 warning",
    ]


def test_validate_warns_about_a_near_miss_file_as_pytest_does(suite: Suite) -> None:
    suite.standard()
    suite.write("support.amigo.yml", "simulation_unit_tests: []\n")
    suite.write("notes.yml", "a: 1\n")  # no near miss: not a word about it
    message = (
        "support.amigo.yml looks like a suite file but was not collected: its name does not "
        "match amigo_file_pattern (*.amigo.yaml)."
    )
    assert message in suite.pytester.runpytest().stdout.str()
    result = cli(suite, "validate")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    (warning,) = [line for line in result.outlines if line.startswith("warning:")]
    assert warning.startswith(f"warning: SuiteFileWarning: {message}")
    assert result.outlines[-1] == "1 suite file checked: 0 tests, 3 metrics; no problems, 1 warning"


def test_help_lists_the_commands_and_validate_its_exit_codes(suite: Suite) -> None:
    result = cli(suite, "--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["usage: python -m pytest_amigo_metrics *", "*schema*", "*validate*"]
    )
    result = cli(suite, "validate", "--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*PATH*", "exit codes:", "  0  every suite file is valid", "  1  *"]
    )
    assert cli(suite).ret == 2  # a command is required


def test_problems_are_counted_by_location_and_other_errors_are_named() -> None:
    located = Problem(
        "m.amigo.yaml",
        "m.amigo.yaml:2: metrics[0].name: required field is missing\n    fix: add `name`\n"
        "m.amigo.yaml:3: metrics[0].nme: unknown key 'nme'",
    )
    assert (located.count, located.format()) == (2, located.text)
    crash = Problem("x.amigo.yaml", "items.py:25: in collect\n    suite = ...\nE   OSError: boom")
    assert crash.count == 1
    assert crash.format().splitlines()[0] == "ERROR collecting x.amigo.yaml"


# --- schema -----------------------------------------------------------------------------------

VALIDATOR = jsonschema.Draft202012Validator(suite_schema())
DRAFT_7 = jsonschema.Draft7Validator(suite_schema())


def errors(document: Any) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(document)]


def test_shipped_schema_is_the_generated_one() -> None:
    assert shipped_schema_path().read_text(encoding="utf-8") == schema_text(), (
        f"pytest_amigo_metrics/suite/suite.schema.json is out of date: run `{REGENERATE}`"
    )


def test_schema_command_prints_the_schema(suite: Suite) -> None:
    """The generated one, which the test above compares with the shipped file."""
    result = cli(suite, "schema")
    assert result.ret == 0
    printed = "\n".join(result.outlines) + "\n"
    assert printed == schema_text()
    schema = json.loads(printed)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] and schema["description"]


def test_every_field_is_described_and_no_description_is_stale() -> None:
    schema = suite_schema()
    assert stale_descriptions(schema) == [], "update FIELD_DESCRIPTIONS in suite_schema.py"
    models = {"": schema, **schema["$defs"]}
    undescribed = [
        f"{name or 'SuiteFile'}.{field}"
        for name, model in models.items()
        for field, spec in model.get("properties", {}).items()
        if "description" not in spec and not (name.endswith("MetricValue") and field == "type")
    ]
    assert undescribed == [], "describe them in FIELD_DESCRIPTIONS (suite_schema.py)"
    assert "Amigo service ids" in FIELD_DESCRIPTIONS["MetricSpec"]["applied_to_services"]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.amigo.yaml")), ids=lambda p: p.name)
def test_schema_accepts_the_examples(path: Path) -> None:
    assert errors(yaml.safe_load(path.read_text())) == []


def test_schema_accepts_the_tests_standard_suite() -> None:
    text = TEST_TEMPLATE.format(
        name="t",
        script='["a"]',
        runs=2,
        metrics=expectation_lines(['{metric: M, expect: ">= 7"}']),
        agent="agent:respond",
    )
    assert errors(yaml.safe_load(METRICS)) == []
    assert errors(yaml.safe_load(text)) == []


@pytest.mark.parametrize(
    "expect",
    [
        '">= 7"',
        '"> 6.5"',
        '"< 3"',
        '"<= 3"',
        '"== 5"',
        '"!= 5"',
        '"between 4 and 6"',
        "{verb: '>=', threshold: 7}",
        "{between: [4, 6]}",
        "resolved",
        "[resolved, escalated]",
        "true",
        "false",
    ],
)
def test_schema_accepts_every_documented_expectation(expect: str) -> None:
    assert errors(_one_test(f"{{metric: M, expect: {expect}}}")) == []


@pytest.mark.parametrize(
    "expect", ["7", "[]", "{verb: '=>', threshold: 7}", "{between: [4]}", "{threshold: 7}", "null"]
)
def test_schema_rejects_what_no_metric_type_accepts(expect: str) -> None:
    assert errors(_one_test(f"{{metric: M, expect: {expect}}}")) != []


def _one_test(expectation: str, target: str = '{python: "agent:respond"}') -> Any:
    return yaml.safe_load(
        textwrap.dedent(
            f"""
            simulation_unit_tests:
              - name: t
                persona: {{name: Sam, background: b}}
                scenario: {{name: s, objective: o, instructions: i}}
                target: {target}
                metrics:
                  - {expectation}
            """
        )
    )


METRIC = "metrics:\n  - {name: M, description: d, metric_value: %s}\n"


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("", True),
        ("# only a comment\n", True),
        ("defaults: null\nmetrics: []\n", True),
        (METRIC % "{type: boolean}", True),
        (METRIC % "{type: numerical, lower_bound: 1, upper_bound: 10}", True),
        (METRIC % "{type: categorical, categories: [a, b]}", True),
        ("metrics:\n  - {name: M, descripton: d, metric_value: {type: boolean}}\n", False),
        ("simulation_unit_test: []\n", False),
        (METRIC % "{type: percentage}", False),
        (METRIC % "{type: numerical, lower_bound: low, upper_bound: 10}", False),
        (METRIC % "{type: categorical}", False),
        (METRIC % "{type: boolean, categories: [a]}", False),
        (
            "metrics:\n  - {name: M, description: d, metric_value: {type: boolean}, tags: 3}\n",
            False,
        ),
        ("defaults: {target: {python: 'a:b'}, runs: 0}\n", False),
        ("defaults: {target: {python: 'a:b', model: m}}\n", False),
        ("defaults: {target: {python: 'a:b', model: null}}\n", True),
        ("defaults: {target: {python: 'a:b', system_prompt: p}}\n", False),
        ("defaults: {target: {model: m, system_prompt: p}}\n", True),
        ("defaults: {target: {amigo: {service_id: '6618791275130b73714e8d1c'}}}\n", True),
        ("defaults: {target: {amigo: {service_id: '123'}}}\n", False),
        ("defaults: {target: {}}\n", False),
        ("defaults: {models: {judge: openai/gpt-4o, simulator: {model: m, api_base: u}}}", False),
        (
            "defaults: {models: {simulator: {model: m, api_base: 'http://127.0.0.1:8000/v1'}}}",
            True,
        ),
        ("defaults: {models: {judge: {api_base: u}}}\n", False),
        (
            "defaults: {target: {model: m, api_base: 'https://h.example/v1', "
            "extra_headers: {X-Team: a}}}\n",
            True,
        ),
        ("defaults: {target: {python: 'a:b', api_version: v}}\n", False),
        ("defaults: {target: {python: 'a:b', extra_headers: {}}}\n", True),
    ],
)
def test_schema_agrees_with_the_loader(tmp_path: Path, text: str, valid: bool) -> None:
    """What the schema accepts, the loader accepts, and the other way round; with draft 7
    semantics too, for editors that know no later draft."""
    path = tmp_path / "s.amigo.yaml"
    path.write_text(text)
    try:
        load_suite(path)
        loaded = True
    except SpecError:
        loaded = False
    assert loaded is valid
    assert (errors(yaml.safe_load(text)) == []) is valid
    assert DRAFT_7.is_valid(yaml.safe_load(text)) is valid


def test_schema_errors_point_at_the_fields() -> None:
    document = _one_test("{metric: M, expect: true, up_to_turn: 0}", target="{python: 'x'}")
    document["simulation_unit_tests"][0]["runs"] = "3 times"
    found = {path for error in VALIDATOR.iter_errors(document) for path in _paths(error)}
    test = ("simulation_unit_tests", 0)
    assert {
        (*test, "target", "python"),
        (*test, "runs"),
        (*test, "metrics", 0, "up_to_turn"),
    } <= found
    assert all(path[:2] == test for path in found)


def _paths(error: jsonschema.ValidationError) -> list[tuple[str | int, ...]]:
    """Where an error and the errors of its alternatives (anyOf, oneOf) point."""
    return [tuple(error.absolute_path), *(p for sub in error.context or [] for p in _paths(sub))]


# --- the results store: runs, show, report, compare -------------------------------------------

COLD = '["you are cold"]'


def store_runs(suite: Suite, *args: str) -> list[str]:
    """Two sessions: the test passes, then fails; their run ids, oldest first."""
    suite.standard()
    suite.unit_test(expectations=['{metric: Empathy Score, expect: ">= 7"}'])
    suite.pytester.runpytest(*args).assert_outcomes(passed=1)
    suite.unit_test(script=COLD)
    suite.pytester.runpytest(*args).assert_outcomes(failed=1)
    rows = suite.rows("SELECT id FROM runs ORDER BY started_at")
    return [r["id"] for r in rows]


def test_runs_lists_the_recorded_runs_oldest_first(suite: Suite) -> None:
    first, second = store_runs(suite)
    result = cli(suite, "runs")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(
        [
            "RUN ID *STARTED (UTC)*ENDED (UTC)*PASSED FAILED ERROR  MODELS",
            f"{first}  20*      1      0     0  simulator offline/simulator; judge offline/judge;*",
            f"{second}  20*      0      1     0  *",
        ]
    )


def test_metrics_lists_the_metrics_and_one_metrics_versions(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    original = "Did the agent apologise, acknowledge the frustration and reassure?"
    warmer = "Did the agent apologise, acknowledge the frustration, reassure and resolve?"
    for description in (original, warmer, original):  # changed, then changed back
        suite.write("metrics.amigo.yaml", METRICS.replace(original, description))
        suite.pytester.runpytest().assert_outcomes(passed=1)
    listed = cli(suite, "metrics")
    assert listed.ret == 0, listed.stderr.str()
    listed.stdout.fnmatch_lines(
        [
            "METRIC * TYPE * LATEST",
            "Empathy Score * numerical * v3",
            "Identity Verified * boolean * v1",
            "Outcome * categorical * v1",
        ]
    )
    versions = cli(suite, "metrics", "Empathy Score")
    versions.stdout.fnmatch_lines(
        [
            "Empathy Score (numerical, id *)",
            "v1  20* UTC  a number from 1 to 10",
            f"    {original}",
            "v2  20* UTC  a number from 1 to 10",
            f"    {warmer}",
            "v3  20* UTC  a number from 1 to 10  (the same as v1)",
            f"    {original}",
        ]
    )
    unknown = cli(suite, "metrics", "Empathy Scor")
    assert unknown.ret == 4
    unknown.stderr.fnmatch_lines(
        ["error: * holds no metric 'Empathy Scor'; did you mean 'Empathy Score'?"]
    )


def test_show_prints_a_runs_tests_and_verdicts(suite: Suite) -> None:
    first, second = store_runs(suite)
    shown = cli(suite, "show", first)
    assert shown.ret == 0, shown.stderr.str()
    shown.stdout.fnmatch_lines(
        [
            f"run {first}: started * UTC, ended * UTC; 1 passed, 0 failed, 0 error",
            "options: *backend=local*",
            f"simulation unit test set run {first}; results in *results.sqlite3",
            "PASSED  tests.amigo.yaml::password reset  1/1 runs passed (100 %, 95 % CI *), "
            "required 100 %",
            "        models: *",
            "        Empathy Score v1 = 10; expected >= 7; 1/1 met",
        ]
    )
    latest = cli(suite, "show", "latest")
    latest.stdout.fnmatch_lines(
        [f"run {second}: *", "FAILED  tests.amigo.yaml::password reset  0/1 runs passed*"]
    )


def test_report_writes_the_json_report_of_any_past_run(suite: Suite) -> None:
    first, second = store_runs(suite)
    result = cli(suite, "report", first, "--json", "out/first.json")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["amigo JSON report: out/first.json"])
    report = json.loads((suite.path / "out" / "first.json").read_text())
    assert report["run"]["id"] == first and report["tests"][0]["outcome"] == "passed"
    assert report["tests"][0]["runs"][0]["messages"][0]["content"] == "I forgot my password."
    compared = cli(suite, "report", second, "--json", "second.json", "--baseline", first)
    assert compared.ret == 0, compared.stderr.str()
    comparison = json.loads((suite.path / "second.json").read_text())["comparison"]
    assert comparison["baseline_run_id"] == first
    assert comparison["regressed"] == ["tests.amigo.yaml::password reset"]
    nothing = cli(suite, "report", first)
    assert nothing.ret == 4
    nothing.stderr.fnmatch_lines(
        ["error: say where to write the report: --json FILE and/or --html FILE"]
    )


def test_report_writes_the_html_report_of_a_past_run(suite: Suite) -> None:
    first, _ = store_runs(suite)
    result = cli(suite, "report", first, "--html", "first.html")
    assert result.ret == 0, result.stderr.str()
    assert "password reset" in (suite.path / "first.html").read_text()


def test_compare_prints_what_the_baseline_option_shows(suite: Suite) -> None:
    first, second = store_runs(suite)
    result = cli(suite, "compare", first, second)
    assert result.ret == 0, result.stderr.str()
    assert result.outlines == [
        f"compared with run {first} (started {result.outlines[0].split('(started ')[1]}",
        "REGRESSED tests.amigo.yaml::password reset  passed -> failed; pass rate 100 % -> 0 %",
        "          Empathy Score v1: mean 10 -> 1",
    ]
    assert result.outlines[0].endswith("UTC): 1 regressed")
    gate = cli(suite, "compare", first, second, "--fail-on-regression")
    assert (gate.ret, gate.outlines) == (1, result.outlines)  # a gate between two stored runs
    assert cli(suite, "compare", first, first, "--fail-on-regression").ret == 0
    suite.unit_test()  # passes again: the session against `first` shows the same section
    session = suite.pytester.runpytest("--amigo-baseline", first)
    again = cli(suite, "compare", first, "latest")
    out = session.stdout.str()
    section = out[out.index("== amigo baseline ==") :].splitlines()[1:]
    assert section[: len(again.outlines)] == again.outlines


@pytest.mark.parametrize("source", ["--store", "env", "ini", "addopts"])
def test_the_store_commands_find_the_store_as_pytest_does(
    suite: Suite, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.standard()
    suite.unit_test()
    store = "elsewhere/results.sqlite3"
    suite.pytester.runpytest("--amigo-store", store).assert_outcomes(passed=1)
    args: list[str] = []
    if source == "--store":
        args = ["--store", store]
    elif source == "env":
        monkeypatch.setenv("AMIGO_METRICS_STORE", store)
    elif source == "ini":
        suite.write("pytest.ini", f"[pytest]\namigo_store = {store}\n")
    else:
        suite.write("pytest.ini", f"[pytest]\naddopts = --amigo-store {store}\n")
    result = cli(suite, "runs", *args)
    assert result.ret == 0, result.stderr.str()
    assert len(result.outlines) == 2 and result.outlines[0].startswith("RUN ID")


def test_the_store_commands_say_what_is_missing(suite: Suite) -> None:
    nothing = cli(suite, "runs")
    assert nothing.ret == 4
    nothing.stderr.fnmatch_lines(["error: there is no results store at *results.sqlite3; run *"])
    store_runs(suite)
    unknown = cli(suite, "show", "nope")
    assert unknown.ret == 4
    unknown.stderr.fnmatch_lines(["error: *results.sqlite3 holds no run 'nope'"])
    bad = cli(suite, "compare", "latest", "nope")
    assert bad.ret == 4
    assert "Traceback" not in nothing.stderr.str() + unknown.stderr.str() + bad.stderr.str()


def test_schema_report_prints_the_shipped_report_schema(suite: Suite) -> None:
    from pytest_amigo_metrics.report.json_schema import shipped_report_schema_path

    result = cli(suite, "schema", "--report")
    assert result.ret == 0
    printed = "\n".join(result.outlines) + "\n"
    assert printed == shipped_report_schema_path().read_text(encoding="utf-8")


def test_a_reader_that_stops_early_ends_a_store_command_quietly(suite: Suite) -> None:
    """`python -m pytest_amigo_metrics show latest | head -1`."""
    import subprocess

    first, _ = store_runs(suite)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_amigo_metrics", "show", first],
        cwd=suite.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # as `head` does once it has its line
    error = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, error
    assert "Traceback" not in error and "BrokenPipeError" not in error
