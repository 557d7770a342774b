"""Fixtures: a small real suite written into a pytester directory, and a scripted provider."""

from __future__ import annotations

import json
import os
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_amigo_metrics.models.llm import load_litellm

# In-process pytester runs restore sys.modules afterwards; importing litellm here, once, keeps
# it (and what it imports) out of that churn.
load_litellm()

METRICS = """
metrics:
  - name: Empathy Score
    description: Did the agent apologise, acknowledge the frustration and reassure?
    metric_value: {type: numerical, lower_bound: 1, upper_bound: 10}
  - name: Outcome
    description: Classify how the conversation ended.
    metric_value: {type: categorical, categories: [resolved, escalated, abandoned]}
  - name: Identity Verified
    description: Did the agent verify identity before account changes?
    metric_value: {type: boolean}
"""

AGENT = """
def respond(messages):
    last = messages[-1]["content"].lower()
    if "cold" in last:
        return "Fine. Done."
    return ("I apologise and acknowledge the frustration; let me reassure you. "
            "To verify your identity before account changes I sent a code. This is resolved.")
"""

TEST_TEMPLATE = """
simulation_unit_tests:
  - name: {name}
    persona: {{name: Sam, background: A busy customer.}}
    scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
    script: {script}
    target: {{python: "{agent}"}}
    runs: {runs}
    metrics:
{metrics}
"""

# Conftest for a pytester directory: `scripted/<name>` models answer from answers.json there
# (see pytest_amigo_metrics.testing.scripted); every call is appended to calls.json.
SCRIPTED_CONFTEST = """
import pathlib
from pytest_amigo_metrics.testing.scripted import use_script

use_script(pathlib.Path(__file__).parent)
"""


# The two metrics most tests judge: a numerical one and a categorical one.
EMPATHY_AND_OUTCOME = [
    '{metric: Empathy Score, expect: ">= 7"}',
    "{metric: Outcome, expect: resolved}",
]


def expectation_lines(expectations: list[str]) -> str:
    return "\n".join(f"      - {e}" for e in expectations)


class Suite:
    """Writes suite files into a pytester directory and reads its store."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path = Path(pytester.path)

    def write(self, name: str, text: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip())
        return target

    def standard(self) -> None:
        self.write("metrics.amigo.yaml", METRICS)
        self.write("agent.py", AGENT)

    def unit_test(
        self,
        file: str = "tests.amigo.yaml",
        name: str = "password reset",
        expectations: list[str] | None = None,
        script: str = '["I forgot my password.", "Thanks."]',
        runs: int = 1,
        extra: str = "",
        agent: str = "agent:respond",
    ) -> Path:
        expectations = expectations or ['{metric: Empathy Score, expect: ">= 7"}']
        text = TEST_TEMPLATE.format(
            name=name,
            script=script,
            runs=runs,
            metrics=expectation_lines(expectations),
            agent=agent,
        )
        return self.write(file, text + textwrap.indent(textwrap.dedent(extra), "    "))

    def scripted(self, answers: dict[str, list[Any]]) -> None:
        self.write("conftest.py", SCRIPTED_CONFTEST)
        self.write("answers.json", json.dumps(answers))

    def calls(self) -> list[dict[str, Any]]:
        path = self.path / "calls.json"
        return json.loads(path.read_text()) if path.exists() else []

    @property
    def store(self) -> Path:
        return self.path / ".amigo-metrics" / "results.sqlite3"

    def assert_store_intact(self) -> None:
        """SQLite's own check of every page and index of the store."""
        db = sqlite3.connect(self.store)
        try:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            db.close()

    def rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        db = sqlite3.connect(self.store)
        db.row_factory = sqlite3.Row
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Suite:
    return Suite(pytester)


@pytest.fixture(autouse=True)
def _inner_runs_as_a_user_starts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pytest runs the tests start (pytester's, subprocesses) are a user's plain runs.

    - They are not workers of this session's xdist: under `-n 2` each worker's environment says
      it is one (PYTEST_XDIST_WORKER...), and other plugins read that (pytest-benchmark warns on
      stderr that it is disabled).
    - They never use hypothesis, whose plugin (installed with the dev extra) imports hypothesis
      at every session's end: 1-2 s of CPU per subprocess run, and part of what a Ctrl-C test
      would time."""
    for name in list(os.environ):
        if name.startswith("PYTEST_XDIST_"):
            monkeypatch.delenv(name)
    given = os.environ.get("PYTEST_ADDOPTS", "")
    monkeypatch.setenv("PYTEST_ADDOPTS", f"{given} -p no:hypothesispytest".strip())


# An agent that hangs in its first turn, after it leaves a `started` file beside itself.
HANGING_AGENT = """
import pathlib, time

def respond(messages):
    pathlib.Path(__file__).with_name("started").touch()
    time.sleep(600)
    return "never"
"""
