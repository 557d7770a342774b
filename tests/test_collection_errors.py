"""Every mistake that can be known before a conversation starts is a collection error."""

from __future__ import annotations

import pytest

from conftest import Suite

TWO_TESTS_ON_DEFAULTS = """
defaults:
  target: {python: "agent:respond"}
simulation_unit_tests:
  - name: one
    persona: {name: Sam, background: A busy customer.}
    scenario: {name: Reset, objective: Reset my password., instructions: Be brief.}
    script: ["hi"]
    metrics: [{metric: Outcome, expect: resolved}]
  - name: two
    persona: {name: Sam, background: A busy customer.}
    scenario: {name: Reset, objective: Reset my password., instructions: Be brief.}
    script: ["hi"]
    metrics: [{metric: Outcome, expect: resolved}]
"""


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ("def respond(messages)\n    return 'x'\n", "SyntaxError: *(*agent.py, line 1)"),
        ("raise RuntimeError('no config file')\n", "RuntimeError: no config file"),
        ("import sys\nsys.exit(3)\n", "SystemExit(3): the module calls sys.exit() when imported"),
        ("import no_such_dependency\n", "ModuleNotFoundError*no_such_dependency*"),
        (
            "def respnd(messages):\n    return 'x'\n",
            "*has no attribute 'respond'; did you mean 'respnd'?",
        ),
        ("respond = 42\n", "*is not callable: it is a int"),
    ],
)
def test_a_python_target_that_cannot_be_imported_is_a_collection_error_at_its_line(
    suite: Suite, agent: str, message: str
) -> None:
    suite.standard()
    suite.write("agent.py", agent)
    suite.unit_test()
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"tests.amigo.yaml:6: simulation_unit_tests?'password reset'?.target.python: cannot import the agent 'agent:respond'*{message}*"
            if "not callable" not in message
            else f"tests.amigo.yaml:6: simulation_unit_tests?'password reset'?.target.python: the agent 'agent:respond'{message}",
            "    fix: *",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "Interrupted: 1 error during collection" in result.stdout.str()


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ("def respond():\n    return 'x'\n", "respond(): too many positional arguments"),
        (
            "async def respond(messages, session):\n    return 'x'\n",
            "respond(messages, session): missing a required argument: 'session'",
        ),
        ("def respond(*, messages):\n    return 'x'\n", "respond(*, messages): too many*"),
    ],
)
def test_a_python_target_that_cannot_take_the_messages_is_a_collection_error_at_its_line(
    suite: Suite, agent: str, message: str
) -> None:
    """The agent is called with one argument, the conversation so far: one whose signature
    refuses that would fail every run with a TypeError and a traceback of the plugin's frames."""
    suite.standard()
    suite.write("agent.py", agent)
    suite.unit_test()
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "tests.amigo.yaml:6: simulation_unit_tests?'password reset'?.target.python: the agent "
            f"'agent:respond' cannot be called with the conversation: {message}",
            "    fix: make it take one argument, the conversation so far: "
            "`def respond(messages) -> str` (or `async def`)",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_python_targets_that_take_the_messages_in_other_ways_are_accepted(suite: Suite) -> None:
    suite.standard()
    suite.write(
        "agent.py",
        """
        import functools

        def respond(messages, tone="warm", *rest, **options):
            return "I apologise; this is resolved."

        class Agent:
            def __call__(self, messages):
                return "I apologise; this is resolved."

        agent = Agent()
        partial = functools.partial(respond, tone="cold")
        """,
    )
    for name in ("respond", "agent", "partial"):
        suite.unit_test(
            file=f"{name}.amigo.yaml",
            agent=f"agent:{name}",
            expectations=["{metric: Outcome, expect: resolved}"],
        )
    result = suite.pytester.runpytest()
    result.assert_outcomes(passed=3)


def test_a_module_name_typo_says_where_it_looked_once_per_folder(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(file="tests.amigo.yaml")
    suite.write(
        "tests.amigo.yaml",
        (suite.path / "tests.amigo.yaml").read_text().replace("agent:respond", "agnt:respond"),
    )
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*ModuleNotFoundError: No module named 'agnt'", "    looked in: *"]
    )
    looked_in = next(line for line in result.stdout.lines if "looked in:" in line)
    folders = looked_in.split("looked in: ")[1].removesuffix(" and sys.path").split(", ")
    assert len(folders) == len(set(folders)) == 1, "rootdir and the file's folder are the same"


def test_two_suite_folders_with_an_agent_module_of_the_same_name_are_not_mixed_up(
    suite: Suite,
) -> None:
    """Python keeps one module per name: without the check, team_b's test ran team_a's agent
    (and passed) with no word said."""
    suite.standard()
    for team in ("team_a", "team_b"):
        suite.write(f"{team}/agent.py", f"def respond(messages):\n    return '{team} resolved'\n")
        suite.write(
            f"{team}/t.amigo.yaml",
            TWO_TESTS_ON_DEFAULTS.replace("name: one", f"name: {team} one").replace(
                "name: two", f"name: {team} two"
            ),
        )
    result = suite.pytester.runpytest("team_a", "team_b")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "team_b/t.amigo.yaml:2: defaults.target.python: cannot import the agent "
            "'agent:respond': the module 'agent' imported is */team_a/agent.py, not "
            "*/team_b/agent.py: *give each agent's module a name of its own (e.g. "
            "team_b_agent.py)",
        ]
    )
    assert "passed" not in result.stdout.str()


def test_a_bad_defaults_target_is_one_error_at_the_defaults_line(suite: Suite) -> None:
    suite.standard()
    suite.write("agent.py", "raise ImportError('broken on purpose')\n")
    suite.write("t.amigo.yaml", TWO_TESTS_ON_DEFAULTS)
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert out.count("cannot import the agent") == 1
    result.stdout.fnmatch_lines(
        ["t.amigo.yaml:2: defaults.target.python: *ImportError: broken on purpose"]
    )


def test_no_model_call_happens_when_collection_fails(suite: Suite) -> None:
    suite.standard()
    suite.scripted({"judge": ["{}"]})
    suite.write("agent.py", "raise RuntimeError('x')\n")
    suite.unit_test()
    suite.pytester.runpytest("--amigo-judge-model", "scripted/judge").assert_outcomes(errors=1)
    assert suite.calls() == []
    assert not suite.store.exists()


@pytest.mark.parametrize("name", ["support.amigo.yml", "support.Amigo.yaml", "support_amigo.yaml"])
def test_a_near_miss_of_the_file_pattern_is_a_warning(suite: Suite, name: str) -> None:
    suite.standard()
    suite.unit_test(file=name)
    result = suite.pytester.runpytest()
    result.assert_outcomes()
    result.stdout.fnmatch_lines(
        [
            f"*SuiteFileWarning: {name} looks like a suite file but was not collected: its name "
            "does not match amigo_file_pattern (*.amigo.yaml)*"
        ]
    )


def test_an_empty_suite_file_is_a_warning(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.write("empty.amigo.yaml", "# nothing yet\n")
    suite.write("defaults_only.amigo.yaml", "defaults: {runs: 2}\n")
    result = suite.pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*SuiteFileWarning: empty.amigo.yaml holds no metrics and no simulation_unit_tests*"]
    )
    result.stdout.fnmatch_lines(["*SuiteFileWarning: defaults_only.amigo.yaml holds no metrics*"])


def test_a_model_no_provider_accepts_is_reported_at_its_line_before_any_call(
    suite: Suite,
) -> None:
    suite.standard()
    suite.scripted({"judge": ["{}"]})
    suite.write("agent.py", "def respond(messages):\n    return 'ok'\n")
    suite.write(
        "t.amigo.yaml",
        TWO_TESTS_ON_DEFAULTS.replace(
            "defaults:\n", "defaults:\n  models: {judge: no-such-provider/judge-9}\n"
        ),
    )
    suite.write(
        "m.amigo.yaml",
        """
        simulation_unit_tests:
          - name: model agent
            persona: {name: Sam, background: A busy customer.}
            scenario: {name: Reset, objective: Reset my password., instructions: Be brief.}
            script: ["hi"]
            target:
              model: nonsense-provider/agent-x
            metrics: [{metric: Outcome, expect: resolved}]
        """,
    )
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=2)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "t.amigo.yaml:2: defaults.models.judge: no litellm provider accepts the model "
            "'no-such-provider/judge-9'",
            "    fix: write it as '<provider>/<model>'*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "m.amigo.yaml:7: simulation_unit_tests?'model agent'?.target.model: no litellm provider "
            "accepts the model 'nonsense-provider/agent-x'"
        ]
    )
    errors = out.split("short test summary info")[0]
    assert errors.count("no-such-provider/judge-9") == 1, "one error for the shared declaration"
    assert suite.calls() == []


def test_a_model_option_no_provider_accepts_is_a_usage_error(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-model", "gpt-nonexistent-x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--amigo-judge-model: no litellm provider accepts the model 'gpt-nonexistent-x'*"]
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "metrics: []\n# caf\xe9\n".encode("latin-1"),
            "*.amigo.yaml:2: the file is not UTF-8 text: byte 0xe9*",
        ),
        (
            "metrics: []\n".encode("utf-16"),
            "*.amigo.yaml:1: the file is not UTF-8 text*UTF-16 byte order mark*",
        ),
        (b"\x00\x01\x02binary", "*.amigo.yaml:1: *"),
        (b"metrics: []\nname: a\x07b\n", "*.amigo.yaml:2: invalid YAML: character *not allowed*"),
    ],
)
def test_files_that_are_not_utf8_text_are_a_clear_error(
    suite: Suite, content: bytes, message: str
) -> None:
    suite.standard()
    suite.unit_test(file="good.amigo.yaml")
    (suite.path / "bad.amigo.yaml").write_bytes(content)
    for args in [(), ("good.amigo.yaml",)]:
        result = suite.pytester.runpytest(*args)
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["bad" + message.lstrip("*")])
        assert "Traceback" not in result.stdout.str() and "INTERNALERROR" not in result.stdout.str()


def test_text_yaml_reads_as_a_boolean_or_number_gets_told_to_quote_it(suite: Suite) -> None:
    suite.write(
        "metrics.amigo.yaml",
        """
        metrics:
          - name: Confirmed
            description: Did the customer confirm the change?
            metric_value: {type: categorical, categories: [yes, no]}
          - name: 2.0
            description: A number for a name.
            metric_value: {type: boolean}
        """,
    )
    result = suite.pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "metrics.amigo.yaml:4: metrics[0].metric_value.categories[0]: "
            "Input should be a valid string (got True)",
            "    fix: YAML reads unquoted yes, no, on, off, true and false as booleans: quote the "
            "text, e.g. 'yes'",
        ]
    )
    lines = result.stdout.lines
    name = lines.index(
        "metrics.amigo.yaml:5: metrics[1].name: Input should be a valid string (got 2.0)"
    )
    assert lines[name + 1] == "    fix: YAML reads 2.0 as a number: quote it, e.g. '2.0'"


def test_names_pytest_could_not_select_or_print_on_one_line_are_errors(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(name='"refund :: escalated"')
    suite.unit_test(file="second.amigo.yaml", name='"two\\nlines"')
    result = suite.pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "tests.amigo.yaml:2: simulation_unit_tests[[]0[]].name: 'refund :: escalated' holds "
            "'::', which separates the parts of a pytest node id*",
            "    fix: write it without '::', e.g. 'refund - escalated'",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "second.amigo.yaml:2: *.name: 'two\\nlines' holds a control character*",
            "    fix: write the name on one line, without escapes",
        ]
    )


def test_a_suite_written_in_decomposed_accents_knows_its_own_metric(suite: Suite) -> None:
    decomposed = "Cafe\u0301 Warmth"
    suite.write(
        "metrics.amigo.yaml",
        f"metrics:\n  - name: {decomposed}\n    description: Was the agent warm?\n"
        "    metric_value: {type: boolean}\n",
    )
    suite.write("agent.py", "def respond(messages):\n    return 'warm, warm'\n")
    suite.unit_test(expectations=[f"{{metric: {decomposed}, expect: true}}"])
    suite.pytester.runpytest().assert_outcomes(passed=1)


def test_two_spellings_of_one_name_are_one_name(suite: Suite) -> None:
    suite.standard()
    composed, decomposed = "caf\u00e9 refund", "cafe\u0301 refund"
    suite.unit_test(name=composed)
    suite.unit_test(file="second.amigo.yaml", name=decomposed)
    result = suite.pytester.runpytest("--collect-only", "-q")
    assert f"second.amigo.yaml::{composed}" in result.stdout.str()


def test_a_tab_indenting_yaml_is_told_to_be_spaces(suite: Suite) -> None:
    (suite.path / "metrics.amigo.yaml").write_text("metrics:\n\t- name: Outcome\n")
    result = suite.pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "metrics.amigo.yaml:2: invalid YAML: found character that cannot start any token",
            "    fix: YAML indents with spaces, never tabs: replace the tabs on that line with "
            "spaces",
        ]
    )


def test_an_agent_that_cannot_be_imported_does_not_hide_the_files_other_problems(
    suite: Suite,
) -> None:
    suite.standard()
    suite.write("agent.py", "raise ImportError('broken on purpose')\n")
    text = TWO_TESTS_ON_DEFAULTS.replace(
        "metrics: [{metric: Outcome, expect: resolved}]\n  - name: two",
        "metrics: [{metric: Outcome, expect: maybe}]\n  - name: two",
    ).replace(
        "metrics: [{metric: Outcome, expect: resolved}]", "metrics: [{metric: Outcme, expect: x}]"
    )
    suite.write("t.amigo.yaml", text)
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)  # one error for the file, naming every problem, by line
    result.stdout.fnmatch_lines(
        [
            "t.amigo.yaml:2: defaults.target.python: *ImportError: broken on purpose",
            "    fix: *",
            "t.amigo.yaml:8: simulation_unit_tests?'one'?.metrics?0?.expect: unknown category 'maybe'*",
            "    fix: *",
            "t.amigo.yaml:13: simulation_unit_tests?'two'?.metrics?0?.metric: unknown metric 'Outcme'",
            "    fix: did you mean 'Outcome'?*",
        ]
    )


@pytest.mark.parametrize(
    ("text", "message", "fix"),
    [
        (
            "x-shared: &base\n  persona: {name: Sam, background: b}\n"
            "simulation_unit_tests:\n  - <<: *bse\n    name: a\n",
            "bad.amigo.yaml:4: invalid YAML: the alias `*bse` names no anchor",
            "    fix: did you mean `*base`? *anchors in this file: &base",
        ),
        (
            "simulation_unit_tests:\n  - name: a\n    persona: {name: Sam, background: b\n"
            "    scenario: {}\n",
            "bad.amigo.yaml:4: invalid YAML: *(while parsing a flow mapping started at line 3)",
            "    fix: check indentation and quoting*",
        ),
        (
            'simulation_unit_tests:\n  - name: "a\n    persona: {name: Sam}\n',
            "bad.amigo.yaml:4: invalid YAML: found unexpected end of stream "
            "(while scanning a quoted scalar started at line 2)",
            "    fix: *",
        ),
    ],
)
def test_a_yaml_syntax_error_says_where_its_construct_began(
    suite: Suite, text: str, message: str, fix: str
) -> None:
    """libyaml reports where it gave up: an unclosed `{` or quote, or an alias of no anchor,
    was only "did not find expected ',' or '}'" or "found undefined alias", no name given."""
    suite.standard()
    suite.write("bad.amigo.yaml", text)
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message, fix])
