"""Collection's check of a suite file's Python targets: each one imports, or the file is an
error that names the declaration's line and field."""

from __future__ import annotations

from pathlib import Path

from ..errors import AgentError, SpecProblem
from ..redact import redact
from ..suite.loader import LoadedSuite
from ..suite.spec import UnitTest
from .python_callable import import_callable, signature_problem

FIX = (
    "fix the module so that it imports, or point `python:` at the right 'module:function' "
    "(modules are found beside the suite file, in the rootdir and on sys.path)"
)
SIGNATURE_FIX = (
    "make it take one argument, the conversation so far: `def respond(messages) -> str` "
    "(or `async def`)"
)


def python_target_problems(suite: LoadedSuite, rootpath: Path) -> list[SpecProblem]:
    """Python targets that cannot be imported, once per declaration, at its line."""
    problems: list[SpecProblem] = []
    for test in distinct_python_targets(suite.tests):
        ref = test.target.python
        assert ref is not None
        where = test.target_declared
        field = f"{where.field}.python"
        try:
            function = import_callable(ref, [suite.path.parent, rootpath])
        except AgentError as exc:
            problems.append(SpecProblem(suite.path, where.line, field, redact(str(exc)), FIX))
            continue
        problem = signature_problem(ref, function)
        if problem is not None:
            problems.append(
                SpecProblem(suite.path, where.line, field, redact(problem), SIGNATURE_FIX)
            )
    return problems


def distinct_python_targets(tests: list[UnitTest]) -> list[UnitTest]:
    """One test per place a python target is declared (a `defaults:` target serves many)."""
    seen: dict[tuple[str, int], UnitTest] = {}
    for test in tests:
        if test.target.python is not None:
            seen.setdefault((test.target.python, test.target_declared.line), test)
    return list(seen.values())
