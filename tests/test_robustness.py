"""Robustness: what agents and judges do wrong ends one run in error, never the session, and
loses no valid verdict."""

from __future__ import annotations

import json

import pytest

from conftest import Suite


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        (
            "import sys\ndef respond(messages):\n    sys.exit(3)\n",
            "run 0: SystemExit raised by the agent 'agent:respond': it called sys.exit(3)*",
        ),
        (
            "def respond(messages):\n    raise KeyboardInterrupt('agent gave up')\n",
            "run 0: KeyboardInterrupt raised by the agent 'agent:respond': agent gave up",
        ),
        (
            "import sys\nasync def respond(messages):\n    sys.exit('bye')\n",
            "run 0: SystemExit raised by the agent 'agent:respond': it called sys.exit('bye')*",
        ),
    ],
)
def test_an_agent_that_exits_ends_its_run_in_error_and_the_session_goes_on(
    suite: Suite, agent: str, message: str
) -> None:
    suite.standard()
    suite.write("agent.py", agent)
    suite.unit_test(file="bad.amigo.yaml", name="exits")
    suite.write("good_agent.py", "def respond(messages):\n    return 'I apologise, resolved.'\n")
    suite.write(
        "good.amigo.yaml",
        suite.unit_test(
            file="tmp.amigo.yaml",
            name="still runs",
            expectations=["{metric: Outcome, expect: resolved}"],
        )
        .read_text()
        .replace("agent:respond", "good_agent:respond"),
    )
    (suite.path / "tmp.amigo.yaml").unlink()
    result = suite.pytester.runpytest("--junitxml=out.xml")
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.fnmatch_lines(["ERROR   bad.amigo.yaml::exits  0/1 runs passed*"])
    assert 'name="exits"' in (suite.path / "out.xml").read_text()


def test_a_judge_failing_on_one_metric_keeps_the_other_verdicts(suite: Suite) -> None:
    suite.standard()
    good = json.dumps({"value": "resolved", "justification": "Solved.", "references": []})
    suite.scripted({"judge": [good, "not json", "still not json", "never json"]})
    suite.unit_test(
        expectations=[
            "{metric: Outcome, expect: resolved}",
            '{metric: Empathy Score, expect: ">= 7"}',
        ]
    )
    result = suite.pytester.runpytest(
        "--amigo-judge-model",
        "scripted/judge",
        "--amigo-concurrency",
        "1",
        "--amigo-model-concurrency",
        "1",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*gave no valid evaluation of metric 'Empathy Score'*"])
    stored = suite.rows("SELECT result, justification FROM evaluation_results")
    assert [(json.loads(r["result"]), r["justification"]) for r in stored] == [
        ("resolved", "Solved.")
    ]
