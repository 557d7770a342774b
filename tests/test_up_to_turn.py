"""`up_to_turn`: a metric judged on the start of the conversation only."""

from __future__ import annotations

import json

from conftest import METRICS, Suite

SLOW_AGENT = """
def respond(messages):
    turns = sum(1 for m in messages if m["role"] == "user")
    if turns == 1:
        return "Let me look into that."
    return "To verify identity before account changes, I sent you a code."
"""
TEST = """
simulation_unit_tests:
  - name: verifies late
    persona: {name: Sam, background: A busy customer.}
    scenario: {name: Reset, objective: Reset my password., instructions: Be brief.}
    script: ["I forgot my password.", "Still locked out."]
    target: {python: "slow:respond"}
    metrics:
      - {metric: Identity Verified, expect: true, up_to_turn: TURN}
"""


def write(suite: Suite, turn: int) -> None:
    suite.write("metrics.amigo.yaml", METRICS)
    suite.write("slow.py", SLOW_AGENT)
    suite.write("t.amigo.yaml", TEST.replace("TURN", str(turn)))


def test_judged_on_the_first_turn_only_the_late_verification_does_not_count(suite: Suite) -> None:
    write(suite, 1)
    result = suite.pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*FAIL Identity Verified v1 = false; expected true by user turn 1*"]
    )
    (result_row,) = suite.rows("SELECT source FROM evaluation_results")
    (conversation,) = suite.rows("SELECT messages FROM conversations")
    messages = json.loads(conversation["messages"])
    first = {m["id"] for m in messages if m["interaction_id"] == messages[0]["interaction_id"]}
    assert set(json.loads(result_row["source"])["references"]) <= first  # turn 2 unseen
    assert len(messages) == 4  # the whole conversation is still stored


def test_judged_up_to_the_second_turn_it_counts(suite: Suite) -> None:
    write(suite, 2)
    suite.pytester.runpytest().assert_outcomes(passed=1)


def test_a_turn_beyond_the_conversation_is_a_collection_error(suite: Suite) -> None:
    write(suite, 3)
    result = suite.pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "*t.amigo.yaml:8: simulation_unit_tests?'verifies late'?.metrics?0?.up_to_turn: "
            "turn 3 never comes: the test has at most 2 user turns",
            "*fix: use an up_to_turn from 1 to 2*",
        ]
    )
