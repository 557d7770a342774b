"""Warnings about files that look like suite files but give pytest nothing to collect."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from .discovery import matches


class SuiteFileWarning(UserWarning):
    """A file that looks like a suite file was ignored, or a suite file holds nothing."""


def near_miss(name: str, patterns: list[str]) -> bool:
    """A name that would match the suite file pattern but for its case, a `.yml` extension,
    or `_amigo`/`-amigo` written for `.amigo`."""
    fixed = re.sub(r"\.yml$", ".yaml", name.lower())
    fixed = re.sub(r"[_-]amigo\.(yaml)$", r".amigo.\1", fixed)
    return fixed != name and matches(fixed, [p.lower() for p in patterns])


def warn_near_miss(path: Path, patterns: list[str]) -> None:
    shown = ", ".join(patterns)
    warnings.warn_explicit(
        f"{path.name} looks like a suite file but was not collected: its name does not match "
        f"amigo_file_pattern ({shown}). Rename it to match, or add a pattern for it to the "
        "amigo_file_pattern ini option.",
        SuiteFileWarning,
        filename=str(path),
        lineno=1,
    )


def warn_empty(path: Path) -> None:
    warnings.warn_explicit(
        f"{path.name} holds no metrics and no simulation_unit_tests: nothing was collected "
        "from it. Add `metrics:` or `simulation_unit_tests:`, or delete the file.",
        SuiteFileWarning,
        filename=str(path),
        lineno=1,
    )
