"""Error types. Three outcomes stay distinct: bad input, quality failure, infrastructure error."""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass
from pathlib import Path

_BOUNDED = reprlib.Repr()
_BOUNDED.maxstring = _BOUNDED.maxother = 50
_BOUNDED.maxlevel = 3


def bounded_repr(value: object) -> str:
    """A repr of at most about 60 characters, never built whole: values from YAML may be huge
    or deeply nested."""
    text = _BOUNDED.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with its control characters but newline and tab escaped (`\\x1b`): a model's
    answer may hold terminal escape sequences or NULs, which must not reach a terminal raw."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found[0]):02x}", text)


def shown_path(path: Path, root: Path | None) -> Path:
    """The path relative to the rootdir when it lies below it, as pytest shows node ids."""
    return path.relative_to(root) if root is not None and path.is_relative_to(root) else path


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a YAML suite file, located by line and field path."""

    path: Path
    line: int
    field: str
    message: str
    hint: str = ""

    def format(self, root: Path | None = None) -> str:
        where = f"{shown_path(self.path, root)}:{self.line}"
        head = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        return f"{head}\n    fix: {self.hint}" if self.hint else head


class SpecError(Exception):
    """Invalid suite file: one or more located problems.

    `metric_names`: the names of the metrics the file tries to declare, so that tests using
    them elsewhere are not reported again; None when the file could not be read at all."""

    def __init__(
        self, problems: list[SpecProblem], metric_names: tuple[str, ...] | None = ()
    ) -> None:
        super().__init__("\n".join(p.format() for p in problems))
        self.problems = problems
        self.metric_names = metric_names

    def format(self, root: Path | None = None) -> str:
        return "\n".join(p.format(root) for p in self.problems)


class AmigoRunError(Exception):
    """A test item could not produce a verdict: it ends in error, not failure."""


class ModelCallError(AmigoRunError):
    """A model call failed for good (after retries for transient failures)."""


class JudgeOutputError(AmigoRunError):
    """The judge kept answering with output that does not fit the metric."""


class AgentError(AmigoRunError):
    """The agent under test raised or returned something that is not a reply."""
