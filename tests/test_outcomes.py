"""Passed, failed and error stay distinct, and each says what happened."""

from __future__ import annotations

import json

import pytest

from conftest import Suite

GOOD = json.dumps({"value": 8, "justification": "Warm and apologetic.", "references": []})


def test_quality_failure_shows_metric_version_value_expectation_justification_and_messages(
    suite: Suite,
) -> None:
    suite.standard()
    suite.unit_test(
        script='["I am cold and want a reset."]',
        expectations=[
            '{metric: Empathy Score, expect: ">= 7"}',
            "{metric: Outcome, expect: resolved}",
        ],
    )
    result = suite.pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*simulation unit test 'password reset' failed: 0 of 1 run met every expectation*",
            "run 0 (conversation *, 2 messages, ended: script_completed):",
            "  FAIL Empathy Score v1 = 1; expected >= 7  [judge offline/judge (offline provider)]",
            "       justification: Offline judgement*0 of 4 terms*",
            "       *] agent: 'Fine. Done.'",
            "  FAIL Outcome v1 = n/a; expected resolved*",
        ]
    )


def test_min_pass_rate_over_runs(suite: Suite) -> None:
    suite.standard()
    suite.scripted(
        {
            "judge": [
                json.dumps({"value": 9, "justification": "good", "references": []}),
                json.dumps({"value": 2, "justification": "poor", "references": []}),
                json.dumps({"value": 9, "justification": "good", "references": []}),
            ]
        }
    )
    extra = "min_pass_rate: 0.6\n"
    suite.unit_test(runs=3, extra=extra)
    result = suite.pytester.runpytest(
        "--amigo-judge-model", "scripted/judge", "--amigo-concurrency", "1", "-v"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "PASSED *2/3 runs passed (67 %, 95 % CI 21\u201394 %), required 60 %",
            "*Empathy Score v1 = 9, 2, 9*",
        ]
    )

    suite.scripted({"judge": [json.dumps({"value": 2, "justification": "poor", "references": []})]})
    suite.pytester.runpytest("--amigo-judge-model", "scripted/judge").assert_outcomes(failed=1)


def test_a_range_written_as_two_expectations_is_one_verdict_checked_twice(suite: Suite) -> None:
    suite.standard()
    suite.scripted(
        {
            "judge": [
                json.dumps({"value": 9, "justification": "warm", "references": []}),
                json.dumps({"value": 3, "justification": "cold", "references": []}),
            ]
        }
    )
    expectations = [
        '{metric: Empathy Score, expect: ">= 7"}',
        '{metric: Empathy Score, expect: "<= 8"}',
    ]
    suite.unit_test(expectations=expectations)
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", "--junitxml=o.xml")
    result.assert_outcomes(failed=1)  # 9 meets ">= 7" and not "<= 8"
    xml = (suite.path / "o.xml").read_text()
    assert '<property name="amigo.metric.Empathy Score" value="v1: 9" />' in xml
    assert len(suite.rows("SELECT id FROM evaluation_results")) == 1  # one verdict, one result
    assert [c["model"] for c in suite.calls()] == ["judge"]  # one call: one verdict
    result.stdout.fnmatch_lines(
        [
            "        Empathy Score v1 = 9; expected >= 7; 1/1 met",
            "        Empathy Score v1 = 9; expected <= 8; 0/1 met",
        ]
    )
    suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", "--amigo-json=r.json")
    (test,) = json.loads((suite.path / "r.json").read_text())["tests"]
    met = {e["expectation"]: (e["runs_met"], e["runs_evaluated"]) for e in test["expectations"]}
    assert met == {">= 7": (0, 1), "<= 8": (1, 1)}  # the judge's next answer: 3


def test_invalid_judge_output_is_retried_with_the_reason_then_accepted(suite: Suite) -> None:
    suite.standard()
    suite.scripted(
        {
            "judge": [
                "not json",
                json.dumps({"value": "8", "justification": "x", "references": []}),
                GOOD,
            ]
        }
    )
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge")
    result.assert_outcomes(passed=1)
    judge_calls = [c for c in suite.calls() if c["model"] == "judge"]
    assert len(judge_calls) == 3
    repair = judge_calls[2]["messages"][-1]["content"]
    assert "value: expected a number, got '8'" in repair, "no silent coercion of '8' to 8"


def test_judge_that_stays_invalid_is_an_error_with_its_raw_output(suite: Suite) -> None:
    suite.standard()
    out_of_range = json.dumps({"value": 42, "justification": "x", "references": []})
    bad_ref = json.dumps(
        {"value": 5, "justification": "x", "references": ["0123456789abcdef01234567"]}
    )
    suite.scripted({"judge": ["I think it was fine", out_of_range, bad_ref]})
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*could not be evaluated: 1 of 1 runs ended in error (not a quality failure)",
            "*judge 'scripted/judge' gave no valid evaluation of metric 'Empathy Score' (v1) after 3 attempts:",
            "  attempt 1: not JSON*",
            "    raw: I think it was fine",
            "  attempt 2: value: 42 is outside the bounds [1, 10]",
            "  attempt 3: references ?'0123456789abcdef01234567'? are not ids of messages*",
        ]
    )
    # The amigo summary's one line for the run says why too, not only "after 3 attempts:".
    result.stdout.fnmatch_lines(
        [
            "*run 0: error: judge 'scripted/judge' gave no valid *after 3 attempts: attempt 1: not JSON*"
        ]
    )


def test_control_characters_from_the_judge_reach_the_terminal_escaped(suite: Suite) -> None:
    """A model's text may hold terminal escape sequences (clear the screen, set the window
    title, colours) and NULs: the failure and error texts show them escaped, never raw."""
    suite.standard()
    poor = json.dumps(
        {"value": 2, "justification": "cold\x1b[2J\x1b[31m reply\x07\x00", "references": []}
    )
    suite.scripted({"judge": [poor], "raw": ["\x1b]0;owned\x07not json"]})
    suite.unit_test(name="quality failure", extra="models: {judge: scripted/judge}")
    suite.unit_test(
        file="error.amigo.yaml", name="judge error", extra="models: {judge: scripted/raw}"
    )
    result = suite.pytester.runpytest("--amigo-judge-retries", "0")
    result.assert_outcomes(failed=1, errors=1)
    out = result.stdout.str()
    assert not {"\x1b", "\x07", "\x00"} & set(out)
    assert "    raw: \\x1b]0;owned\\x07not json\n" in out
    assert "       justification: cold\\x1b[2J\\x1b[31m reply\\x07\\x00\n" in out


def test_a_judge_answering_an_integer_too_large_for_a_float_is_re_asked(suite: Suite) -> None:
    suite.standard()
    # 400 digits: JSON reads an int no float holds; 5,000: more than Python reads from text.
    large = '{"value": 1' + "0" * 400 + ', "justification": "x", "references": []}'
    huge = '{"value": 1' + "0" * 5_000 + ', "justification": "x", "references": []}'
    suite.scripted({"judge": [large, huge, GOOD]})
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge")
    result.assert_outcomes(passed=1)
    judge_calls = [c for c in suite.calls() if c["model"] == "judge"]
    assert len(judge_calls) == 3
    reasons = [c["messages"][-1]["content"] for c in judge_calls[1:]]
    assert "value: an integer too large for a float is outside the bounds" in reasons[0]
    assert "not JSON (Exceeds the limit (4300 digits) for integer string conversion)" in reasons[1]


def test_a_huge_invalid_answer_is_shown_and_sent_back_cut_short(suite: Suite) -> None:
    suite.standard()
    huge = "not json " * 200_000  # 1.8 MB
    good = json.dumps({"value": 9, "justification": "warm", "references": []})
    suite.scripted({"judge": [huge, huge, huge, good]})
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", "--junitxml=o.xml")
    result.assert_outcomes(errors=1)
    assert "... [1,798,000 more characters not shown]" in result.stdout.str()
    assert len(result.stdout.str()) < 100_000
    assert (suite.path / "o.xml").stat().st_size < 100_000
    second_ask = [c for c in suite.calls() if c["model"] == "judge"][1]["messages"]
    assert len(second_ask[-2]["content"]) < 5_000  # the invalid answer, quoted back short


def test_a_reason_quoting_a_huge_answer_is_shown_and_sent_back_cut_short(suite: Suite) -> None:
    suite.standard()
    references = [f"{i:024x}" for i in range(100_000)]  # 2.8 MB of ids no message has
    bogus = json.dumps({"value": 8, "justification": "x", "references": references})
    suite.scripted({"judge": [bogus]})
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge", "--junitxml=o.xml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["  attempt 1: references * and 99,995 more are not ids of messages in the conversation"]
    )
    assert len(result.stdout.str()) < 100_000
    assert (suite.path / "o.xml").stat().st_size < 100_000
    second_ask = [c for c in suite.calls() if c["model"] == "judge"][1]["messages"]
    assert len(second_ask[-1]["content"]) < 5_000  # the reason, sent back short


def test_a_json_fenced_answer_is_read_but_prose_around_json_is_not(suite: Suite) -> None:
    suite.standard()
    prose = "Sure! " + GOOD
    suite.scripted({"judge": [prose, "```json\n" + GOOD + "\n```"]})
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge")
    result.assert_outcomes(passed=1)
    assert len(suite.calls()) == 2


def test_judge_retries_option_bounds_the_attempts(suite: Suite) -> None:
    suite.standard()
    suite.scripted({"judge": ["nope"]})
    suite.unit_test()
    result = suite.pytester.runpytest(
        "--amigo-judge-model", "scripted/judge", "--amigo-judge-retries", "0"
    )
    result.assert_outcomes(errors=1)
    assert len([c for c in suite.calls() if c["model"] == "judge"]) == 1


def test_transient_failures_are_retried_with_backoff(suite: Suite) -> None:
    suite.standard()
    suite.scripted(
        {"judge": [{"raise": "RateLimitError"}, {"raise": "ServiceUnavailableError"}, GOOD]}
    )
    suite.unit_test()
    result = suite.pytester.runpytest(
        "--amigo-judge-model", "scripted/judge", "--amigo-retry-base-delay", "0"
    )
    result.assert_outcomes(passed=1)
    assert len(suite.calls()) == 3


def test_persistent_infrastructure_failure_is_an_error_not_a_failure(suite: Suite) -> None:
    suite.standard()
    suite.scripted({"judge": [{"raise": "ServiceUnavailableError"}]})
    suite.unit_test(runs=2)
    result = suite.pytester.runpytest(
        "--amigo-judge-model",
        "scripted/judge",
        "--amigo-retry-base-delay",
        "0",
        "--amigo-retry-attempts",
        "3",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*model 'scripted/judge' still failing after 3 attempts (infrastructure, not a quality failure)*"
        ]
    )
    assert len(suite.calls()) == 6


def test_non_transient_model_error_is_not_retried(suite: Suite) -> None:
    suite.standard()
    suite.scripted({"judge": [{"raise": "AuthenticationError", "message": "bad key"}]})
    suite.unit_test()
    result = suite.pytester.runpytest("--amigo-judge-model", "scripted/judge")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*model 'scripted/judge' failed: AuthenticationError*"])
    assert len(suite.calls()) == 1


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        (
            "def respond(messages):\n    raise KeyError('boom')\n",
            "run 0: user turn 1: KeyError raised by the agent 'agent:respond': 'boom'",
        ),
        ("def respond(messages):\n    return None\n", "*must return a non-empty string, got None*"),
        (
            "def respond(messages):\n    raise RuntimeError('key sk-live-0123456789abcdefgh')\n",
            "RuntimeError: key sk ***",
        ),
    ],
)
def test_agent_problems_are_errors(suite: Suite, agent: str, message: str) -> None:
    suite.standard()
    suite.write("agent.py", agent)
    suite.unit_test()
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


@pytest.mark.parametrize(
    "agent",
    [
        "def respond(messages):\n    return helper(messages)\n\n"
        "def helper(messages):\n    raise KeyError('boom')\n",
        "async def respond(messages):\n    return helper(messages)\n\n"
        "def helper(messages):\n    raise KeyError('boom')\n",
    ],
    ids=["sync", "async"],
)
def test_an_agent_error_shows_the_agents_traceback_not_the_plugins_frames(
    suite: Suite, agent: str
) -> None:
    """The traceback starts in the agent's module: the plugin's frames that called it are
    noise for the agent's author."""
    suite.standard()
    suite.write("agent.py", agent)
    suite.unit_test()
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "run 0: user turn 1: KeyError raised by the agent 'agent:respond': 'boom'",
            "Traceback (most recent call last):",
            '  File "*agent.py", line 2, in respond',
            '  File "*agent.py", line 5, in helper',
        ]
    )
    assert "pytest_amigo_metrics" not in result.stdout.str()


def test_async_agent_and_not_applicable_allowed(suite: Suite) -> None:
    suite.standard()
    suite.write("agent.py", "async def respond(messages):\n    return 'Noted.'\n")
    suite.unit_test(
        expectations=["{metric: Outcome, expect: resolved, allow_not_applicable: true}"]
    )
    result = suite.pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*Outcome v1 = n/a; expected resolved (or n/a); 1/1 met"])


def test_simulated_user_may_abandon_and_its_invalid_output_is_an_error(suite: Suite) -> None:
    suite.standard()
    hello = json.dumps({"action": "send", "message": "Hello there"})
    suite.scripted({"sim": [hello, json.dumps({"action": "abandoned"})]})
    suite.unit_test(script="null", expectations=["{metric: Identity Verified, expect: true}"])
    suite.pytester.runpytest("--amigo-simulator-model", "scripted/sim").assert_outcomes(passed=1)
    rows = suite.rows("SELECT end_reason, messages FROM conversations")
    assert rows[0]["end_reason"] == "abandoned"
    assert json.loads(rows[0]["messages"])[0]["content"] == "Hello there"

    suite.scripted({"sim": ['{"action": "send"}']})
    result = suite.pytester.runpytest("--amigo-simulator-model", "scripted/sim")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*simulator 'scripted/sim' gave no valid user turn after 3 attempts:",
            "  attempt 1: action 'send' needs a non-empty message",
            '    raw: {"action": "send"}',
        ]
    )


def test_an_invalid_user_turn_says_what_is_wrong_to_the_simulator_and_in_the_error(
    suite: Suite,
) -> None:
    suite.standard()
    suite.scripted({"sim": ['{"action": "fly", "message": "Hi"}']})
    suite.unit_test(script="null", expectations=["{metric: Identity Verified, expect: true}"])
    result = suite.pytester.runpytest("--amigo-simulator-model", "scripted/sim")
    result.assert_outcomes(errors=1)
    reason = "not a user turn (action: Input should be 'send', 'objective_reached' or 'abandoned')"
    result.stdout.fnmatch_lines([f"  attempt 1: {reason}"])
    # The re-ask tells the simulator the same reason, so that it can correct its answer.
    reasked = suite.calls()[1]["messages"][-1]["content"]
    assert reason in reasked
