"""The README's first command: the example suite passes offline on a fresh checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import Suite

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_example_suite_passes_offline(suite: Suite) -> None:
    shutil.copytree(EXAMPLES, suite.path / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    result = suite.pytester.runpytest("examples", "-p", "xdist", "-n", "2", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*password reset, impatient customer  3/3 runs passed*",
            "*Identity Verified v1 = true, true, true; expected true; 3/3 met",
        ]
    )
